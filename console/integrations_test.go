package console_test

import (
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/console"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/sink"
	"github.com/hoist-jit/hoist/sqlite"
	"github.com/hoist-jit/hoist/testenv"
)

// newIntegrationSite is newSite with a service that delivers through the
// real sinks.
func newIntegrationSite(t *testing.T) *site {
	t.Helper()
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clk := testenv.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	svc, err := control.New(control.Config{Store: store, Settings: hoist.DefaultApprovalSettings(), Clock: clk.Now,
		Sink: sink.New(sink.Config{ConsoleURL: "https://hoist.example", Clock: clk.Now}), SecretKey: []byte("0123456789abcdef0123456789abcdef")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Bootstrap(ctx, password); err != nil {
		t.Fatal(err)
	}
	admin := control.Actor{Name: "admin", Role: hoist.RoleAdmin}
	if _, err := svc.CreateAdmin(ctx, admin, control.AdminInput{Name: "carol", Role: hoist.RoleApprover, Password: "password-of-carol"}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(console.New(console.Config{Service: svc, Clock: clk.Now, IdleTimeout: 30 * time.Minute}))
	t.Cleanup(srv.Close)
	return &site{t: t, srv: srv, svc: svc, clock: clk, admin: admin, store: store}
}

// TestIntegrationsPage: an admin adds a webhook, sends a test, sees a
// refused form keep what was typed but the secret, sees dead letters and
// retries them; an approver does not get the page.
func TestIntegrationsPage(t *testing.T) {
	s := newIntegrationSite(t)
	var (
		mu   sync.Mutex
		down = true
		got  []string
	)
	rc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if down && r.Header.Get("X-Hoist-Event") != hoist.EventTest {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		got = append(got, r.Header.Get("X-Hoist-Event"))
	}))
	t.Cleanup(rc.Close)
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rc.Certificate().Raw}))

	v := s.visitor()
	v.signIn("admin", password)
	csrf := v.csrf()
	_, body := v.post("/integrations/new", url.Values{"csrf": {csrf}, "name": {"ops"}, "kind": {"webhook"}, "url": {"http://hooks.example/x"}, "secret": {"hunter2-secret"}})
	if !strings.Contains(body, "Nothing was added") || !strings.Contains(body, "--allow-http") || !strings.Contains(body, `value="ops"`) || strings.Contains(body, "hunter2") {
		t.Fatalf("a refused integration:\n%s", body)
	}
	res, _ := v.post("/integrations/new", url.Values{"csrf": {csrf}, "name": {"ops"}, "kind": {"webhook"}, "url": {rc.URL}, "secret": {"hunter2-secret"},
		"ca": {ca}, "events": {"request.created"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("add: %d", res.StatusCode)
	}
	_, page := v.get("/integrations")
	if !strings.Contains(page, `data-integration="ops"`) || strings.Contains(page, "hunter2") {
		t.Fatalf("the page after add:\n%s", page)
	}
	res, _ = v.post("/integrations/ops/test", url.Values{"csrf": {csrf}})
	if _, body := v.get(res.Header.Get("Location")); !strings.Contains(body, "The test reached ops") {
		t.Fatalf("send test:\n%s", body)
	}

	if _, _, err := s.svc.CreateRequest(ctx, control.RequestInput{User: "alice", Host: "ws-01", Reason: "driver", Duration: time.Hour}); err != nil {
		t.Fatal(err)
	}
	for range hoist.MaxAttempts + 1 {
		_, _ = s.svc.Deliver(ctx)
		s.clock.Add(11 * time.Minute)
	}
	v.signIn("admin", password) // two hours passed: the idle login ended
	csrf = v.csrf()
	_, page = v.get("/integrations")
	if !strings.Contains(page, "Dead letters of ops") || !strings.Contains(page, "503 Service Unavailable") {
		t.Fatalf("no dead letters shown:\n%s", page)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	res, _ = v.post("/integrations/ops/retry", url.Values{"csrf": {csrf}})
	if _, body := v.get(res.Header.Get("Location")); !strings.Contains(body, "Queued 1 dead letters of ops again") {
		t.Fatalf("retry:\n%s", body)
	}
	if _, err := s.svc.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	if strings.Join(got, ",") != "integration.test,request.created" {
		t.Errorf("the receiver got %v", got)
	}
	mu.Unlock()

	approver := s.visitor()
	approver.signIn("carol", "password-of-carol")
	if res, _ := approver.get("/integrations"); res.StatusCode != http.StatusForbidden {
		t.Errorf("an approver opened the integrations page: %d", res.StatusCode)
	}
	v.post("/integrations/ops/delete", url.Values{"csrf": {csrf}})
	if _, page := v.get("/integrations"); !strings.Contains(page, `id="no-integrations"`) {
		t.Errorf("after remove:\n%s", page)
	}
}
