package e2e_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/link"
	"github.com/hoist-jit/hoist/server"
	"github.com/hoist-jit/hoist/testenv"
	"github.com/hoist-jit/hoist/wire"
)

// TestServerEndsWhatTheMachineKeeps: a machine whose agent told the server
// a session ended but kept it (a buggy or tampered agent, played here by
// the agent's own client) is caught twice over: by its check-in, which
// reports the session active after its end, and by the audit of a command
// started in it. Each raises one alert, and the revoke it sends ends the
// session on the machine, elevated programs and all.
func TestServerEndsWhatTheMachineKeeps(t *testing.T) {
	// One settable clock for the server and the machine: the test moves
	// time past an end without waiting for it, and the two agree.
	clk := testenv.NewClock(time.Now())
	srv, err := server.Start(ctx, server.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Clock: clk.Now,
		AdminPassword: "correct horse battery staple", Settings: hoist.DefaultApprovalSettings()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	f := newFleetOn(t, srv, func(c *agent.Config) { c.Clock = clk })
	c, err := link.Load(f.state)
	if err != nil {
		t.Fatal(err)
	}

	// 1. Reported active after its end, at check-in.
	sid, blocking := f.keptSession(c)
	if err := f.link.Checkin(ctx); err != nil { // within the allowance: no alarm yet
		t.Fatal(err)
	}
	if n := f.auditActions()[control.AlertSessionAliveAfterEnd]; n != 0 {
		t.Fatalf("%d alerts within the allowance, want none", n)
	}
	clk.Add(2 * time.Minute)
	if err := f.link.Checkin(ctx); err != nil {
		t.Fatal(err)
	}
	f.endedByTheAlert(sid, blocking)

	// 2. A command started in it after its end, in the audit.
	sid, blocking = f.keptSession(c)
	clk.Add(30 * time.Second) // past the clock skew allowed a command, within the allowance of a check-in
	if code, _, errOut := f.sh("hoist run -- id -u"); code != 0 {
		t.Fatalf("hoist run in the kept session: exit %d: %s", code, errOut)
	}
	f.endedByTheAlert(sid, blocking)

	for range 2 {
		if err := f.link.Checkin(ctx); err != nil {
			t.Fatal(err)
		}
	}
	got := f.auditActions()
	if got[control.AlertSessionAliveAfterEnd] != 1 || got[control.AlertActivityAfterEnd] != 1 {
		t.Fatalf("alerts: %d alive after end, %d activity after end; want one each", got[control.AlertSessionAliveAfterEnd], got[control.AlertActivityAfterEnd])
	}

	// A report that is not well-formed is refused as invalid, over HTTP.
	facts := link.Facts(hoist.Version)
	facts.Sessions = make([]wire.AgentSession, wire.MaxAgentSessions+1)
	for i := range facts.Sessions {
		facts.Sessions[i] = wire.AgentSession{ID: hoist.NewID(hoist.SessionIDPrefix), User: "bob", State: "active", NotAfter: time.Now()}
	}
	if _, err := c.Checkin(ctx, facts); hoist.ErrorCode(err) != hoist.EInvalid {
		t.Fatalf("a check-in reporting %d sessions: %v, want %s", len(facts.Sessions), err, hoist.EInvalid)
	}
}

// keptSession starts an approved session for the fleet's user with an
// elevated sleep in it, then tells the server, as the agent, that the
// session ended, while the machine keeps it.
func (f *fleet) keptSession(c *link.Client) (string, *exec.Cmd) {
	f.t.Helper()
	id := f.request("--for 1h")
	if res, _ := f.srv.Service().Approve(ctx, adminActor, []string{id}, time.Hour, ""); !res[0].OK {
		f.t.Fatalf("approve: %+v", res)
	}
	testenv.WaitUntil(f.t, "the session", func() bool { return f.agent.Status(f.user.Name).State == "active" })
	sid := f.agent.Status(f.user.Name).SessionID
	blocking := f.command("exec hoist run -- sleep 1000")
	if err := blocking.Start(); err != nil {
		f.t.Fatal(err)
	}
	g, err := f.cgs.OpenGroup(sid)
	if err != nil {
		f.t.Fatal(err)
	}
	testenv.WaitUntil(f.t, "the elevated sleep", func() bool { pids, _ := g.Pids(); return len(pids) == 1 })
	if err := c.SessionEnded(ctx, sid); err != nil {
		f.t.Fatal(err)
	}
	s, err := f.srv.Service().Session(ctx, adminActor, sid)
	if err != nil || s.State != hoist.SessionEnded {
		f.t.Fatalf("the server's session: %+v %v, want ended", s, err)
	}
	if st := f.agent.Status(f.user.Name); st.State != "active" {
		f.t.Fatalf("the machine's session is %s, want still active", st.State)
	}
	return sid, blocking
}

// endedByTheAlert waits for the revoke an alert sent to end session sid on
// the machine, and the elevated program blocking with it.
func (f *fleet) endedByTheAlert(sid string, blocking *exec.Cmd) {
	f.t.Helper()
	testenv.WaitUntil(f.t, "the alert's revoke to end the session", func() bool {
		st := f.agent.Status(f.user.Name)
		return st.State == "ended" && !st.Closing
	})
	err := blocking.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 143 {
		f.t.Fatalf("the elevated program ended with %v, want 143 (SIGTERM)", err)
	}
	st := f.agent.Status(f.user.Name)
	if st.SessionID != sid || st.State != "ended" || st.EndReason != string(hoist.EndRevoked) {
		f.t.Fatalf("the machine's session after the alert: %+v", st)
	}
	var notes []string
	_ = f.srv.Service().Audit(ctx, adminActor, hoist.AuditFilter{Subject: sid}, func(r hoist.AuditRecord) error {
		notes = append(notes, r.Action)
		return nil
	})
	if !strings.Contains(strings.Join(notes, " "), "alert.") {
		f.t.Fatalf("the session's audit names no alert: %v", notes)
	}
}
