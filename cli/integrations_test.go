package cli_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/hoist-jit/hoist/wire"
)

// TestAdminIntegrations: an admin adds a webhook with a secret file and a
// private CA, sees it listed (never its secret), sends a test that the
// receiver verifies, is refused a plain-http URL with the field named, and
// removes it.
func TestAdminIntegrations(t *testing.T) {
	m := startServer(t)
	admin := loggedInAdmin(t, m)
	var (
		mu   sync.Mutex
		seen []string
	)
	const secret = "the-webhook-secret"
	rc := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		ts, sig, _ := strings.Cut(strings.TrimPrefix(r.Header.Get("X-Hoist-Signature"), "t="), ",v1=")
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte(ts + "." + string(body)))
		if !hmac.Equal([]byte(sig), []byte(hex.EncodeToString(mac.Sum(nil)))) {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		seen = append(seen, r.Header.Get("X-Hoist-Event"))
		mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	dir := t.TempDir()
	secretFile, caFile := filepath.Join(dir, "secret"), filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rc.Certificate().Raw}), 0o644); err != nil {
		t.Fatal(err)
	}

	out := admin.ok("", "admin", "integrations", "add", "webhook", "ops", "--url", rc.URL+"/hook", "--secret-file", secretFile, "--ca", caFile,
		"--events", "request.created,request.approved")
	if !strings.Contains(out, `added webhook integration "ops"`) {
		t.Fatalf("add said %q", out)
	}
	var vs []wire.IntegrationView
	if err := json.Unmarshal([]byte(admin.ok("", "admin", "integrations", "ls", "--json")), &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].Name != "ops" || vs[0].Kind != "webhook" || !vs[0].CA || strings.Join(vs[0].Events, ",") != "request.created,request.approved" {
		t.Fatalf("ls --json: %+v", vs)
	}
	table := admin.ok("", "admin", "integrations", "ls")
	if !strings.Contains(table, "PENDING") || !strings.Contains(table, "ops") || strings.Contains(table, secret) {
		t.Fatalf("ls: %q", table)
	}
	if out := admin.ok("", "admin", "integrations", "test", "ops"); !strings.Contains(out, "the test reached ops") {
		t.Fatalf("test said %q", out)
	}
	mu.Lock()
	if len(seen) != 1 || seen[0] != "integration.test" {
		t.Fatalf("the receiver saw %v, want one signed integration.test", seen)
	}
	mu.Unlock()

	r := admin.run("", "admin", "integrations", "add", "webhook", "plain", "--url", "http://hooks.example/x", "--secret-file", secretFile)
	if r.code == 0 || !strings.Contains(r.stderr, "url:") || !strings.Contains(r.stderr, "--allow-http") {
		t.Fatalf("plain http: exit %d, stderr %q; want a refusal naming url and --allow-http", r.code, r.stderr)
	}
	r = admin.run("", "admin", "integrations", "add", "webhook", "own", "--url", m.URL()+"/api/v1/users", "--secret-file", secretFile)
	if r.code == 0 || !strings.Contains(r.stderr, "this server's own API") {
		t.Fatalf("own API: exit %d, stderr %q; want a refusal", r.code, r.stderr)
	}
	r = admin.run("", "admin", "integrations", "add", "hec", "splunk", "--url", "https://splunk.example:8088/services/collector/event")
	if r.code == 0 || !strings.Contains(r.stderr, "--token-file") {
		t.Fatalf("hec without token: exit %d, stderr %q", r.code, r.stderr)
	}
	if out := admin.ok("", "admin", "integrations", "dead-letters", "ops", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("dead letters: %q, want []", out)
	}
	admin.ok("", "admin", "integrations", "add", "slack", "chat", "--webhook-url", "https://hooks.slack.example/services/T0/B0/SECRETPATH",
		"--signing-secret-file", secretFile, "--map-user", "UCAROL1=carol")
	vs = nil
	if err := json.Unmarshal([]byte(admin.ok("", "admin", "integrations", "ls", "--json")), &vs); err != nil {
		t.Fatal(err)
	}
	if len(vs) != 2 || vs[0].Name != "chat" || !vs[0].Interactive || vs[0].SlackUsers["UCAROL1"] != "carol" || strings.Contains(vs[0].URL, "SECRETPATH") {
		t.Fatalf("ls --json with Slack: %+v", vs)
	}
	if r := admin.run("", "admin", "integrations", "add", "slack", "chat2", "--webhook-url", "https://hooks.slack.example/x", "--map-user", "UCAROL1=carol"); r.code == 0 || !strings.Contains(r.stderr, "--signing-secret-file") {
		t.Fatalf("mapped users without a signing secret: exit %d, %q", r.code, r.stderr)
	}
	admin.ok("", "admin", "integrations", "rm", "chat")
	admin.ok("", "admin", "integrations", "rm", "ops")
	if out := admin.ok("", "admin", "integrations", "ls", "--json"); strings.TrimSpace(out) != "[]" {
		t.Fatalf("ls after rm: %q, want []", out)
	}
	if r := admin.run("", "admin", "integrations", "rm", "ops"); r.code == 0 {
		t.Fatalf("rm twice: exit 0")
	}
}
