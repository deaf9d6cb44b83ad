package cli_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/link"
	"github.com/hoist-jit/hoist/wire"
)

// TestAgentNames: a second machine enrols under the first one's hostname.
// The agents table and the approvals an approver reads flag it and show
// which agent is which; the admin pins the names with the CLI.
func TestAgentNames(t *testing.T) {
	m := startServer(t)
	admin := loggedInAdmin(t, m)
	ctx := context.Background()
	for _, name := range []string{"JIT Mode (Startup and Approval)", "JIT Mode", "JIT Mode (Child Processes)"} {
		if _, err := m.Service().SetPolicyActive(ctx, control.Actor{Name: "admin", Role: hoist.RoleAdmin}, name, true); err != nil {
			t.Fatal(err)
		}
	}
	out := admin.ok("", "admin", "enroll-token", "--uses", "2")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	tok := lines[len(lines)-1]
	facts := wire.AgentFacts{Hostname: "ws-42", Version: hoist.Version, OS: "linux", Kernel: "6.1"}
	idA, err := link.Enroll(ctx, "", tok, t.TempDir(), facts)
	if err != nil {
		t.Fatal(err)
	}
	stateB := t.TempDir()
	idB, err := link.Enroll(ctx, "", tok, stateB, facts) // the impostor
	if err != nil {
		t.Fatal(err)
	}
	b, err := link.Load(stateB)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Request(ctx, "bob", "disk", time.Hour); err != nil {
		t.Fatal(err)
	}

	table := admin.ok("", "admin", "agents")
	if !strings.Contains(table, "another agent also calls itself ws-42 ("+idB.AgentID+")") ||
		!strings.Contains(table, "another agent also calls itself ws-42 ("+idA.AgentID+")") {
		t.Errorf("agents table does not flag both agents:\n%s", table)
	}
	var pending []map[string]any
	if err := json.Unmarshal([]byte(admin.ok("", "admin", "approvals", "--json")), &pending); err != nil {
		t.Fatal(err)
	}
	if len(pending) != 1 || pending[0]["agent_id"] != idB.AgentID || pending[0]["duplicate_hostname"] != true || pending[0]["host"] != "ws-42" {
		t.Fatalf("approvals --json: got %v, want bob's request from %s flagged", pending, idB.AgentID)
	}
	if table := admin.ok("", "admin", "approvals"); !strings.Contains(table, idB.AgentID[:12]) || !strings.Contains(table, "(!) another agent also calls itself ws-42") {
		t.Errorf("approvals table lacks the agent's id or the warning:\n%s", table)
	}

	if out := admin.ok("", "admin", "agents", "pin", idA.AgentID, "ws-42"); !strings.Contains(out, "now named ws-42") {
		t.Errorf("pin: got %q", out)
	}
	if r := admin.run("", "admin", "agents", "pin", idB.AgentID, "WS-42"); r.code == 0 || !strings.Contains(r.stderr, idA.AgentID) {
		t.Errorf("pin A's name on B: exit %d, stderr %q; want a refusal naming %s", r.code, r.stderr, idA.AgentID)
	}
	if r := admin.run("", "admin", "agents", "pin", idB.AgentID, "ws 43"); r.code == 0 || !strings.Contains(r.stderr, "name") {
		t.Errorf("pin a bad name: exit %d, stderr %q; want a refusal naming the name", r.code, r.stderr)
	}
	var pinned wire.AgentView
	if err := json.Unmarshal([]byte(admin.ok("", "admin", "agent", "pin", idB.AgentID, "build-3", "--json")), &pinned); err != nil {
		t.Fatal(err)
	}
	if pinned.Name != "build-3" || !pinned.HostnameMismatch || pinned.Hostname != "ws-42" {
		t.Errorf("pin B --json: got %+v, want build-3 reporting ws-42, flagged", pinned)
	}
	if table := admin.ok("", "admin", "agents"); !strings.Contains(table, "build-3 (pinned; reports ws-42)") {
		t.Errorf("agents table after the pin:\n%s", table)
	}
	if out := admin.ok("", "admin", "agents", "unpin", idB.AgentID); !strings.Contains(out, "no pinned name") {
		t.Errorf("unpin: got %q", out)
	}
	if r := admin.run("", "admin", "agents", "unpin", "agt_aaaaaaaaaaaaaaaa"); r.code == 0 {
		t.Errorf("unpin an unknown agent: exit 0")
	}
}
