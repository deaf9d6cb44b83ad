package control

import (
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

// TestJudgeReport is the session watch's decision as a table: the
// server's record, what the agent reports, when the agent was last seen
// and when it reports.
func TestJudgeReport(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	active := hoist.Session{ID: "ses_aaaaaaaaaaaaaaaa", User: "alice", State: hoist.SessionActive, NotBefore: t0, NotAfter: t0.Add(time.Hour)}
	ended := func(reason hoist.EndReason, at time.Time) hoist.Session {
		s := active
		s.State, s.EndReason, s.EndedAt = hoist.SessionEnded, reason, at
		return s
	}
	revokedAt := t0.Add(10 * time.Minute)
	report := func(state string, notAfter time.Time) wire.AgentSession {
		return wire.AgentSession{ID: active.ID, User: "alice", State: state, NotAfter: notAfter}
	}
	on, late := report(wire.SessionReportActive, active.NotAfter), report(wire.SessionReportActive, active.NotAfter.Add(3*time.Hour))
	tests := []struct {
		name     string
		sess     hoist.Session
		known    bool
		r        wire.AgentSession
		prevSeen time.Time
		now      time.Time
		want     string
	}{
		{"a session the server does not know", hoist.Session{ID: active.ID}, false, on, t0, t0, AuditLocalSessionReported},
		{"active within the window", active, true, on, t0, t0.Add(30 * time.Minute), ""},
		{"active just past the window: the agent's clock may be behind", active, true, on, t0, active.NotAfter.Add(30 * time.Second), ""},
		{"active well past the window, not swept yet", active, true, on, t0, active.NotAfter.Add(2 * time.Minute), AlertSessionAliveAfterEnd},
		{"active well past the window, expired", ended(hoist.EndExpired, active.NotAfter.Add(time.Second)), true, on, t0, active.NotAfter.Add(2 * time.Minute), AlertSessionAliveAfterEnd},
		{"ending past the window", ended(hoist.EndExpired, active.NotAfter), true, report(wire.SessionReportEnding, active.NotAfter), t0, active.NotAfter.Add(time.Hour), ""},
		{"revoked, not seen since: it may not have heard", ended(hoist.EndRevoked, revokedAt), true, on, revokedAt.Add(-time.Minute), revokedAt.Add(time.Hour), ""},
		{"revoked, seen since, within the allowance", ended(hoist.EndRevoked, revokedAt), true, on, revokedAt.Add(time.Second), revokedAt.Add(30 * time.Second), ""},
		{"revoked, seen since, past the allowance", ended(hoist.EndRevoked, revokedAt), true, on, revokedAt.Add(time.Second), revokedAt.Add(2 * time.Minute), AlertSessionAliveAfterEnd},
		{"exited on the machine, within the allowance", ended(hoist.EndExited, revokedAt), true, on, t0, revokedAt.Add(30 * time.Second), ""},
		{"exited on the machine, past the allowance", ended(hoist.EndExited, revokedAt), true, on, t0, revokedAt.Add(2 * time.Minute), AlertSessionAliveAfterEnd},
		{"a later end of window", active, true, late, t0, t0, AlertSessionWindowMismatch},
		{"an end within the rounding", active, true, report(wire.SessionReportActive, active.NotAfter.Add(500*time.Millisecond)), t0, t0, ""},
		{"an earlier end of window", active, true, report(wire.SessionReportActive, active.NotAfter.Add(-time.Minute)), t0, t0, ""},
		{"a later end of window, ended on the machine", active, true, report(wire.SessionReportEnded, late.NotAfter), t0, t0, ""},
		{"a later end of window, revoked but not heard yet", ended(hoist.EndRevoked, revokedAt), true, late, t0, revokedAt.Add(time.Second), AlertSessionWindowMismatch},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := judgeReport(tc.sess, tc.known, tc.r, tc.prevSeen, tc.now); got != tc.want {
				t.Errorf("judgeReport = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestActivityAfterEndSkew is the clock skew a command's stamp is allowed,
// against each kind of end.
func TestActivityAfterEndSkew(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	active := hoist.Session{State: hoist.SessionActive, NotAfter: t0.Add(time.Hour)}
	revoked := hoist.Session{State: hoist.SessionEnded, EndReason: hoist.EndRevoked, EndedAt: t0.Add(time.Minute), NotAfter: t0.Add(time.Hour)}
	expired := hoist.Session{State: hoist.SessionEnded, EndReason: hoist.EndExpired, EndedAt: t0.Add(time.Hour + 3*time.Second), NotAfter: t0.Add(time.Hour)}
	for _, tc := range []struct {
		name string
		sess hoist.Session
		at   time.Time
		want bool
	}{
		{"in the window", active, t0.Add(30 * time.Minute), false},
		{"past the window, not swept yet", active, t0.Add(time.Hour + 6*time.Second), true},
		{"within the skew of a revoke", revoked, t0.Add(time.Minute + 5*time.Second), false},
		{"past the skew of a revoke", revoked, t0.Add(time.Minute + 6*time.Second), true},
		{"past the window, swept a little later", expired, t0.Add(time.Hour + 6*time.Second), true},
	} {
		if got := activityAfterEnd(tc.sess, tc.at); got != tc.want {
			t.Errorf("%s: activityAfterEnd = %v, want %v", tc.name, got, tc.want)
		}
	}
}
