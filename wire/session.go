package wire

import (
	"time"

	"github.com/hoist-jit/hoist"
)

// AgentSession is one JIT session as the agent reports it at check-in, so
// that the server can compare it with its own record: a session the server
// ended that the agent still keeps, or a window the agent holds longer than
// the server granted, is an alert (see docs/alerts.md). An agent reports its
// sessions that have not ended and those that ended in the last
// ReportEndedFor, at most MaxAgentSessions of them.
type AgentSession struct {
	ID   string `json:"id"`
	User string `json:"user"`
	// State is SessionReportActive, SessionReportEnding or
	// SessionReportEnded.
	State    string    `json:"state"`
	NotAfter time.Time `json:"not_after"`
	EndedAt  time.Time `json:"ended_at,omitzero"`
	// Local marks root's local grant ("hoistd grant"): the server has no
	// record of it.
	Local bool `json:"local,omitempty"`
	// Unkillable lists the pids of elevated processes the end could not
	// kill (stuck in the kernel), at most MaxUnkillable.
	Unkillable []int `json:"unkillable,omitempty"`
}

// The states of an AgentSession: the agent's session state machine.
const (
	SessionReportActive = "active"
	SessionReportEnding = "ending"
	SessionReportEnded  = "ended"
)

// Bounds of the session report.
const (
	MaxAgentSessions = 64
	MaxUnkillable    = 64
	// ReportEndedFor is how long an ended session is still reported.
	ReportEndedFor = time.Hour
	maxReportUser  = 256
)

// earliestReport is earlier than any session's end can be: a time before
// it is garbage, not a window.
var earliestReport = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Check reports whether s is a well-formed report: a session id, a short
// printable user, a known state, a window end that is a real time and
// pids that are pids. It fails with hoist.EInvalid. A window end however
// far in the future is well-formed: judging it is the server's job.
func (s AgentSession) Check() error {
	switch {
	case !hoist.ValidID(hoist.SessionIDPrefix, s.ID):
		return hoist.Errorf(hoist.EInvalid, "a reported session has an invalid id")
	case s.User == "" || len(s.User) > maxReportUser || !hoist.Printable(s.User):
		return hoist.Errorf(hoist.EInvalid, "reported session %s: the user must be 1 to %d printable bytes", s.ID, maxReportUser)
	case s.State != SessionReportActive && s.State != SessionReportEnding && s.State != SessionReportEnded:
		return hoist.Errorf(hoist.EInvalid, "reported session %s: unknown state", s.ID)
	case s.NotAfter.Before(earliestReport) || (!s.EndedAt.IsZero() && s.EndedAt.Before(earliestReport)):
		return hoist.Errorf(hoist.EInvalid, "reported session %s: its times are not real times", s.ID)
	case len(s.Unkillable) > MaxUnkillable:
		return hoist.Errorf(hoist.EInvalid, "reported session %s: at most %d unkillable pids", s.ID, MaxUnkillable)
	}
	for _, pid := range s.Unkillable {
		if pid <= 0 || pid > 1<<22 {
			return hoist.Errorf(hoist.EInvalid, "reported session %s: %d is not a pid", s.ID, pid)
		}
	}
	return nil
}

// CheckSessions checks a whole report: at most MaxAgentSessions entries,
// each well-formed, no session twice. It fails with hoist.EInvalid.
func CheckSessions(ss []AgentSession) error {
	if len(ss) > MaxAgentSessions {
		return hoist.Errorf(hoist.EInvalid, "at most %d sessions may be reported", MaxAgentSessions)
	}
	seen := make(map[string]bool, len(ss))
	for _, s := range ss {
		if err := s.Check(); err != nil {
			return err
		}
		if seen[s.ID] {
			return hoist.Errorf(hoist.EInvalid, "session %s is reported twice", s.ID)
		}
		seen[s.ID] = true
	}
	return nil
}
