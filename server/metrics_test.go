package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/server"
	"github.com/hoist-jit/hoist/testenv"
)

const metricsToken = "0123456789abcdef0123456789abcdef"

// tokenFile writes content to a file of mode perm and returns its path.
func tokenFile(t *testing.T, content string, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "metrics-token")
	if err := os.WriteFile(p, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, perm); err != nil { // past the umask
		t.Fatal(err)
	}
	return p
}

func startMetrics(t *testing.T, listen, tokenFile string) *server.Main {
	t.Helper()
	m, err := server.Start(context.Background(), server.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		AdminPassword: "correct horse battery staple", Settings: hoist.DefaultApprovalSettings(),
		MetricsListen: listen, MetricsTokenFile: tokenFile})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// scrape GETs /metrics with the Authorization header auth (none when
// empty) and returns the status and body.
func scrape(t *testing.T, client *http.Client, url, auth string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

// TestMetricsNotPublicByDefault: with neither flag, /metrics on the main
// listener answers 401 and says which flag serves it.
func TestMetricsNotPublicByDefault(t *testing.T) {
	m := startMetrics(t, "", "")
	for _, auth := range []string{"", "Bearer " + metricsToken, "Bearer "} {
		status, body := scrape(t, apiClient(t, m), m.URL()+"/metrics", auth)
		if status != http.StatusUnauthorized || !strings.Contains(body, "--metrics-listen") || !strings.Contains(body, "--metrics-token-file") {
			t.Errorf("/metrics with Authorization %q: got %d %q, want 401 naming both flags", auth, status, body)
		}
	}
}

// TestMetricsToken: with --metrics-token-file, /metrics on the main
// listener needs exactly that bearer token, and what it serves is valid
// Prometheus exposition (promtool check metrics).
func TestMetricsToken(t *testing.T) {
	m := startMetrics(t, "", tokenFile(t, metricsToken+"\n", 0o600))
	client := apiClient(t, m)
	for _, auth := range []string{"", "Bearer", "Bearer " + metricsToken + "x", "Bearer " + metricsToken[:31], "Basic " + metricsToken, "bearer" + metricsToken} {
		if status, _ := scrape(t, client, m.URL()+"/metrics", auth); status != http.StatusUnauthorized {
			t.Errorf("/metrics with Authorization %q: got %d, want 401", auth, status)
		}
	}
	status, body := scrape(t, client, m.URL()+"/metrics", "Bearer "+metricsToken)
	if status != http.StatusOK || !strings.Contains(body, "hoist_audit_records") {
		t.Fatalf("/metrics with the token: got %d %.300q, want 200 with hoist_audit_records", status, body)
	}
	promtoolCheck(t, body)
}

// TestMetricsListen: --metrics-listen serves /metrics without a token, and
// only /metrics; the main listener still refuses it.
func TestMetricsListen(t *testing.T) {
	m := startMetrics(t, "127.0.0.1:0", "")
	status, body := scrape(t, http.DefaultClient, m.MetricsURL(), "")
	if status != http.StatusOK || !strings.Contains(body, "hoist_requests_pending") {
		t.Fatalf("GET %s: got %d %.300q, want 200 with hoist_requests_pending", m.MetricsURL(), status, body)
	}
	promtoolCheck(t, body)
	if status, _ := scrape(t, http.DefaultClient, strings.TrimSuffix(m.MetricsURL(), "/metrics")+"/api/v1/me", ""); status != http.StatusNotFound {
		t.Errorf("the metrics listener serves the API: got %d, want 404", status)
	}
	if status, _ := scrape(t, apiClient(t, m), m.URL()+"/metrics", ""); status != http.StatusUnauthorized {
		t.Errorf("main listener /metrics with --metrics-listen only: got %d, want 401", status)
	}
}

// TestMetricsTokenFileRefused: the server does not start on a token file
// it cannot read, an empty or short token, or one others may read.
func TestMetricsTokenFileRefused(t *testing.T) {
	tests := []struct {
		name, file, want string
	}{
		{"missing", filepath.Join(t.TempDir(), "nope"), "cannot read"},
		{"empty", tokenFile(t, "", 0o600), "empty"},
		{"only a newline", tokenFile(t, "\n", 0o600), "empty"},
		{"short", tokenFile(t, "abc\n", 0o600), "at least"},
		{"two lines", tokenFile(t, metricsToken+"\n"+metricsToken+"\n", 0o600), "one line"},
		{"world-readable", tokenFile(t, metricsToken, 0o604), "others may read"},
		{"a directory", t.TempDir(), "regular file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := server.Start(context.Background(), server.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0",
				AdminPassword: "correct horse battery staple", Settings: hoist.DefaultApprovalSettings(), MetricsTokenFile: tc.file})
			if err == nil {
				m.Close()
				t.Fatal("the server started; want a refusal")
			}
			if hoist.ErrorCode(err) != hoist.EInvalid || !strings.Contains(hoist.ErrorMessage(err), tc.want) {
				t.Fatalf("got %v, want EInvalid saying %q", err, tc.want)
			}
		})
	}
}

