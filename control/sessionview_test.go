package control_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/wire"
)

// approvedSession is a session of alice on agent rec's machine that carol
// approved.
func approvedSession(t *testing.T, f *fixture) (hoist.AgentRecord, hoist.Session) {
	t.Helper()
	rec := hoist.AgentRecord{ID: hoist.NewID(hoist.AgentIDPrefix), Hostname: "ws-07"}
	if err := f.store.Update(ctx, func(tx hoist.Tx) error { return tx.InsertAgent(ctx, rec) }); err != nil {
		t.Fatal(err)
	}
	r := f.request(t, "alice", rec.Name())
	res, err := f.svc.Approve(ctx, f.approver, []string{r.ID}, time.Hour, "")
	if err != nil || len(res) != 1 || !res[0].OK {
		t.Fatalf("approve: %+v %v", res, err)
	}
	// The session is this agent's (a request without an agent needs no JIT
	// policies to be approved, which this test is not about).
	sess := *res[0].Session
	sess.Agent, sess.Version = rec.ID, sess.Version+1
	if err := f.store.Update(ctx, func(tx hoist.Tx) error { return tx.UpdateSession(ctx, sess) }); err != nil {
		t.Fatal(err)
	}
	return rec, sess
}

// TestSessionViewFromAgentEvents pins the contract of the agent's records
// the session page reads: session.commands batches (exits arriving in a
// later batch, the final one with its summary) and session.changes
// reports, each through the normal agent-event path.
func TestSessionViewFromAgentEvents(t *testing.T) {
	f := newFixture(t)
	rec, sess := approvedSession(t, f)
	at := f.clock.Now().UTC()
	events := []wire.AgentAuditEvent{
		{ID: "evt_c1", Action: "session.commands", Actor: "alice", Subject: sess.ID, Time: at, Detail: map[string]any{
			"source": "bpf",
			"commands": []any{
				map[string]any{"n": 1, "at": at, "pid": 100, "ppid": 99, "uid": 0, "path": "/bin/sh", "exe": "/usr/bin/dash", "argv": []string{"sh", "-c", "useradd -m bob"}, "cwd": "/root"},
				map[string]any{"n": 2, "at": at, "pid": 101, "ppid": 100, "uid": 0, "path": "/usr/sbin/useradd", "argv": []string{"useradd", "-m", "bob"}, "exit_status": 0, "gone": true},
			}}},
		{ID: "evt_c2", Action: "session.commands", Actor: "alice", Subject: sess.ID, Time: at, Detail: map[string]any{
			"source": "bpf", "commands": []any{}, "exits": []any{map[string]any{"n": 1, "exit_status": 0}},
			"final": true, "recorded": 2, "omitted": 7, "omitted_programs": 1, "summary": "7 more execs of 1 distinct programs omitted"}},
		{ID: "evt_x1", Action: "session.changes", Actor: "hoistd", Subject: sess.ID, Time: at, Detail: map[string]any{
			"changes": []any{map[string]any{"kind": "user", "name": "bob", "change": "added", "detail": "uid 1001"}}, "omitted": 0}},
		{ID: "evt_x2", Action: "session.changes", Actor: "hoistd", Subject: sess.ID, Time: at, Detail: map[string]any{
			"changes": []any{map[string]any{"kind": "package", "name": "curl", "change": "added"}}, "omitted": 2}},
	}
	if _, err := f.svc.AgentAudit(ctx, rec, events); err != nil {
		t.Fatal(err)
	}
	v, err := f.svc.SessionView(ctx, f.auditor, sess.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Commands) != 2 || !slices.Equal(v.Commands[1].Argv, []string{"useradd", "-m", "bob"}) || v.Commands[0].Cwd != "/root" {
		t.Fatalf("commands = %+v", v.Commands)
	}
	if v.Commands[0].ExitStatus == nil || v.Commands[1].ExitStatus == nil || !v.Commands[1].Gone || v.Commands[0].Host != "ws-07" {
		t.Errorf("exit statuses and facts: %+v", v.Commands)
	}
	if !v.CommandsFinal || v.CommandsOmitted != 7 || v.CommandsSummary == "" || v.CommandsSource != "bpf" {
		t.Errorf("summary: final %v omitted %d %q source %q", v.CommandsFinal, v.CommandsOmitted, v.CommandsSummary, v.CommandsSource)
	}
	want := []control.SessionChange{{Kind: "user", Name: "bob", Change: "added", Detail: "uid 1001"}, {Kind: "package", Name: "curl", Change: "added"}}
	if !slices.Equal(v.Changes, want) || v.ChangesOmitted != 2 {
		t.Errorf("changes = %+v (omitted %d), want %+v", v.Changes, v.ChangesOmitted, want)
	}
	if !slices.Contains(v.Approvers, "carol") || v.Request == nil || v.Request.Reason != "driver" {
		t.Errorf("approvers %v, request %+v", v.Approvers, v.Request)
	}
	found, err := f.svc.SearchCommands(ctx, f.auditor, "USERADD", 0)
	if err != nil || len(found) != 2 || found[0].Session != sess.ID {
		t.Errorf("search useradd: %+v %v", found, err)
	}
	if _, err := f.svc.SearchCommands(ctx, f.auditor, strings.Repeat("a", 257), 0); hoist.ErrorCode(err) != hoist.EInvalid {
		t.Errorf("a search of 257 bytes: %v, want invalid", err)
	}
}

