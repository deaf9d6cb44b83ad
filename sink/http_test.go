package sink_test

import (
	"bytes"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
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
)

// collector is a local HTTPS receiver that keeps every request it got.
type collector struct {
	srv  *httptest.Server
	mu   sync.Mutex
	reqs []got
}

type got struct {
	Path   string
	Header http.Header
	Body   []byte
}

func newCollector(t *testing.T) *collector {
	c := &collector{}
	c.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.reqs = append(c.reqs, got{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true,"text":"Success","code":0}`))
	}))
	t.Cleanup(c.srv.Close)
	return c
}

func (c *collector) all() []got {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]got(nil), c.reqs...)
}

func (c *collector) ca() string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.srv.Certificate().Raw}))
}

func mustAdd(t *testing.T, f *fixture, in control.IntegrationInput) {
	t.Helper()
	if _, err := f.svc.AddIntegration(ctx, f.admin, in); err != nil {
		t.Fatal(err)
	}
}

// TestHECBatchesTheAuditLog: the HTTP event collector sink posts audit
// records as HEC events with the token, in audit order, and resumes after
// the last batch accepted.
func TestHECBatchesTheAuditLog(t *testing.T) {
	f := newFixture(t)
	c := newCollector(t)
	mustAdd(t, f, control.IntegrationInput{Name: "splunk", Kind: hoist.SinkHEC,
		Config: hoist.SinkConfig{URL: c.srv.URL + "/services/collector/event", Secret: "hec-token-1", CA: c.ca()}})
	f.requests(t, 2)
	if _, err := f.svc.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	f.requests(t, 1)
	if _, err := f.svc.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	reqs := c.all()
	if len(reqs) != 2 {
		t.Fatalf("got %d posts, want 2 batches", len(reqs))
	}
	var seqs []int64
	for _, r := range reqs {
		if r.Header.Get("Authorization") != "Splunk hec-token-1" || r.Path != "/services/collector/event" {
			t.Fatalf("post: %s with Authorization %q", r.Path, r.Header.Get("Authorization"))
		}
		dec := json.NewDecoder(bytes.NewReader(r.Body))
		for dec.More() {
			var ev struct {
				Time       float64           `json:"time"`
				Sourcetype string            `json:"sourcetype"`
				Event      hoist.AuditRecord `json:"event"`
			}
			if err := dec.Decode(&ev); err != nil {
				t.Fatalf("not HEC JSON: %v\n%s", err, r.Body)
			}
			if ev.Time == 0 || ev.Sourcetype != "hoist:audit" || ev.Event.Hash == "" {
				t.Fatalf("HEC event: %+v", ev)
			}
			seqs = append(seqs, ev.Event.Seq)
		}
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] != seqs[i-1]+1 {
			t.Fatalf("sequences %v: want consecutive, no duplicate", seqs)
		}
	}
	if seqs[len(seqs)-1] != auditHead(t, f.store) {
		t.Fatalf("sequences %v end before the head %d", seqs, auditHead(t, f.store))
	}
}

// TestTeamsAdaptiveCard: a Teams sink gets an Adaptive Card with the
// request's facts and a link to its console page, never a decision link.
func TestTeamsAdaptiveCard(t *testing.T) {
	f := newFixture(t)
	c := newCollector(t)
	mustAdd(t, f, control.IntegrationInput{Name: "teams", Kind: hoist.SinkTeams,
		Config: hoist.SinkConfig{URL: c.srv.URL + "/workflows/abc", CA: c.ca()}})
	r, _, err := f.svc.CreateRequest(ctx, control.RequestInput{User: "alice", Host: "web-1", Reason: "fix the <printer>", Duration: 45 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	reqs := c.all()
	if len(reqs) != 1 {
		t.Fatalf("got %d posts, want 1", len(reqs))
	}
	var msg struct {
		Type        string `json:"type"`
		Attachments []struct {
			ContentType string `json:"contentType"`
			Content     struct {
				Type    string `json:"type"`
				Version string `json:"version"`
				Body    []struct {
					Type  string `json:"type"`
					Text  string `json:"text"`
					Facts []struct{ Title, Value string }
				} `json:"body"`
				Actions []struct{ Type, Title, URL string } `json:"actions"`
			} `json:"content"`
		} `json:"attachments"`
	}
	if err := json.Unmarshal(reqs[0].Body, &msg); err != nil {
		t.Fatal(err)
	}
	if msg.Type != "message" || len(msg.Attachments) != 1 || msg.Attachments[0].ContentType != "application/vnd.microsoft.card.adaptive" {
		t.Fatalf("not an Adaptive Card message: %s", reqs[0].Body)
	}
	card := msg.Attachments[0].Content
	if card.Type != "AdaptiveCard" || !strings.Contains(card.Body[0].Text, "alice asks for administrator rights on web-1 for 45m") {
		t.Fatalf("card: %s", reqs[0].Body)
	}
	if len(card.Actions) != 1 || card.Actions[0].Type != "Action.OpenUrl" || card.Actions[0].URL != "https://hoist.example/requests/"+r.ID {
		t.Fatalf("card actions: %+v, want one link to the request's page", card.Actions)
	}
	found := false
	for _, fact := range card.Body[1].Facts {
		found = found || (fact.Title == "Reason" && fact.Value == "fix the <printer>")
	}
	if !found {
		t.Fatalf("card facts: %+v, want the reason", card.Body[1].Facts)
	}
}

// TestSlackBlockKit: a Slack sink posts Block Kit to its incoming webhook
// (escaped, so a reason cannot ping a channel) and, with a bot token,
// to chat.postMessage with the channel.
func TestSlackBlockKit(t *testing.T) {
	f := newFixture(t)
	hook := newCollector(t)
	mustAdd(t, f, control.IntegrationInput{Name: "slack", Kind: hoist.SinkSlack, Events: []string{hoist.EventRequestCreated, hoist.EventRequestApproved},
		Config: hoist.SinkConfig{URL: hook.srv.URL + "/services/T0/B0/x", CA: hook.ca()}})
	r, _, err := f.svc.CreateRequest(ctx, control.RequestInput{User: "alice", Host: "web-1", Reason: "<!channel> now", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := f.svc.Approve(ctx, f.admin, []string{r.ID}, time.Hour, ""); err != nil || !res[0].OK {
		t.Fatalf("approve: %v %+v", err, res)
	}
	if _, err := f.svc.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	reqs := hook.all()
	if len(reqs) != 2 {
		t.Fatalf("got %d posts, want created and approved", len(reqs))
	}
	var msg struct {
		Text   string `json:"text"`
		Blocks []struct {
			Type     string `json:"type"`
			Text     *struct{ Type, Text string }
			Fields   []struct{ Type, Text string }
			Elements []struct {
				Type, URL string
			}
		} `json:"blocks"`
	}
	if err := json.Unmarshal(reqs[0].Body, &msg); err != nil {
		t.Fatal(err)
	}
	if msg.Blocks[0].Type != "section" || !strings.Contains(msg.Text, "alice asks") {
		t.Fatalf("block kit: %s", reqs[0].Body)
	}
	if fields := fmt.Sprint(msg.Blocks[1].Fields); strings.Contains(fields, "<!channel>") || !strings.Contains(fields, "&lt;!channel&gt;") {
		t.Fatalf("the reason's markup was not escaped: %s", reqs[0].Body)
	}
	last := msg.Blocks[len(msg.Blocks)-1]
	if last.Type != "actions" || last.Elements[0].URL != "https://hoist.example/requests/"+r.ID {
		t.Fatalf("no link button to the request: %s", reqs[0].Body)
	}
	if !strings.Contains(string(reqs[1].Body), "approved by admin for 1h") {
		t.Fatalf("the decision message: %s", reqs[1].Body)
	}

	api := newCollector(t)
	s := sink.New(sink.Config{ConsoleURL: "https://hoist.example", SlackAPI: api.srv.URL + "/api"})
	it := hoist.Integration{Name: "bot", Kind: hoist.SinkSlack, Config: hoist.SinkConfig{Secret: "xoxb-token", Channel: "C123", CA: api.ca()}}
	d := hoist.Delivery{ID: "dlv_x", Event: hoist.IntegrationEvent{Type: hoist.EventTest, At: time.Now()}}
	if _, err := s.Deliver(ctx, it, d, ""); err != nil {
		t.Fatal(err)
	}
	call := api.all()[0]
	if call.Path != "/api/chat.postMessage" || call.Header.Get("Authorization") != "Bearer xoxb-token" || !strings.Contains(string(call.Body), `"channel":"C123"`) {
		t.Fatalf("chat.postMessage: %s %v %s", call.Path, call.Header, call.Body)
	}
}

// slackAPI is a local stand-in for Slack's Web API: chat.postMessage
// answers a channel and a new ts, chat.update the same; a wrong token is
// refused the way Slack refuses it (200 with ok false).
type slackAPI struct {
	*collector
	n int
}

func newSlackAPI(t *testing.T, token string) *slackAPI {
	a := &slackAPI{collector: &collector{}}
	a.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		a.mu.Lock()
		defer a.mu.Unlock()
		a.reqs = append(a.reqs, got{Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		var in struct{ Channel, TS string }
		_ = json.Unmarshal(body, &in)
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+token {
			_, _ = w.Write([]byte(`{"ok":false,"error":"invalid_auth"}`))
			return
		}
		if strings.HasSuffix(r.URL.Path, "/chat.postMessage") {
			a.n++
			in.TS = fmt.Sprintf("1700000000.%06d", a.n)
		}
		fmt.Fprintf(w, `{"ok":true,"channel":%q,"ts":%q}`, in.Channel, in.TS)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// TestSlackMessageUpdatedOnDecision: through chat.postMessage, a request's
// message is updated in place when it is approved ("approved by admin for
// 1h"), and its reminder is a reply in the thread; a refused token is a
// failed delivery, retried.
func TestSlackMessageUpdatedOnDecision(t *testing.T) {
	api := newSlackAPI(t, "xoxb-good")
	f := newFixture(t, func(c *sink.Config) { c.SlackAPI = api.srv.URL + "/api" })
	mustAdd(t, f, control.IntegrationInput{Name: "bot", Kind: hoist.SinkSlack,
		Config: hoist.SinkConfig{Secret: "xoxb-good", Channel: "C123", CA: api.ca()}})
	r, _, err := f.svc.CreateRequest(ctx, control.RequestInput{User: "alice", Host: "web-1", Reason: "fix it", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	f.clock.Add(control.DefaultReminderAfter + time.Second)
	if _, err := f.svc.Deliver(ctx); err != nil { // the reminder
		t.Fatal(err)
	}
	if res, err := f.svc.Approve(ctx, f.admin, []string{r.ID}, time.Hour, ""); err != nil || !res[0].OK {
		t.Fatalf("approve: %v %+v", err, res)
	}
	if _, err := f.svc.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	calls := api.all()
	if len(calls) != 3 {
		t.Fatalf("got %d calls, want post, reply, update", len(calls))
	}
	var first, reply, update map[string]any
	_ = json.Unmarshal(calls[0].Body, &first)
	_ = json.Unmarshal(calls[1].Body, &reply)
	_ = json.Unmarshal(calls[2].Body, &update)
	if calls[0].Path != "/api/chat.postMessage" || first["channel"] != "C123" {
		t.Fatalf("first: %s %s", calls[0].Path, calls[0].Body)
	}
	if calls[1].Path != "/api/chat.postMessage" || reply["thread_ts"] != "1700000000.000001" || !strings.Contains(fmt.Sprint(reply["text"]), "Reminder") {
		t.Fatalf("reminder: %s %s", calls[1].Path, calls[1].Body)
	}
	if calls[2].Path != "/api/chat.update" || update["ts"] != "1700000000.000001" || update["channel"] != "C123" ||
		!strings.Contains(fmt.Sprint(update["text"]), "approved by admin for 1h") {
		t.Fatalf("update: %s %s", calls[2].Path, calls[2].Body)
	}
	mustAdd(t, f, control.IntegrationInput{Name: "badbot", Kind: hoist.SinkSlack,
		Config: hoist.SinkConfig{Secret: "xoxb-revoked", Channel: "C123", CA: api.ca()}})
	if err := f.svc.TestIntegration(ctx, f.admin, "badbot"); err == nil || !strings.Contains(hoist.ErrorMessage(err), "invalid_auth") {
		t.Fatalf("a refused token: got %v, want Slack's invalid_auth", err)
	}
}

// TestWebhookRefusesRedirectsAndSlowReceivers: a redirect is not followed
// (it could lead to the server's own API) and counts as a failure.
func TestWebhookRefusesRedirects(t *testing.T) {
	target := newCollector(t)
	redir := httptest.NewTLSServer(http.RedirectHandler(target.srv.URL+"/elsewhere", http.StatusTemporaryRedirect))
	t.Cleanup(redir.Close)
	s := sink.New(sink.Config{})
	it := hoist.Integration{Kind: hoist.SinkWebhook, Config: hoist.SinkConfig{URL: redir.URL, Secret: "k",
		CA: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: redir.Certificate().Raw}))}}
	_, err := s.Deliver(ctx, it, hoist.Delivery{ID: "dlv_x", Event: hoist.IntegrationEvent{Type: hoist.EventTest, At: time.Now()}}, "")
	if err == nil || !strings.Contains(err.Error(), "307") || len(target.all()) != 0 {
		t.Fatalf("redirect: got %v and %d posts at the target, want a failure and none", err, len(target.all()))
	}
}

// TestSinksNeverConnectToTheServerItself: whatever a sink's host name
// resolves to, no connection is made to the server's own listening
// address (DNS pointing a receiver's name at the admin API).
func TestSinksNeverConnectToTheServerItself(t *testing.T) {
	self := newCollector(t) // stands for the server's own API
	port := self.srv.Listener.Addr().(*net.TCPAddr).Port
	for _, listen := range []string{self.srv.Listener.Addr().String(), net.JoinHostPort("0.0.0.0", strconv.Itoa(port))} {
		s := sink.New(sink.Config{Self: []string{listen}})
		it := hoist.Integration{Kind: hoist.SinkWebhook, Config: hoist.SinkConfig{URL: "https://localhost:" + strconv.Itoa(port) + "/api/v1/users", Secret: "k", CA: self.ca()}}
		_, err := s.Deliver(ctx, it, hoist.Delivery{ID: "dlv_x", Event: hoist.IntegrationEvent{Type: hoist.EventTest, At: time.Now()}}, "")
		if err == nil || !strings.Contains(err.Error(), "this server's own API") {
			t.Fatalf("listening on %s: got %v, want the connection refused", listen, err)
		}
	}
	if n := len(self.all()); n != 0 {
		t.Fatalf("the server's own API got %d requests", n)
	}
}