// promtoolCheck runs Prometheus's own linter over a scrape body.
func promtoolCheck(t *testing.T, body string) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	testenv.Require(t, err == nil, "promtool (Debian package prometheus) is not installed")
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	// It exits 1 for a body it cannot parse and 3 for lint problems (a
	// counter without _total, a missing HELP): both fail the test.
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

// TestPrometheusScrapes starts a real Prometheus that scrapes the main
// listener over TLS with the bearer token from a credentials file, and the
// metrics listener without one, and waits until it reports both targets
// up.
func TestPrometheusScrapes(t *testing.T) {
	bin, err := exec.LookPath("prometheus")
	testenv.Require(t, err == nil, "prometheus (Debian package prometheus) is not installed")
	tok := tokenFile(t, metricsToken+"\n", 0o600)
	m := startMetrics(t, "127.0.0.1:0", tok)
	dir := t.TempDir()
	config := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: hoist
    scheme: https
    tls_config:
      ca_file: %s
    authorization:
      type: Bearer
      credentials_file: %s
    static_configs:
      - targets: [%q]
  - job_name: hoist-private
    static_configs:
      - targets: [%q]
`, m.CAPath(), tok, strings.TrimPrefix(m.URL(), "https://"), strings.TrimSuffix(strings.TrimPrefix(m.MetricsURL(), "http://"), "/metrics"))
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	web := freePort(t)
	var log bytes.Buffer
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"), "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+web, "--storage.tsdb.retention.time=1h", "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Kill() // the process this test started, by its pid
		_ = cmd.Wait()
	}()
	var last string
	for deadline := time.Now().Add(2 * time.Minute); ; {
		up, summary := targetsUp(web)
		if up["hoist"] && up["hoist-private"] {
			break
		}
		last = summary
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus did not report both targets up within 2 minutes; targets: %s\nprometheus log:\n%s", last, log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// targetsUp asks Prometheus at web which jobs' targets are up.
func targetsUp(web string) (map[string]bool, string) {
	res, err := http.Get("http://" + web + "/api/v1/targets")
	if err != nil {
		return nil, err.Error()
	}
	defer res.Body.Close()
	var out struct {
		Data struct {
			ActiveTargets []struct {
				Labels    map[string]string `json:"labels"`
				Health    string            `json:"health"`
				LastError string            `json:"lastError"`
			} `json:"activeTargets"`
		} `json:"data"`
	}
	data, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, string(data)
	}
	up := map[string]bool{}
	for _, tg := range out.Data.ActiveTargets {
		up[tg.Labels["job"]] = tg.Health == "up"
	}
	return up, string(data)
}

// freePort returns a loopback address no one listens on at the moment.
func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
