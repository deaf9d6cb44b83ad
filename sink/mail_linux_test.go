package sink_test

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/testenv"
)

// mailpit is a real SMTP server (github.com/axllent/mailpit) on loopback,
// with TLS and password authentication, whose messages the test reads back
// through its HTTP API.
type mailpit struct {
	smtp, api string
	pki       testPKI
	cmd       *exec.Cmd
}

// mailpitPath finds the mailpit binary: on PATH, or where go install puts
// it (scripts/test installs it).
func mailpitPath() string {
	if p, err := exec.LookPath("mailpit"); err == nil {
		return p
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "mailpit")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// startMailpit runs mailpit with mode "starttls" (STARTTLS required) or
// "tls" (implicit TLS), accepting user "hoist" with password "mail-pass".
func startMailpit(t *testing.T, mode string) *mailpit {
	t.Helper()
	bin := mailpitPath()
	testenv.Require(t, bin != "", "mailpit (go install github.com/axllent/mailpit@v1.33.1)")
	dir := t.TempDir()
	mp := &mailpit{smtp: "127.0.0.1:" + strconv.Itoa(freePort(t)), api: "127.0.0.1:" + strconv.Itoa(freePort(t)), pki: newTestPKI(t)}
	auth := filepath.Join(dir, "auth")
	if err := os.WriteFile(auth, []byte("hoist:mail-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	args := []string{"--smtp", mp.smtp, "--listen", mp.api, "--database", filepath.Join(dir, "mail.db"),
		"--smtp-tls-cert", mp.pki.CertFile, "--smtp-tls-key", mp.pki.KeyFile, "--smtp-auth-file", auth, "--smtp-disable-rdns"}
	if mode == "tls" {
		args = append(args, "--smtp-require-tls")
	} else {
		args = append(args, "--smtp-require-starttls")
	}
	mp.cmd = exec.Command(bin, args...)
	if err := mp.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = mp.cmd.Process.Signal(syscall.SIGTERM)
		_ = mp.cmd.Wait()
	})
	testenv.WaitUntil(t, "mailpit answering", func() bool {
		resp, err := http.Get("http://" + mp.api + "/readyz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	return mp
}

type mailSummary struct {
	ID      string
	Subject string
	To      []struct{ Address string }
	From    struct{ Address string }
}

func (mp *mailpit) messages(t *testing.T) []mailSummary {
	t.Helper()
	var ans struct{ Messages []mailSummary }
	mp.get(t, "/api/v1/messages", &ans)
	return ans.Messages
}

func (mp *mailpit) get(t *testing.T, path string, into any) {
	t.Helper()
	resp, err := http.Get("http://" + mp.api + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
		t.Fatalf("mailpit %s: %v", path, err)
	}
}

// TestSMTPToMailpit: e-mail reaches a real SMTP server over STARTTLS and
// over implicit TLS, authenticated, as plain text and HTML with a link to
// the request's console page and the delivery id as Message-ID; a wrong
// password fails the test send with the server's answer.
func TestSMTPToMailpit(t *testing.T) {
	for _, mode := range []string{"starttls", "tls"} {
		t.Run(mode, func(t *testing.T) {
			mp := startMailpit(t, mode)
			f := newFixture(t)
			cfg := hoist.SinkConfig{Server: mp.smtp, Security: mode, Username: "hoist", Secret: "mail-pass", CA: mp.pki.CAPEM,
				From: "hoist@example.org", To: []string{"approvers@example.org", "oncall@example.org"}}
			mustAdd(t, f, control.IntegrationInput{Name: "mail", Kind: hoist.SinkSMTP, Config: cfg})
			r, _, err := f.svc.CreateRequest(ctx, control.RequestInput{User: "alice", Host: "web-1", Reason: "rotate the <certs>", Duration: 45 * time.Minute})
			if err != nil {
				t.Fatal(err)
			}
			if n, err := f.svc.Deliver(ctx); err != nil || n != 1 {
				t.Fatalf("deliver: %d, %v", n, err)
			}
			var msgs []mailSummary
			testenv.WaitUntil(t, "mailpit has the message", func() bool { msgs = mp.messages(t); return len(msgs) > 0 })
			m := msgs[0]
			if m.Subject != "alice asks for administrator rights on web-1 for 45m" || m.From.Address != "hoist@example.org" || len(m.To) != 2 {
				t.Fatalf("message: %+v", m)
			}
			var full struct {
				Text, HTML string
				MessageID  string
			}
			mp.get(t, "/api/v1/message/"+m.ID, &full)
			link := "https://hoist.example/requests/" + r.ID
			if !strings.Contains(full.Text, link) || !strings.Contains(full.Text, "Reason: rotate the <certs>") {
				t.Fatalf("text part: %q", full.Text)
			}
			if !strings.Contains(full.HTML, `href="`+link+`"`) || !strings.Contains(full.HTML, "rotate the &lt;certs&gt;") {
				t.Fatalf("HTML part: %q", full.HTML)
			}
			if !strings.HasPrefix(full.MessageID, hoist.DeliveryIDPrefix) {
				t.Fatalf("Message-ID %q: want the delivery id", full.MessageID)
			}

			bad := cfg
			bad.Secret = "wrong"
			mustAdd(t, f, control.IntegrationInput{Name: "badmail", Kind: hoist.SinkSMTP, Config: bad})
			err = f.svc.TestIntegration(ctx, f.admin, "badmail")
			if err == nil || !strings.Contains(hoist.ErrorMessage(err), "authentication") {
				t.Fatalf("wrong password: got %v, want an authentication failure", err)
			}
			if err := f.svc.TestIntegration(ctx, f.admin, "mail"); err != nil {
				t.Fatalf("test send: %v", err)
			}
			testenv.WaitUntil(t, "the test message", func() bool { return len(mp.messages(t)) == 2 })
		})
	}
}
