package cli_test

import (
	"bufio"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/wire"
)

// TestAdminAudit reads the audit log of a real server through hoist admin
// audit, with each filter, exports it as JSON lines and verifies it; an
// auditor may too, an approver only for the session they approved.
func TestAdminAudit(t *testing.T) {
	m := startServer(t)
	admin := loggedInAdmin(t, m)
	idA := ask(t, m, "alice", "ws-01", "printer driver", time.Hour)
	idB := ask(t, m, "bob", "ws-02", "fix apt", time.Hour)
	admin.ok("long enough password\n", "admin", "users", "create", "aud1", "--role", "auditor", "--password-stdin")
	admin.ok("long enough password\n", "admin", "users", "create", "appr1", "--role", "approver", "--password-stdin")
	approver := loginAs(t, m, "appr1")
	approver.ok("", "admin", "approve", idA, "--for", "1h")
	admin.ok("", "admin", "deny", idB, "--reason", "not now")

	records := func(u user, args ...string) []hoist.AuditRecord {
		t.Helper()
		var recs []hoist.AuditRecord
		out := u.ok("", append([]string{"admin", "audit", "--json"}, args...)...)
		if err := json.Unmarshal([]byte(out), &recs); err != nil {
			t.Fatalf("audit --json %v: %v\n%s", args, err, out)
		}
		return recs
	}
	actions := func(recs []hoist.AuditRecord) []string {
		var out []string
		for _, r := range recs {
			out = append(out, r.Action)
		}
		return out
	}
	all := records(admin)
	if len(all) < 6 {
		t.Fatalf("the whole log: %v, want the logins, the users, the requests and their decisions", actions(all))
	}
	for _, tc := range []struct {
		name string
		args []string
		keep func(hoist.AuditRecord) bool
	}{
		{"action prefix", []string{"--action", "request."}, func(r hoist.AuditRecord) bool { return strings.HasPrefix(r.Action, "request.") }},
		{"exact action", []string{"--action", "request.denied"}, func(r hoist.AuditRecord) bool { return r.Action == "request.denied" }},
		{"actor", []string{"--actor", "appr1"}, func(r hoist.AuditRecord) bool { return r.Actor == "appr1" }},
		{"subject", []string{"--subject", idB}, func(r hoist.AuditRecord) bool { return r.Subject == idB }},
		{"since an hour ago", []string{"--since", "1h"}, func(r hoist.AuditRecord) bool { return true }},
		{"since an RFC 3339 time", []string{"--since", all[2].Time.Format(time.RFC3339Nano)}, func(r hoist.AuditRecord) bool { return r.Seq >= all[2].Seq }},
		{"until", []string{"--until", all[2].Time.Format(time.RFC3339Nano)}, func(r hoist.AuditRecord) bool { return r.Seq < all[2].Seq }},
		{"since tomorrow", []string{"--since", time.Now().Add(24 * time.Hour).Format(time.RFC3339)}, func(r hoist.AuditRecord) bool { return false }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for _, r := range all {
				if tc.keep(r) {
					want = append(want, r.Action)
				}
			}
			if got := actions(records(admin, tc.args...)); strings.Join(got, ",") != strings.Join(want, ",") {
				t.Errorf("got %v, want %v", got, want)
			}
		})
	}
	if got := records(admin, "--limit", "2"); len(got) != 2 || got[0].Seq != all[0].Seq {
		t.Errorf("--limit 2: %v", actions(got))
	}
	if table := admin.ok("", "admin", "audit", "--subject", idB); !strings.Contains(table, "request.denied") || !strings.Contains(table, `reason="not now"`) {
		t.Errorf("the table lacks the denial and its reason as a field:\n%s", table)
	}

	// export: one JSON record a line, the same records.
	out := admin.ok("", "admin", "audit", "export", "--action", "request.")
	sc := bufio.NewScanner(strings.NewReader(out))
	n := 0
	for sc.Scan() {
		var r hoist.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || !strings.HasPrefix(r.Action, "request.") {
			t.Fatalf("export line %q: %v", sc.Text(), err)
		}
		n++
	}
	if n != len(records(admin, "--action", "request.")) {
		t.Errorf("export gave %d lines, the list %d records", n, len(records(admin, "--action", "request.")))
	}
	if v := admin.ok("", "admin", "audit", "verify"); !strings.Contains(v, "intact") {
		t.Errorf("verify said %q", v)
	}

	auditor := loginAs(t, m, "aud1")
	if got := records(auditor, "--action", "request.denied"); len(got) != 1 {
		t.Errorf("the auditor's view: %v", actions(got))
	}
	auditor.ok("", "admin", "audit", "verify")

	// The approver: the records of the session they approved, nothing else.
	if r := approver.run("", "admin", "audit"); r.code == 0 || !strings.Contains(r.stderr, "session it approved") {
		t.Errorf("approver, whole log: exit %d, %q; want a refusal that says what an approver may read", r.code, r.stderr)
	}
	if got := records(approver, "--subject", idA); len(got) == 0 {
		t.Errorf("the approver cannot read the records of the request they approved")
	}
	if r := approver.run("", "admin", "audit", "--subject", idB); r.code == 0 {
		t.Errorf("the approver read the records of a request someone else decided: %s", r.stdout)
	}
	if r := approver.run("", "admin", "audit", "export"); r.code == 0 {
		t.Errorf("the approver exported the log")
	}
	if r := admin.run("", "admin", "audit", "--since", "yesterday-ish"); r.code == 0 || !strings.Contains(r.stderr, "--since") {
		t.Errorf("a bad --since: exit %d, %q", r.code, r.stderr)
	}
}

