package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/server"
	"github.com/hoist-jit/hoist/testenv"
)

// apiClient talks HTTPS to m, trusting its CA.
func apiClient(t *testing.T, m *server.Main) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig(t, m)}}
}

// apiLogin posts a login with the X-Forwarded-For lines xff and returns
// the status.
func apiLogin(t *testing.T, m *server.Main, password string, xff ...string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"user": "admin", "password": password})
	req, _ := http.NewRequest(http.MethodPost, m.URL()+"/api/v1/login", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	for _, v := range xff {
		req.Header.Add("X-Forwarded-For", v)
	}
	res, err := apiClient(t, m).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

// TestForwardedForIgnoredWithoutTrustedProxy is the spoofing attack: a
// guesser sends a new X-Forwarded-For with every guess, as if from new
// addresses. Without --trusted-proxy the header is not believed: all the
// guesses count for the connection's own address.
func TestForwardedForIgnoredWithoutTrustedProxy(t *testing.T) {
	// The server's clock stands still: the throttle's first wait is a
	// second, which a loaded machine can spend between two requests.
	clock := testenv.NewClock(time.Now())
	m, err := server.Start(context.Background(), server.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		AdminPassword: "correct horse battery staple", Settings: hoist.DefaultApprovalSettings(), Clock: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for i := range hoist.PairLoginRule.Free {
		if got := apiLogin(t, m, "wrong password", "203.0.113."+itoa(i+1)); got != http.StatusUnauthorized {
			t.Fatalf("guess %d: got %d, want 401", i+1, got)
		}
	}
	if got := apiLogin(t, m, "correct horse battery staple", "198.51.100.1"); got != http.StatusTooManyRequests {
		t.Fatalf("after the guesses, from the same peer with another X-Forwarded-For: got %d, want 429 (the header ignored)", got)
	}
}

// TestTrustedProxyForwardedFor: behind a trusted proxy, each client is
// throttled on its own; the proxy's right-most entry counts, whatever a
// client wrote to the left of it.
func TestTrustedProxyForwardedFor(t *testing.T) {
	m, err := server.Start(context.Background(), server.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		AdminPassword: "correct horse battery staple", Settings: hoist.DefaultApprovalSettings(),
		TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		// Standing still, as above: the guesser's wait must not run out
		// between its guesses and its claim, however slow the machine.
		Clock: testenv.NewClock(time.Now()).Now})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const guesser, admin = "203.0.113.7", "198.51.100.1"
	for i := range hoist.PairLoginRule.Free {
		if got := apiLogin(t, m, "wrong password", guesser); got != http.StatusUnauthorized {
			t.Fatalf("guess %d: got %d, want 401", i+1, got)
		}
	}
	if got := apiLogin(t, m, "correct horse battery staple", admin); got != http.StatusOK {
		t.Fatalf("the admin behind the same proxy: got %d, want 200", got)
	}
	if got := apiLogin(t, m, "correct horse battery staple", admin+", "+guesser); got != http.StatusTooManyRequests {
		t.Fatalf("the guesser claiming the admin's address at the left: got %d, want 429", got)
	}
	// The audit log names the client, not the proxy.
	var froms []string
	_ = m.Store().View(context.Background(), func(tx hoist.Tx) error {
		return tx.Audit(context.Background(), hoist.AuditFilter{Action: hoist.AuditLoginFailed}, func(r hoist.AuditRecord) error {
			var d struct{ From string }
			_ = json.Unmarshal([]byte(r.Detail), &d)
			froms = append(froms, d.From)
			return nil
		})
	})
	if len(froms) != hoist.PairLoginRule.Free || froms[0] != guesser {
		t.Fatalf("failed logins audited from %q, want %d from %s", froms, hoist.PairLoginRule.Free, guesser)
	}
}
