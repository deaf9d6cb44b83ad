package agent

import (
	"sort"

	"github.com/hoist-jit/hoist/wire"
)

// SessionReports returns this machine's sessions as the agent reports them
// at check-in, so that the server can tell a session it ended that is still
// kept here: every session that has not ended, and those that ended in the
// last wire.ReportEndedFor, at most wire.MaxAgentSessions, the ones not
// ended first. A record that would not pass wire.AgentSession.Check is left
// out (it cannot come from a session file hoistd accepted). It holds the
// agent's lock only to copy, and does no I/O.
func (a *Agent) SessionReports() []wire.AgentSession {
	now := a.cfg.Clock.Now()
	a.mu.Lock()
	out := make([]wire.AgentSession, 0, len(a.byUser))
	for _, s := range a.byUser {
		if s.rec.State == stateEnded && now.Sub(s.rec.EndedAt) > wire.ReportEndedFor {
			continue
		}
		out = append(out, reportOf(s.rec))
	}
	a.mu.Unlock()
	// Not ended first, then the latest end of window: what is cut off by
	// the bound is what matters least.
	sort.Slice(out, func(i, j int) bool {
		if ei, ej := out[i].State == wire.SessionReportEnded, out[j].State == wire.SessionReportEnded; ei != ej {
			return ej
		}
		return out[i].NotAfter.After(out[j].NotAfter)
	})
	kept := out[:0]
	for _, r := range out {
		if len(kept) < wire.MaxAgentSessions && r.Check() == nil {
			kept = append(kept, r)
		}
	}
	return kept
}

// reportOf is rec as reported, with at most wire.MaxUnkillable pids.
func reportOf(rec record) wire.AgentSession {
	r := wire.AgentSession{ID: rec.ID, User: rec.User, State: string(rec.State), NotAfter: rec.NotAfter.UTC(),
		Local: rec.By == localGrantBy}
	if !rec.EndedAt.IsZero() {
		r.EndedAt = rec.EndedAt.UTC()
	}
	for _, p := range rec.Unkillable {
		if len(r.Unkillable) == wire.MaxUnkillable {
			break
		}
		r.Unkillable = append(r.Unkillable, p.Pid)
	}
	return r
}
