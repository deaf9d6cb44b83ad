package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/pki"
	"github.com/hoist-jit/hoist/server"
)

func start(t *testing.T, dir string) *server.Main {
	t.Helper()
	m, err := server.Start(context.Background(), server.Config{DataDir: dir, Listen: "127.0.0.1:0",
		AdminPassword: "correct horse battery staple", Settings: hoist.DefaultApprovalSettings()})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func tlsConfig(t *testing.T, m *server.Main) *tls.Config {
	pool, err := pki.LoadCertPool(m.CAPath())
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
}

// TestShutdownFinishesRequestsInFlight starts a request, stops the server
// halfway through its body, and checks that the request still gets its
// whole answer while new connections are refused.
func TestShutdownFinishesRequestsInFlight(t *testing.T) {
	active := make(chan struct{}, 16)
	cfg := server.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		AdminPassword: "correct horse battery staple", Settings: hoist.DefaultApprovalSettings()}
	server.WrapHandler(&cfg, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			active <- struct{}{}
			next.ServeHTTP(w, r)
		})
	})
	m, err := server.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	addr := strings.TrimPrefix(m.URL(), "https://")
	conn, err := tls.Dial("tcp", addr, tlsConfig(t, m))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"user":"admin","password":"correct horse battery staple"}`
	half := len(body) / 2
	if _, err := io.WriteString(conn, "POST /api/v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: "+
		itoa(len(body))+"\r\n\r\n"+body[:half]); err != nil {
		t.Fatal(err)
	}
	<-active // the handler has this request: it is in flight
	closed := make(chan error, 1)
	go func() { closed <- m.Close() }()

	// Wait until the server no longer accepts connections: shutdown has begun.
	for deadline := time.Now().Add(10 * time.Second); ; {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the server still accepts connections 10s after Close")
		}
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) before the request in flight finished", err)
	default:
	}
	if _, err := io.WriteString(conn, body[half:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("the request in flight got no answer: %v (Close: %v)", err, <-closed)
	}
	var ans struct{ Token string }
	if err := json.NewDecoder(resp.Body).Decode(&ans); err != nil || resp.StatusCode != 200 || ans.Token == "" {
		t.Fatalf("answer: %d, token %q, %v", resp.StatusCode, ans.Token, err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestRestartKeepsIdentityAndData restarts the server on the same data
// directory: same CA, same admin, no second password.
func TestRestartKeepsIdentityAndData(t *testing.T) {
	dir := t.TempDir()
	m := start(t, dir)
	ca1, _ := os.ReadFile(m.CAPath())
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	m2, err := server.Start(context.Background(), server.Config{DataDir: dir, Listen: "127.0.0.1:0", Out: &out, Settings: hoist.DefaultApprovalSettings()})
	if err != nil {
		t.Fatal(err)
	}
	defer m2.Close()
	ca2, _ := os.ReadFile(m2.CAPath())
	if string(ca1) != string(ca2) {
		t.Fatal("the CA changed across a restart")
	}
	if strings.Contains(out.String(), "Password") {
		t.Fatalf("a restart printed a new admin password:\n%s", out.String())
	}
	if _, _, _, err := m2.Service().Login(context.Background(), "admin", "correct horse battery staple", ""); err != nil {
		t.Fatalf("the first admin's password did not survive the restart: %v", err)
	}
}

func TestFirstStartPrintsAGeneratedPassword(t *testing.T) {
	var out strings.Builder
	m, err := server.Start(context.Background(), server.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Out: &out, Settings: hoist.DefaultApprovalSettings()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	var pw string
	for _, line := range strings.Split(out.String(), "\n") {
		if p, ok := strings.CutPrefix(line, "Password (shown once; change it): "); ok {
			pw = p
		}
	}
	if len(pw) < 12 || !strings.Contains(out.String(), m.URL()) {
		t.Fatalf("first start printed:\n%s", out.String())
	}
	if _, _, _, err := m.Service().Login(context.Background(), "admin", pw, ""); err != nil {
		t.Fatalf("the printed password does not log in: %v", err)
	}
}
