package cli_test

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/link"
	"github.com/hoist-jit/hoist/wire"
)

// TestAdminOfflineAndEmergencyCodes: hoist admin offline approve prints
// the response on its last line, one the machine's enrolment key answers;
// hoist admin emergency-codes issue prints codes once, ls lists them
// without values, revoke revokes; bad flags are refused with a message.
func TestAdminOfflineAndEmergencyCodes(t *testing.T) {
	m := startServer(t)
	admin := loggedInAdmin(t, m)
	tok, _, err := m.Service().CreateEnrollToken(context.Background(), control.Actor{Name: "admin", Role: hoist.RoleAdmin}, "", time.Hour, 1)
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	id, err := link.Enroll(context.Background(), "", tok, state, link.Facts(hoist.Version))
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(agent.OfflineKeyFile(state))
	info, _ := os.Stat(agent.OfflineKeyFile(state))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("the offline key file: %v, mode %v; want 0600", err, info.Mode())
	}
	var k struct {
		AgentID string `json:"agent_id"`
		Key     []byte `json:"key"`
	}
	if err := json.Unmarshal(data, &k); err != nil || k.AgentID != id.AgentID || len(k.Key) != hoist.OfflineKeySize {
		t.Fatalf("the offline key file holds %s", data)
	}

	ch := hoist.NewChallenge(id.AgentID, "alice", 8, 7)
	for _, bad := range [][]string{
		{"admin", "offline", "approve", ch.String()},
		{"admin", "offline", "approve", ch.String(), "--once", "--for", "1h"},
		{"admin", "offline", "approve", ch.String(), "--for", "2h"},
		{"admin", "offline", "approve", "AAAA-AAAA-AAAB", "--once"},
	} {
		if r := admin.run("", bad...); r.code == 0 || r.stderr == "" {
			t.Errorf("hoist %s: exit %d, stderr %q; want a refusal", strings.Join(bad, " "), r.code, r.stderr)
		}
	}
	out := admin.ok("", "admin", "offline", "approve", strings.ToLower(ch.String()), "--for", "45m")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	r, err := hoist.ParseResponse(lines[len(lines)-1])
	if err != nil || !hoist.VerifyResponse(k.Key, ch, r) || r.Duration() != 45*time.Minute {
		t.Fatalf("hoist admin offline approve printed %q: not a 45m response with the machine's key", out)
	}

	out = admin.ok("", "admin", "emergency-codes", "issue", "--agent", id.AgentID, "--count", "2", "--for", "30m")
	var codes []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if _, err := hoist.ParseCode(f[0], "code"); err != nil || len(f) != 3 || f[2] != "30m" {
			t.Fatalf("issue printed %q", out)
		}
		codes = append(codes, f[1])
	}
	var list []wire.EmergencyCodeView
	if err := json.Unmarshal([]byte(admin.ok("", "admin", "emergency-codes", "ls", "--json")), &list); err != nil || len(list) != 2 || list[0].Code != "" || list[0].State != "outstanding" {
		t.Fatalf("ls --json: %+v, %v; want two outstanding codes without values", list, err)
	}
	admin.ok("", "admin", "emergency-codes", "revoke", codes[0])
	if r := admin.run("", "admin", "emergency-codes", "revoke", codes[0]); r.code == 0 || !strings.Contains(r.stderr, "already revoked") {
		t.Errorf("a second revoke: exit %d, %q", r.code, r.stderr)
	}
	if out := admin.ok("", "admin", "emergency-codes", "ls"); !strings.Contains(out, "revoked") || !strings.Contains(out, "outstanding") {
		t.Errorf("ls printed %q", out)
	}
	if r := admin.run("", "admin", "emergency-codes", "issue", "--count", "2"); r.code == 0 || !strings.Contains(r.stderr, "--agent") {
		t.Errorf("issue without a target: exit %d, %q", r.code, r.stderr)
	}
}
