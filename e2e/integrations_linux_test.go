package e2e_test

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/pgtest"
	"github.com/hoist-jit/hoist/server"
	"github.com/hoist-jit/hoist/testenv"
)

// TestIntegrationReplicasDeliverOnce: two servers on one PostgreSQL, both
// delivering, hand a webhook receiver every event once — the first one
// from a real user's hoist request on a real agent.
func TestIntegrationReplicasDeliverOnce(t *testing.T) {
	url := pgtest.URL(t)
	dir := t.TempDir()
	start := func() *server.Main {
		m, err := server.Start(ctx, server.Config{DataDir: dir, DatabaseURL: url, Listen: "127.0.0.1:0",
			AdminPassword: "correct horse battery staple", Settings: hoist.DefaultApprovalSettings()})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		return m
	}
	a, b := start(), start()
	var (
		mu  sync.Mutex
		got []map[string]any
		ids = map[string]int{}
	)
	rc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var env map[string]any
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &env)
		mu.Lock()
		got = append(got, env)
		ids[r.Header.Get("X-Hoist-Delivery")]++
		mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	if _, err := a.Service().AddIntegration(ctx, adminActor, control.IntegrationInput{Name: "ops", Kind: hoist.SinkWebhook,
		Events: []string{hoist.EventRequestCreated}, Config: hoist.SinkConfig{URL: rc.URL, Secret: "k",
			CA: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rc.Certificate().Raw}))}}); err != nil {
		t.Fatal(err)
	}
	f := newFleetOn(t, a)
	first := f.request("--for 1h --reason 'rotate certs'")
	const more = 15
	for i := range more {
		if _, _, err := b.Service().CreateRequest(ctx, control.RequestInput{User: "u" + strconv.Itoa(i), Host: "web-" + strconv.Itoa(i), Reason: "x", Duration: time.Hour}); err != nil {
			t.Fatal(err)
		}
	}
	testenv.WaitUntil(t, "every request.created delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(got) >= more+1
	})
	mu.Lock()
	defer mu.Unlock()
	for id, n := range ids {
		if n != 1 {
			t.Errorf("delivery %s received %d times, want once", id, n)
		}
	}
	data := got[0]["data"].(map[string]any)
	if data["request_id"] != first || data["user"] != f.user.Name || data["reason"] != "rotate certs" || data["requested_duration"] != "1h" {
		t.Fatalf("the agent's request arrived as %v", got[0])
	}
}

// startMailpit runs mailpit (scripts/test installs it) for plain SMTP on
// loopback and returns its SMTP and HTTP addresses.
func startMailpit(t *testing.T) (smtpAddr, apiAddr string) {
	t.Helper()
	bin, err := exec.LookPath("mailpit")
	if err != nil {
		if out, err2 := exec.Command("go", "env", "GOPATH").Output(); err2 == nil {
			if p := filepath.Join(strings.TrimSpace(string(out)), "bin", "mailpit"); fileExists(p) {
				bin, err = p, nil
			}
		}
	}
	testenv.Require(t, err == nil, "mailpit (go install github.com/axllent/mailpit@v1.33.1)")
	port := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}
	smtpAddr, apiAddr = port(), port()
	cmd := exec.Command(bin, "--smtp", smtpAddr, "--listen", apiAddr, "--database", filepath.Join(t.TempDir(), "mail.db"), "--smtp-disable-rdns")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	testenv.WaitUntil(t, "mailpit answering", func() bool {
		resp, err := http.Get("http://" + apiAddr + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	return smtpAddr, apiAddr
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// TestIntegrationsInChromium: the console's Integrations page in a real
// browser (no console errors), a Send test from it, and the e-mail an
// approver receives, rendered — the pictures of docs/integrations.md
// (HOIST_SCREENSHOTS=$PWD/docs/integrations).
func TestIntegrationsInChromium(t *testing.T) {
	smtpAddr, apiAddr := startMailpit(t)
	m := startServerAt(t, t.TempDir(), "127.0.0.1:0")
	svc := m.Service()
	if _, err := svc.AddIntegration(ctx, adminActor, control.IntegrationInput{Name: "approvers-mail", Kind: hoist.SinkSMTP,
		Config: hoist.SinkConfig{Server: smtpAddr, Security: "plain", From: "hoist@example.org", To: []string{"approvers@example.org"}}}); err != nil {
		t.Fatal(err)
	}
	r, _, err := svc.CreateRequest(ctx, control.RequestInput{User: "alice", Host: "web-1", Reason: "rotate the TLS certificates (CHG-1042)", Duration: 45 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	var msgs struct {
		Messages []struct{ ID, Subject string }
	}
	testenv.WaitUntil(t, "the e-mail in mailpit", func() bool {
		resp, err := http.Get("http://" + apiAddr + "/api/v1/messages")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		return json.NewDecoder(resp.Body).Decode(&msgs) == nil && len(msgs.Messages) > 0
	})

	b := startBrowser(t)
	base := m.URL()
	b.run("open the console", chromedp.Navigate(base+"/integrations"), chromedp.WaitVisible(chromedp.ID("#user")))
	b.run("sign in",
		chromedp.SendKeys(chromedp.ID("#user"), "admin"),
		chromedp.SendKeys(chromedp.ID("#password"), "correct horse battery staple"),
		chromedp.Submit(chromedp.ID("#password")),
		chromedp.WaitVisible(chromedp.ID("#integrations"))) // back to the page asked for
	msg := b.submit("send a test", chromedp.Click(chromedp.CSS(`tr[data-integration="approvers-mail"] button[aria-label^="Send a test"]`)))
	if !strings.Contains(msg, "The test reached approvers-mail") {
		t.Fatalf("after Send test the page says %q", msg)
	}
	b.clean("integrations")
	b.shot("integrations")

	b.run("open the e-mail", chromedp.Navigate("http://"+apiAddr+"/view/"+msgs.Messages[0].ID+".html"), chromedp.WaitVisible(chromedp.CSS("h2")))
	if h := b.text("h2"); h != "alice asks for administrator rights on web-1 for 45m" {
		t.Fatalf("the e-mail's heading is %q", h)
	}
	if href := b.attr("a", "href"); href != base+"/requests/"+r.ID {
		t.Fatalf("the e-mail links to %q, want the request's page", href)
	}
	b.shot("email")
}
