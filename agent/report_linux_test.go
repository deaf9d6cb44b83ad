package agent_test

import (
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/testenv"
	"github.com/hoist-jit/hoist/wire"
)

// TestSessionReports: the agent reports a session while it is active, as
// ended once it has ended, and not at all an hour after that.
func TestSessionReports(t *testing.T) {
	r := newRig(t)
	if got := r.agent.SessionReports(); len(got) != 0 {
		t.Fatalf("reports before any session: %+v", got)
	}
	sid := r.grant(time.Hour)
	got := r.agent.SessionReports()
	if len(got) != 1 || got[0].ID != sid || got[0].User != r.user.Name || got[0].State != wire.SessionReportActive ||
		!got[0].NotAfter.Equal(r.agent.Status(r.user.Name).ExpiresAt) || got[0].Local || got[0].Check() != nil {
		t.Fatalf("reports of an active session: %+v", got)
	}
	if _, err := r.agent.EndSession(sid, string(hoist.EndRevoked), "test"); err != nil {
		t.Fatal(err)
	}
	testenv.WaitUntil(t, "the session to end", func() bool { return r.agent.Status(r.user.Name).State == "ended" })
	got = r.agent.SessionReports()
	if len(got) != 1 || got[0].State != wire.SessionReportEnded || got[0].EndedAt.IsZero() {
		t.Fatalf("reports of an ended session: %+v", got)
	}
	r.clock.Add(wire.ReportEndedFor + time.Minute)
	if got := r.agent.SessionReports(); len(got) != 0 {
		t.Fatalf("reports an hour after the end: %+v", got)
	}
}