func loginAs(t *testing.T, m interface {
	URL() string
	CAPath() string
}, name string) user {
	t.Helper()
	u := user{t: t, home: t.TempDir()}
	u.ok("long enough password\n", "admin", "login", "--server", m.URL(), "--user", name, "--password-stdin", "--ca", m.CAPath())
	return u
}

// TestSessionRecordingCommand: hoist admin sessions recording writes a
// session's recording to stdout, chooses among several with --index (and
// says there are several), lists them, and refuses what is not there.
func TestSessionRecordingCommand(t *testing.T) {
	m := startServer(t)
	admin := loggedInAdmin(t, m)
	svc := m.Service()
	agentRec := hoist.AgentRecord{ID: hoist.NewID(hoist.AgentIDPrefix), Hostname: "ws-01"}
	id := ask(t, m, "alice", "ws-01", "", time.Hour)
	admin.ok("", "admin", "approve", id, "--for", "1h")
	sess, err := svc.Session(context.Background(), control.Actor{Name: "admin", Role: hoist.RoleAdmin}, id)
	if err != nil {
		t.Fatal(err)
	}
	// The session is on agentRec, as if its request had come through it.
	sess.Agent, sess.Version = agentRec.ID, sess.Version+1
	err = m.Store().Update(context.Background(), func(tx hoist.Tx) error {
		if err := tx.InsertAgent(context.Background(), agentRec); err != nil {
			return err
		}
		return tx.UpdateSession(context.Background(), sess)
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := admin.run("", "admin", "sessions", "recording", sess.ID); r.code == 0 || !strings.Contains(r.stderr, "no terminal recording") {
		t.Errorf("a session without recordings: exit %d, %q", r.code, r.stderr)
	}
	casts := []string{"{\"version\":2,\"width\":80,\"height\":24,\"timestamp\":1}\n[0.1, \"o\", \"first\"]\n", "{\"version\":2,\"width\":80,\"height\":24,\"timestamp\":2}\n[0.1, \"o\", \"second\"]\n"}
	for i, c := range casts {
		_, err := svc.AgentRecording(context.Background(), agentRec, hoist.NewID(hoist.RecordingIDPrefix), wire.RecordingChunk{Session: sess.ID, User: "alice",
			Argv: []string{"bash"}, Started: time.Now().Add(time.Duration(i) * time.Second), Ended: time.Now(), Data: []byte(c), Final: true})
		if err != nil {
			t.Fatal(err)
		}
	}
	r := admin.run("", "admin", "sessions", "recording", sess.ID)
	if r.code != 0 || r.stdout != casts[0] || !strings.Contains(r.stderr, "2 recordings") {
		t.Errorf("the first of two: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	if out := admin.ok("", "admin", "sessions", "recording", sess.ID, "--index", "2"); out != casts[1] {
		t.Errorf("--index 2: %q", out)
	}
	if out := admin.ok("", "admin", "sessions", "recording", sess.ID, "--list"); strings.Count(out, "bash") != 2 {
		t.Errorf("--list: %q", out)
	}
	if r := admin.run("", "admin", "sessions", "recording", sess.ID, "--index", "3"); r.code == 0 || !strings.Contains(r.stderr, "1 to 2") {
		t.Errorf("--index 3: exit %d, %q", r.code, r.stderr)
	}
}
