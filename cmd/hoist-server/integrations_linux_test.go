package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/testenv"
)

// asServerEnv makes the test binary run as hoist-server (see TestMain), so
// that a test can kill a real server process with SIGKILL.
const asServerEnv = "HOIST_TEST_AS_SERVER"

// serverProc is a hoist-server process of this test.
type serverProc struct {
	cmd    *exec.Cmd
	url    string
	client *http.Client
	token  string
}

// startServerProc runs hoist-server serve on dir and waits for its URL.
func startServerProc(t *testing.T, dir string) *serverProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "serve", "--data", dir, "--listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), asServerEnv+"=1", "HOIST_ADMIN_PASSWORD=correct horse battery staple")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serverProc{cmd: cmd}
	t.Cleanup(func() { p.kill() })
	lines := bufio.NewScanner(out)
	for lines.Scan() {
		if u, ok := strings.CutPrefix(lines.Text(), "Hoist server: "); ok {
			p.url = u
			break
		}
	}
	go func() { _, _ = io.Copy(io.Discard, out) }()
	if p.url == "" {
		t.Fatal("hoist-server printed no URL")
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	p.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var ans struct{ Token string }
	p.call(t, "POST", "/api/v1/login", `{"user":"admin","password":"correct horse battery staple"}`, 200, &ans)
	p.token = ans.Token
	return p
}

// kill ends the process with SIGKILL, by its pid: no clean shutdown.
func (p *serverProc) kill() {
	if p.cmd.Process == nil || p.cmd.ProcessState != nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	_ = p.cmd.Wait()
}

func (p *serverProc) call(t *testing.T, method, path, body string, want int, into any) {
	t.Helper()
	req, _ := http.NewRequest(method, p.url+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("%s %s: got %d %s, want %d", method, path, resp.StatusCode, data, want)
	}
	if into != nil {
		if err := json.Unmarshal(data, into); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// hookReceiver is a webhook receiver that can be down (503).
type hookReceiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	down    bool
	refused int      // attempts answered 503
	got     []string // "event group-name delivery-id", accepted
}

func newHookReceiver(t *testing.T) *hookReceiver {
	h := &hookReceiver{down: true}
	h.srv = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var env struct {
			ID    string         `json:"id"`
			Event string         `json:"event"`
			Data  map[string]any `json:"data"`
		}
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &env)
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.down {
			h.refused++
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		h.got = append(h.got, fmt.Sprintf("%s %v %s", env.Event, env.Data["name"], env.ID))
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookReceiver) accepted() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.got...)
}

// TestKillBetweenCommitAndDeliveryLosesNothing: events committed while
// the receiver is down survive a SIGKILL of the server; the restarted server
// delivers every one, once.
func TestKillBetweenCommitAndDeliveryLosesNothing(t *testing.T) {
	dir := t.TempDir()
	hook := newHookReceiver(t)
	ca := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: hook.srv.Certificate().Raw}))

	p := startServerProc(t, dir)
	body, _ := json.Marshal(map[string]any{"name": "ops", "kind": "webhook", "events": []string{"policy.changed"},
		"config": map[string]any{"url": hook.srv.URL, "secret": "s3cret", "ca": ca}})
	p.call(t, "POST", "/api/v1/integrations", string(body), 201, nil)
	for _, g := range []string{"web", "db", "build"} {
		p.call(t, "POST", "/api/v1/groups", `{"name":"`+g+`"}`, 201, nil)
	}
	// The server has tried (and failed) at least once: the events are
	// committed, not delivered.
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		hook.mu.Lock()
		n := hook.refused
		hook.mu.Unlock()
		if n > 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.kill()
	if got := hook.accepted(); len(got) != 0 {
		t.Fatalf("accepted while down: %q", got)
	}

	hook.mu.Lock()
	hook.down = false
	hook.mu.Unlock()
	p = startServerProc(t, dir)
	// Retry now, rather than wait out the backoff of the failures before the kill.
	p.call(t, "POST", "/api/v1/integrations/ops/retry", `{}`, 200, nil)
	deadline = time.Now().Add(3 * time.Minute) // a lease of the killed server lasts 30 s at most
	for len(hook.accepted()) < 3 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	got := hook.accepted()
	var names []string
	ids := map[string]bool{}
	for _, g := range got {
		f := strings.Fields(g)
		names = append(names, f[1])
		if ids[f[2]] {
			t.Errorf("delivery %s accepted twice", f[2])
		}
		ids[f[2]] = true
	}
	if strings.Join(names, " ") != "web db build" {
		t.Fatalf("accepted %q, want the three groups' policy.changed once each, in order", got)
	}
	var ls struct {
		Integrations []struct {
			Pending, Failing, Dead, Delivered int
		}
	}
	// The server records a delivery after the receiver answered it.
	testenv.WaitUntil(t, "ls to show the three delivered", func() bool {
		p.call(t, "GET", "/api/v1/integrations", "", 200, &ls)
		return ls.Integrations[0].Delivered == 3
	})
	if i := ls.Integrations[0]; i.Pending != 0 || i.Dead != 0 {
		t.Fatalf("ls after: %+v, want 3 delivered, nothing pending", i)
	}
}