// TestSessionCommandsOfAnotherAgentAreNotFiled: an agent cannot write
// commands into a session on another machine.
func TestSessionCommandsOfAnotherAgentAreNotFiled(t *testing.T) {
	f := newFixture(t)
	_, sess := approvedSession(t, f)
	other := hoist.AgentRecord{ID: hoist.NewID(hoist.AgentIDPrefix), Hostname: "ws-99"}
	if err := f.store.Update(ctx, func(tx hoist.Tx) error { return tx.InsertAgent(ctx, other) }); err != nil {
		t.Fatal(err)
	}
	ev := wire.AgentAuditEvent{ID: "evt_forge", Action: "session.commands", Actor: "alice", Subject: sess.ID, Time: f.clock.Now(), Detail: map[string]any{
		"commands": []any{map[string]any{"n": 1, "pid": 1, "argv": []string{"forged"}}}}}
	if _, err := f.svc.AgentAudit(ctx, other, []wire.AgentAuditEvent{ev}); err != nil {
		t.Fatal(err)
	}
	v, err := f.svc.SessionView(ctx, f.admin, sess.ID)
	if err != nil || len(v.Commands) != 0 {
		t.Fatalf("commands after another agent's event: %+v %v", v.Commands, err)
	}
}

// TestSessionPageRule: the admin, an auditor and the approver who approved
// the session may open its page; an approver who did not may not.
func TestSessionPageRule(t *testing.T) {
	f := newFixture(t)
	_, sess := approvedSession(t, f)
	if _, err := f.svc.CreateAdmin(ctx, f.admin, control.AdminInput{Name: "dave", Role: hoist.RoleApprover, Password: "password-of-dave"}); err != nil {
		t.Fatal(err)
	}
	dave := f.login(t, "dave", "password-of-dave")
	for _, tc := range []struct {
		name string
		who  control.Actor
		want string
	}{
		{"admin", f.admin, ""},
		{"auditor", f.auditor, ""},
		{"the approver who approved", f.approver, ""},
		{"another approver", dave, hoist.EForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := f.svc.SessionView(ctx, tc.who, sess.ID)
			if got := hoist.ErrorCode(err); (err == nil) != (tc.want == "") || (err != nil && got != tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := f.svc.SearchCommands(ctx, f.approver, "id", 0); hoist.ErrorCode(err) != hoist.EForbidden {
		t.Errorf("an approver's search: %v, want forbidden", err)
	}
}

// TestSearchCommandsKeepsToScope: an auditor scoped to computer groups
// finds only the programs of machines in them.
func TestSearchCommandsKeepsToScope(t *testing.T) {
	f := newFixture(t)
	rec, sess := approvedSession(t, f)
	ev := wire.AgentAuditEvent{ID: "evt_s1", Action: "session.commands", Actor: "alice", Subject: sess.ID, Time: f.clock.Now(), Detail: map[string]any{
		"commands": []any{map[string]any{"n": 1, "pid": 5, "ppid": 1, "argv": []string{"useradd", "eve"}}}}}
	if _, err := f.svc.AgentAudit(ctx, rec, []wire.AgentAuditEvent{ev}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateGroup(ctx, f.admin, hoist.ComputerGroup{Name: "Elsewhere", Rules: hoist.GroupRules{Hostname: "build-*"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.CreateAdmin(ctx, f.admin, control.AdminInput{Name: "sam", Role: hoist.RoleAuditor, Password: "password-of-sam", ApproverGroups: &[]string{"Elsewhere"}}); err != nil {
		t.Fatal(err)
	}
	sam := f.login(t, "sam", "password-of-sam")
	if got, err := f.svc.SearchCommands(ctx, f.auditor, "useradd", 0); err != nil || len(got) != 1 || got[0].Agent != rec.ID {
		t.Fatalf("unscoped auditor: %+v %v", got, err)
	}
	if got, err := f.svc.SearchCommands(ctx, sam, "useradd", 0); err != nil || len(got) != 0 {
		t.Errorf("auditor scoped to another group: %+v %v, want nothing", got, err)
	}
}
