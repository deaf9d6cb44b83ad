package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/cli"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/link"
	"github.com/hoist-jit/hoist/server"
	"github.com/hoist-jit/hoist/wire"
)

const adminPassword = "correct horse battery staple"

// startServer runs a real hoist-server on a loopback port with SQLite in a
// temporary data directory.
func startServer(t *testing.T) *server.Main {
	t.Helper()
	m, err := server.Start(context.Background(), server.Config{
		DataDir:       t.TempDir(),
		Listen:        "127.0.0.1:0",
		AdminPassword: adminPassword,
		Settings:      hoist.DefaultApprovalSettings(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// user is someone running hoist with a home directory of their own.
type user struct {
	t    *testing.T
	home string
}

type result struct {
	code           int
	stdout, stderr string
}

func (u user) run(stdin string, args ...string) result {
	var out, errOut bytes.Buffer
	env := cli.Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut, Getenv: func(k string) string {
		if k == "HOME" {
			return u.home
		}
		return ""
	}}
	code := cli.Run(args, env)
	return result{code, out.String(), errOut.String()}
}

func (u user) ok(stdin string, args ...string) string {
	u.t.Helper()
	r := u.run(stdin, args...)
	if r.code != 0 {
		u.t.Fatalf("hoist %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func loggedInAdmin(t *testing.T, m *server.Main) user {
	u := user{t: t, home: t.TempDir()}
	out := u.ok(adminPassword+"\n", "admin", "login", "--server", m.URL(), "--user", "admin", "--password-stdin", "--ca", m.CAPath())
	if !strings.Contains(out, "logged in") {
		t.Fatalf("login said %q", out)
	}
	info, err := os.Stat(filepath.Join(u.home, ".config", "hoist", "admin.json"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("stored login: %v, mode %v; want 0600", err, info.Mode())
	}
	return u
}

// ask files a request as hoistd does for a user on a machine.
func ask(t *testing.T, m *server.Main, who, host, reason string, d time.Duration) string {
	t.Helper()
	r, _, err := m.Service().CreateRequest(context.Background(), control.RequestInput{User: who, Host: host, Reason: reason, Duration: d})
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

func TestAdminWorkflow(t *testing.T) {
	m := startServer(t)
	admin := loggedInAdmin(t, m)

	idA := ask(t, m, "alice", "ws-01", "install the printer driver", 2*time.Hour)
	idB := ask(t, m, "bob", "ws-02", "fix apt", 45*time.Minute)
	idC := ask(t, m, "carol", "ws-03", "", 0)
	idD := ask(t, m, "dave", "ws-04", "games", time.Hour)

	var pending []map[string]any
	if err := json.Unmarshal([]byte(admin.ok("", "admin", "approvals", "--json")), &pending); err != nil {
		t.Fatal(err)
	}
	if len(pending) != 4 {
		t.Fatalf("%d pending, want 4", len(pending))
	}
	byID := map[string]map[string]any{}
	for _, p := range pending {
		for _, key := range []string{"id", "user", "host", "reason", "requested_duration"} {
			if _, ok := p[key]; !ok {
				t.Fatalf("approvals --json entry lacks %q: %v", key, p)
			}
		}
		byID[p["id"].(string)] = p
	}
	if a := byID[idA]; a["user"] != "alice" || a["host"] != "ws-01" || a["requested_duration"] != "2h" || a["reason"] != "install the printer driver" {
		t.Fatalf("alice's request = %v", a)
	}
	if table := admin.ok("", "admin", "approvals"); !strings.Contains(table, idB) || !strings.Contains(table, "fix apt") {
		t.Fatalf("approvals table lacks bob's request:\n%s", table)
	}

	// Approve Selected: two at once For 1h, one One Time.
	out := admin.ok("", "admin", "approve", idA, idB, "--for", "1h")
	if strings.Count(out, "approved") != 2 {
		t.Fatalf("approve said %q", out)
	}
	admin.ok("", "admin", "approve", idC, "--once")
	admin.ok("", "admin", "deny", idD, "--reason", "not for games")

	var sessions []map[string]any
	if err := json.Unmarshal([]byte(admin.ok("", "admin", "sessions", "--json")), &sessions); err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 3 {
		t.Fatalf("%d active sessions, want 3: %v", len(sessions), sessions)
	}
	remaining := map[string]float64{}
	for _, s := range sessions {
		remaining[s["user"].(string)] = s["remaining_seconds"].(float64)
	}
	if r := remaining["alice"]; r < 3590 || r > 3600 {
		t.Fatalf("alice has %v s left, want about 3600 (For 1h)", r)
	}
	if r := remaining["carol"]; r < 1790 || r > 1800 {
		t.Fatalf("carol has %v s left, want about 1800 (One Time)", r)
	}

	admin.ok("", "admin", "revoke", idA)
	if err := json.Unmarshal([]byte(admin.ok("", "admin", "sessions", "--json")), &sessions); err != nil {
		t.Fatal(err)
	}
	if len(sessions) != 2 {
		t.Fatalf("%d active sessions after revoke, want 2", len(sessions))
	}
	denied, _ := m.Service().Request(context.Background(), control.Actor{Name: "t", Role: hoist.RoleAuditor}, idD)
	if denied.State != hoist.RequestDenied || denied.DecisionReason != "not for games" || denied.DecidedBy != "admin" {
		t.Fatalf("dave's request = %s by %s (%q)", denied.State, denied.DecidedBy, denied.DecisionReason)
	}
	if out := admin.ok("", "admin", "approvals"); !strings.Contains(out, "no requests waiting") {
		t.Fatalf("approvals after deciding everything: %q", out)
	}
}

func TestAdminRefusals(t *testing.T) {
	m := startServer(t)
	admin := loggedInAdmin(t, m)
	id := ask(t, m, "alice", "ws-01", "", time.Hour)
	cases := []struct {
		name    string
		stdin   string
		args    []string
		wantErr string
	}{
		{"neither for nor once", "", []string{"admin", "approve", id}, "--for DURATION"},
		{"both for and once", "", []string{"admin", "approve", id, "--for", "1h", "--once"}, "not both"},
		{"not a duration", "", []string{"admin", "approve", id, "--for", "soon"}, "not a duration"},
		{"over the maximum", "", []string{"admin", "approve", id, "--for", "9h"}, "out of range"},
		{"unknown id", "", []string{"admin", "approve", "req_nope", "--for", "1h"}, "no request"},
		{"revoke a pending request", "", []string{"admin", "revoke", id}, "no session"},
		{"no ids", "", []string{"admin", "deny"}, "requires at least 1 arg"},
		{"unknown flag", "", []string{"admin", "approvals", "--jsn"}, "unknown flag"},
		{"wrong password", "nope\n", []string{"admin", "login", "--server", m.URL(), "--user", "admin", "--password-stdin", "--ca", m.CAPath()}, "wrong user name or password"},
		{"untrusted server", adminPassword + "\n", []string{"admin", "login", "--server", m.URL(), "--user", "admin", "--password-stdin"}, "certificate"},
		{"bad URL", adminPassword + "\n", []string{"admin", "login", "--server", "ftp:/x", "--user", "admin", "--password-stdin"}, "must look like https://"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := admin.run(tc.stdin, tc.args...)
			if r.code == 0 || !strings.Contains(r.stderr, tc.wantErr) {
				t.Fatalf("exit %d, stderr %q; want failure mentioning %q", r.code, r.stderr, tc.wantErr)
			}
		})
	}
	// None of it changed anything.
	r, _ := m.Service().Request(context.Background(), control.Actor{Role: hoist.RoleAuditor}, id)
	if r.State != hoist.RequestPending || r.Version != 1 {
		t.Fatalf("request after refusals: %s v%d, want pending v1", r.State, r.Version)
	}
	// A failed login did not replace the stored one.
	admin.ok("", "admin", "approvals")

	stranger := user{t: t, home: t.TempDir()}
	if r := stranger.run("", "admin", "approvals"); r.code == 0 || !strings.Contains(r.stderr, "not logged in") {
		t.Fatalf("without login: exit %d, %q", r.code, r.stderr)
	}
}

func TestLogoutRevokesTheToken(t *testing.T) {
	m := startServer(t)
	admin := loggedInAdmin(t, m)
	data, err := os.ReadFile(filepath.Join(admin.home, ".config", "hoist", "admin.json"))
	if err != nil {
		t.Fatal(err)
	}
	var stored struct{ Token string }
	_ = json.Unmarshal(data, &stored)
	admin.ok("", "admin", "logout")
	if _, err := m.Service().Authenticate(context.Background(), stored.Token); hoist.ErrorCode(err) != hoist.EUnauthorized {
		t.Fatalf("token after logout: %v, want unauthorized", err)
	}
}

func TestEnrolmentTokensAndAgents(t *testing.T) {
	m := startServer(t)
	admin := loggedInAdmin(t, m)
	out := admin.ok("", "admin", "enroll-token", "--ttl", "1h", "--uses", "2")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	tok := lines[len(lines)-1]
	state := t.TempDir()
	id, err := link.Enroll(context.Background(), "", tok, state, wire.AgentFacts{Hostname: "ws-42", Version: hoist.Version, OS: "linux", Kernel: "6.1"})
	if err != nil {
		t.Fatalf("enrol with the printed token: %v", err)
	}
	var agents []map[string]any
	if err := json.Unmarshal([]byte(admin.ok("", "admin", "agents", "--json")), &agents); err != nil {
		t.Fatal(err)
	}
	if len(agents) != 1 || agents[0]["hostname"] != "ws-42" || agents[0]["version"] != hoist.Version || agents[0]["id"] != id.AgentID {
		t.Fatalf("agents = %v", agents)
	}
	if table := admin.ok("", "admin", "agents"); !strings.Contains(table, "ws-42") {
		t.Fatalf("agents table lacks ws-42:\n%s", table)
	}
	c, err := link.Load(state)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Checkin(context.Background(), link.Facts(hoist.Version)); err != nil {
		t.Fatalf("check-in before revoke: %v", err)
	}
	admin.ok("", "admin", "agent", "revoke", id.AgentID)
	if _, err := c.Checkin(context.Background(), link.Facts(hoist.Version)); hoist.ErrorCode(err) != hoist.EUnauthorized {
		t.Fatalf("check-in after revoke: %v, want unauthorized", err)
	}
	if r := admin.run("", "admin", "enroll-token", "--ttl", "1s"); r.code == 0 || !strings.Contains(r.stderr, "lifetime") {
		t.Fatalf("a 1s token: exit %d, %q", r.code, r.stderr)
	}
}
