package control_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/sink"
	"github.com/hoist-jit/hoist/testenv"
)

// receiver is a webhook receiver on loopback over HTTPS that checks each
// delivery's signature, as a user's receiver would, and records what it
// accepted.
type receiver struct {
	srv    *httptest.Server
	secret string
	mu     sync.Mutex
	down   bool
	tries  map[string]int // attempts per delivery id
	got    []received     // accepted, in order
	badSig int
}

type received struct {
	ID, Event string
	Data      map[string]any
}

func newReceiver(t *testing.T, secret string) *receiver {
	rc := &receiver{secret: secret, tries: map[string]int{}}
	rc.srv = httptest.NewTLSServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	id := r.Header.Get("X-Hoist-Delivery")
	rc.tries[id]++
	if rc.down {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	ts, sig, _ := strings.Cut(strings.TrimPrefix(r.Header.Get("X-Hoist-Signature"), "t="), ",v1=")
	mac := hmac.New(sha256.New, []byte(rc.secret))
	mac.Write([]byte(ts + "."))
	mac.Write(body)
	if _, err := strconv.ParseInt(ts, 10, 64); err != nil || !hmac.Equal([]byte(sig), []byte(hex.EncodeToString(mac.Sum(nil)))) {
		rc.badSig++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var env struct {
		ID    string         `json:"id"`
		Event string         `json:"event"`
		At    string         `json:"at"`
		Data  map[string]any `json:"data"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.ID != id || env.Event != r.Header.Get("X-Hoist-Event") {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	if _, err := time.Parse(time.RFC3339, env.At); err != nil {
		http.Error(w, "bad at", http.StatusBadRequest)
		return
	}
	rc.got = append(rc.got, received{ID: env.ID, Event: env.Event, Data: env.Data})
}

func (rc *receiver) setDown(down bool) { rc.mu.Lock(); rc.down = down; rc.mu.Unlock() }

func (rc *receiver) accepted() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]received(nil), rc.got...)
}

func (rc *receiver) caPEM() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rc.srv.Certificate().Raw}))
}

var integrationKey = []byte("0123456789abcdef0123456789abcdef")

// newDeliveryService is a Service on store that delivers through the real
// sinks, on clk.
func newDeliveryService(t *testing.T, store hoist.Store, clk *testenv.Clock) *control.Service {
	t.Helper()
	svc, err := control.New(control.Config{Store: store, Settings: hoist.DefaultApprovalSettings(), Clock: clk.Now,
		Sink: sink.New(sink.Config{ConsoleURL: "https://hoist.example", Clock: clk.Now}), SecretKey: integrationKey,
		SelfURLs: []string{"https://hoist.example:8443"}, Jitter: func() float64 { return 0.5 }})
	if err != nil {
		t.Fatal(err)
	}
	return svc
}

func bootstrap(t *testing.T, svc *control.Service) control.Actor {
	t.Helper()
	if _, err := svc.Bootstrap(ctx, "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	token, _, _, err := svc.Login(ctx, "admin", "correct horse battery staple", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	a, err := svc.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func addWebhook(t *testing.T, svc *control.Service, a control.Actor, rc *receiver, name string, events ...string) control.IntegrationView {
	t.Helper()
	v, err := svc.AddIntegration(ctx, a, control.IntegrationInput{Name: name, Kind: hoist.SinkWebhook, Events: events,
		Config: hoist.SinkConfig{URL: rc.srv.URL + "/hook", Secret: rc.secret, CA: rc.caPEM()}})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func deliverAll(t *testing.T, svc *control.Service) {
	t.Helper()
	if _, err := svc.Deliver(ctx); err != nil {
		t.Fatalf("deliver: %v", err)
	}
}

// TestWebhookOutageThenEveryEventOnceInOrder: a receiver that is down for
// a while gets, once it is back, every event once and in order, each under
// the delivery id its failed attempts carried; the sink's breaker opened
// meanwhile, which other sinks hear of as integration.failed.
func TestWebhookOutageThenEveryEventOnceInOrder(t *testing.T) {
	eachStore(t, func(t *testing.T, store hoist.Store) {
		clk := testenv.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
		svc := newDeliveryService(t, store, clk)
		admin := bootstrap(t, svc)
		rc := newReceiver(t, "s3cret-of-the-hook")
		watch := newReceiver(t, "watcher")
		addWebhook(t, svc, admin, rc, "ops", hoist.EventRequestCreated, hoist.EventRequestDenied)
		addWebhook(t, svc, admin, watch, "watch", hoist.EventIntegrationFail)

		rc.setDown(true)
		var ids []string
		for _, u := range []string{"alice", "bob", "carl"} {
			r, _, err := svc.CreateRequest(ctx, control.RequestInput{User: u, Host: "web-1", Reason: "fix the printer", Duration: 45 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, r.ID)
		}
		res, err := svc.Deny(ctx, admin, []string{ids[1]}, "not today")
		if err != nil || !res[0].OK {
			t.Fatalf("deny: %v %+v", err, res)
		}
		for range 8 { // a minute and a half of outage, retried with backoff
			deliverAll(t, svc)
			clk.Add(15 * time.Second)
		}
		if got := rc.accepted(); len(got) != 0 {
			t.Fatalf("accepted while down: %+v", got)
		}
		views, err := svc.Integrations(ctx, admin)
		if err != nil {
			t.Fatal(err)
		}
		if views[0].Name != "ops" || views[0].Failing < hoist.BreakerThreshold || views[0].Pending != 4 || views[0].LastError == "" {
			t.Fatalf("ls while down: got %+v, want ops failing with 4 pending", views[0])
		}
		if w := watch.accepted(); len(w) != 1 || w[0].Event != hoist.EventIntegrationFail || w[0].Data["name"] != "ops" {
			t.Fatalf("the watcher: got %+v, want one integration.failed about ops", w)
		}

		rc.setDown(false)
		testenv.WaitUntil(t, "every event delivered after the outage", func() bool {
			clk.Add(2 * time.Minute)
			deliverAll(t, svc)
			return len(rc.accepted()) >= 4
		})
		clk.Add(time.Hour)
		deliverAll(t, svc) // nothing more
		got := rc.accepted()
		want := []struct{ event, req string }{{"request.created", ids[0]}, {"request.created", ids[1]}, {"request.created", ids[2]}, {"request.denied", ids[1]}}
		if len(got) != len(want) {
			t.Fatalf("accepted %d deliveries, want %d: %+v", len(got), len(want), got)
		}
		for i, w := range want {
			if got[i].Event != w.event || got[i].Data["request_id"] != w.req {
				t.Errorf("delivery %d: got %s of %v, want %s of %s", i, got[i].Event, got[i].Data["request_id"], w.event, w.req)
			}
		}
		if got[0].Data["user"] != "alice" || got[0].Data["host"] != "web-1" || got[0].Data["reason"] != "fix the printer" || got[0].Data["requested_duration"] != "45m" {
			t.Errorf("request.created data: got %v", got[0].Data)
		}
		if got[3].Data["decided_by"] != "admin" {
			t.Errorf("request.denied data: got %v, want decided_by admin", got[3].Data)
		}
		rc.mu.Lock()
		if rc.tries[got[0].ID] < 2 || rc.badSig != 0 {
			t.Errorf("first delivery tried %d times under its id (want the failed attempts too), %d bad signatures", rc.tries[got[0].ID], rc.badSig)
		}
		rc.mu.Unlock()
		views, _ = svc.Integrations(ctx, admin)
		if views[0].Failing != 0 || views[0].Pending != 0 || views[0].Delivered != 4 || views[0].BreakerOpen {
			t.Fatalf("ls after: got %+v, want nothing failing or pending", views[0])
		}
	})
}

// TestDeadLettersRetried: a delivery that keeps failing becomes a dead
// letter, the sink moves on, and a retry delivers it under the same id.
func TestDeadLettersRetried(t *testing.T) {
	clk := testenv.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	f := newFixture(t)
	svc := newDeliveryService(t, f.store, clk)
	admin := f.admin
	rc := newReceiver(t, "k")
	addWebhook(t, svc, admin, rc, "ops", hoist.EventRequestCreated)
	rc.setDown(true)
	r := f.request(t, "alice", "web-1")
	for range hoist.MaxAttempts + 2 {
		deliverAll(t, svc)
		clk.Add(11 * time.Minute)
	}
	dead, err := svc.DeadLetters(ctx, admin, "ops")
	if err != nil || len(dead) != 1 || dead[0].Event.Subject != r.ID || dead[0].Attempts != hoist.MaxAttempts {
		t.Fatalf("dead letters: got %+v, %v; want the request's one after %d attempts", dead, err, hoist.MaxAttempts)
	}
	views, _ := svc.Integrations(ctx, admin)
	if views[0].Dead != 1 || views[0].Pending != 0 {
		t.Fatalf("ls: got %+v, want 1 dead", views[0])
	}
	rc.setDown(false)
	n, err := svc.RetryDeadLetters(ctx, admin, "ops", nil)
	if err != nil || n != 1 {
		t.Fatalf("retry: %d, %v", n, err)
	}
	deliverAll(t, svc)
	got := rc.accepted()
	if len(got) != 1 || got[0].ID != dead[0].ID {
		t.Fatalf("after retry: got %+v, want the dead letter %s", got, dead[0].ID)
	}
	if _, err := svc.RetryDeadLetters(ctx, f.approver, "ops", nil); hoist.ErrorCode(err) != hoist.EForbidden {
		t.Fatalf("an approver retrying: got %v, want forbidden", err)
	}
}

// TestTwoServersDeliverOnce: two servers on one database, delivering at
// once, hand every event to the receiver once.
func TestTwoServersDeliverOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, store hoist.Store) {
		clk := testenv.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
		a, b := newDeliveryService(t, store, clk), newDeliveryService(t, store, clk)
		admin := bootstrap(t, a)
		rc := newReceiver(t, "k")
		addWebhook(t, a, admin, rc, "ops")
		const n = 12
		for i := range n {
			if _, _, err := a.CreateRequest(ctx, control.RequestInput{User: "u" + strconv.Itoa(i), Host: "web-1", Reason: "x", Duration: time.Hour}); err != nil {
				t.Fatal(err)
			}
		}
		testenv.WaitUntil(t, "every event delivered by one of two servers", func() bool {
			var wg sync.WaitGroup
			for _, svc := range []*control.Service{a, b} {
				wg.Add(1)
				go func() { defer wg.Done(); _, _ = svc.Deliver(ctx) }()
			}
			wg.Wait()
			return len(rc.accepted()) >= n
		})
		seen := map[string]bool{}
		for _, g := range rc.accepted() {
			if seen[g.ID] {
				t.Errorf("delivery %s accepted twice", g.ID)
			}
			seen[g.ID] = true
		}
		if len(rc.accepted()) != n {
			t.Fatalf("accepted %d, want %d", len(rc.accepted()), n)
		}
	})
}

// TestBadIntegrationChangesNothing: each bad configuration is refused with
// EInvalid naming the field, and nothing is stored or audited.
func TestBadIntegrationChangesNothing(t *testing.T) {
	clk := testenv.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	f := newFixture(t)
	svc := newDeliveryService(t, f.store, clk)
	hook := func(mut func(*control.IntegrationInput)) control.IntegrationInput {
		in := control.IntegrationInput{Name: "ops", Kind: hoist.SinkWebhook, Config: hoist.SinkConfig{URL: "https://hooks.example/x", Secret: "k"}}
		mut(&in)
		return in
	}
	cases := []struct {
		name, field string
		in          control.IntegrationInput
	}{
		{"plain http", "url", hook(func(in *control.IntegrationInput) { in.Config.URL = "http://hooks.example/x" })},
		{"no secret", "secret", hook(func(in *control.IntegrationInput) { in.Config.Secret = "" })},
		{"own API", "url", hook(func(in *control.IntegrationInput) { in.Config.URL = "https://hoist.example:8443/api/v1/admins" })},
		{"own API on loopback", "url", hook(func(in *control.IntegrationInput) { in.Config.URL = "https://127.0.0.1:8443/api/v1/admins" })},
		{"unknown event", "events", hook(func(in *control.IntegrationInput) { in.Events = []string{"request.exploded"} })},
		{"bad CA", "ca", hook(func(in *control.IntegrationInput) { in.Config.CA = "not a certificate" })},
		{"unknown group", "group", hook(func(in *control.IntegrationInput) { in.Group = "nowhere" })},
		{"bad name", "name", hook(func(in *control.IntegrationInput) { in.Name = "a b" })},
		{"unknown kind", "kind", hook(func(in *control.IntegrationInput) { in.Kind = "pager" })},
		{"syslog scheme", "address", control.IntegrationInput{Name: "siem", Kind: hoist.SinkSyslog, Config: hoist.SinkConfig{Address: "ftp://siem:514"}}},
		{"smtp password in the clear", "security", control.IntegrationInput{Name: "mail", Kind: hoist.SinkSMTP, Config: hoist.SinkConfig{
			Server: "mail.example:25", Security: "plain", Username: "u", Secret: "p", From: "hoist@example.org", To: []string{"ops@example.org"}}}},
		{"smtp bad to", "to", control.IntegrationInput{Name: "mail", Kind: hoist.SinkSMTP, Config: hoist.SinkConfig{
			Server: "mail.example:465", Security: "tls", From: "hoist@example.org", To: []string{"ops@example.org\r\nBcc: x@y"}}}},
	}
	head := func() int64 {
		var seq int64
		_ = f.store.View(ctx, func(tx hoist.Tx) (err error) { seq, _, err = tx.AuditHead(ctx); return err })
		return seq
	}
	before := head()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.AddIntegration(ctx, f.admin, tc.in)
			if hoist.ErrorCode(err) != hoist.EInvalid || !strings.HasPrefix(hoist.ErrorMessage(err), tc.field+":") {
				t.Fatalf("got %v (%s), want invalid naming %s", err, hoist.ErrorCode(err), tc.field)
			}
		})
	}
	if views, _ := svc.Integrations(ctx, f.admin); len(views) != 0 || head() != before {
		t.Fatalf("after refusals: %d integrations, audit head %d (was %d); want nothing changed", len(views), head(), before)
	}
	if _, err := svc.AddIntegration(ctx, f.approver, hook(func(*control.IntegrationInput) {})); hoist.ErrorCode(err) != hoist.EForbidden {
		t.Fatalf("an approver adding: got %v, want forbidden", err)
	}
}

// TestIntegrationSecretsNeverShown: the secret is sealed in the store and
// absent from every view; a chat webhook URL shows only its host.
func TestIntegrationSecretsNeverShown(t *testing.T) {
	clk := testenv.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	f := newFixture(t)
	svc := newDeliveryService(t, f.store, clk)
	if _, err := svc.AddIntegration(ctx, f.admin, control.IntegrationInput{Name: "ops", Kind: hoist.SinkWebhook,
		Config: hoist.SinkConfig{URL: "https://hooks.example/x", Secret: "hunter2-secret"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AddIntegration(ctx, f.admin, control.IntegrationInput{Name: "chat", Kind: hoist.SinkSlack,
		Config: hoist.SinkConfig{URL: "https://hooks.slack.example/services/T0/B0/SECRETPATH"}}); err != nil {
		t.Fatal(err)
	}
	views, err := svc.Integrations(ctx, f.admin)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(views)
	if strings.Contains(string(raw), "hunter2") || strings.Contains(string(raw), "SECRETPATH") {
		t.Fatalf("a view shows a secret: %s", raw)
	}
	var stored hoist.Integration
	_ = f.store.View(ctx, func(tx hoist.Tx) (err error) { stored, err = tx.Integration(ctx, "ops"); return err })
	if !strings.HasPrefix(stored.Config.Secret, "sealed:v1:") || strings.Contains(stored.Config.Secret, "hunter2") {
		t.Fatalf("stored secret: %q, want it sealed", stored.Config.Secret)
	}
	var rec []string
	_ = f.store.View(ctx, func(tx hoist.Tx) error {
		return tx.Audit(ctx, hoist.AuditFilter{}, func(r hoist.AuditRecord) error { rec = append(rec, string(r.Detail)); return nil })
	})
	if s := strings.Join(rec, "\n"); strings.Contains(s, "hunter2") || strings.Contains(s, "SECRETPATH") {
		t.Fatalf("the audit log holds a secret: %s", s)
	}
}

// TestApprovalReminder: approvers are reminded once of a request still
// waiting after the reminder time, and not of one decided.
func TestApprovalReminder(t *testing.T) {
	clk := testenv.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	f := newFixture(t)
	svc := newDeliveryService(t, f.store, clk)
	rc := newReceiver(t, "k")
	addWebhook(t, svc, f.admin, rc, "ops", hoist.EventApprovalReminder)
	waiting := f.request(t, "alice", "web-1")
	decided := f.request(t, "bob", "web-2")
	if _, err := svc.Deny(ctx, f.admin, []string{decided.ID}, "no"); err != nil {
		t.Fatal(err)
	}
	deliverAll(t, svc)
	clk.Add(control.DefaultReminderAfter + time.Second)
	deliverAll(t, svc)
	clk.Add(time.Minute)
	deliverAll(t, svc)
	got := rc.accepted()
	if len(got) != 1 || got[0].Event != hoist.EventApprovalReminder || got[0].Data["request_id"] != waiting.ID {
		t.Fatalf("got %+v, want one reminder of %s", got, waiting.ID)
	}
}

// TestOutboxPruned: once every sink has an event and its delivery is a
// week old, the outbox lets it go; a dead letter keeps its event.
func TestOutboxPruned(t *testing.T) {
	clk := testenv.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	f := newFixture(t)
	svc := newDeliveryService(t, f.store, clk)
	rc := newReceiver(t, "k")
	addWebhook(t, svc, f.admin, rc, "ops", hoist.EventRequestCreated)
	first := f.request(t, "alice", "web-1")
	deliverAll(t, svc)
	if len(rc.accepted()) != 1 {
		t.Fatalf("accepted %d, want 1", len(rc.accepted()))
	}
	events := func() []hoist.IntegrationEvent {
		var evs []hoist.IntegrationEvent
		_ = f.store.View(ctx, func(tx hoist.Tx) (err error) { evs, err = tx.IntegrationEvents(ctx, 0, 1000); return err })
		return evs
	}
	clk.Add(control.KeepDelivered + time.Hour)
	deliverAll(t, svc)
	for _, ev := range events() {
		if ev.Subject == first.ID && ev.Type == hoist.EventRequestCreated {
			t.Fatalf("the delivered event of %s is still in the outbox a week later", first.ID)
		}
	}
	views, _ := svc.Integrations(ctx, f.admin)
	if views[0].Delivered != 0 || views[0].Pending != 0 {
		t.Fatalf("ls after pruning: %+v", views[0])
	}
}
