package hoist

import "time"

// SessionState is where a JIT session stands. Ended is terminal.
type SessionState string

const (
	SessionActive SessionState = "active"
	SessionEnded  SessionState = "ended"
)

// EndReason says why a session ended.
type EndReason string

const (
	EndExpired EndReason = "expired" // the approved window is over
	EndExited  EndReason = "exited"  // the user ended it early
	EndRevoked EndReason = "revoked" // an approver ended it from the server
	EndFailed  EndReason = "failed"  // the agent could not keep it
)

// Valid reports whether r is one of the known end reasons.
func (r EndReason) Valid() bool {
	switch r {
	case EndExpired, EndExited, EndRevoked, EndFailed:
		return true
	}
	return false
}

// Session is an approved window of JIT elevated access for one user on one
// machine. The window starts at approval.
type Session struct {
	ID         string       `json:"id"`
	RequestID  string       `json:"request_id"`
	User       string       `json:"user"`
	Host       string       `json:"host"`
	Agent      string       `json:"agent,omitempty"`
	ApprovedBy string       `json:"approved_by"`
	State      SessionState `json:"state"`
	NotBefore  time.Time    `json:"not_before"`
	NotAfter   time.Time    `json:"not_after"`
	EndedAt    time.Time    `json:"ended_at,omitzero"`
	EndReason  EndReason    `json:"end_reason,omitempty"`
	Version    int          `json:"version"`
	History    []Transition `json:"history"`
}

// NewSession returns the active session that approving r for d starts at now.
func NewSession(r Request, d time.Duration, approver string, now time.Time) Session {
	return Session{
		ID:         NewID(SessionIDPrefix),
		RequestID:  r.ID,
		User:       r.User,
		Host:       r.Host,
		Agent:      r.Agent,
		ApprovedBy: approver,
		State:      SessionActive,
		NotBefore:  now,
		NotAfter:   now.Add(d),
		Version:    1,
		History:    []Transition{{From: "", To: string(SessionActive), Actor: approver, At: now}},
	}
}

// Remaining returns the time left in the window at now; zero once it is over
// or the session has ended.
func (s Session) Remaining(now time.Time) time.Duration {
	if s.State != SessionActive || !now.Before(s.NotAfter) {
		return 0
	}
	return s.NotAfter.Sub(now)
}

// Expired reports whether an active session's window is over at now, so that
// it must be ended with EndExpired.
func (s Session) Expired(now time.Time) bool {
	return s.State == SessionActive && !now.Before(s.NotAfter)
}

// End returns s ended for reason by actor at now. Ending an ended session is
// an EConflict; an active session whose window is over can only expire, so
// that the record says what really happened.
func (s Session) End(reason EndReason, actor, note string, now time.Time) (Session, error) {
	if !reason.Valid() {
		return s, Errorf(EInvalid, "unknown end reason %q", reason)
	}
	if s.State == SessionEnded {
		return s, Errorf(EConflict, "session %s has already ended (%s)", s.ID, s.EndReason)
	}
	if reason == EndExpired && now.Before(s.NotAfter) {
		return s, Errorf(EConflict, "session %s has not expired yet", s.ID)
	}
	if reason != EndExpired && s.Expired(now) {
		reason, note = EndExpired, "window over before "+string(reason)
	}
	if len(note) > MaxReasonLength || !printable(note) {
		return s, Errorf(EInvalid, "reason must be printable text of at most %d bytes", MaxReasonLength)
	}
	s.History = append(append([]Transition(nil), s.History...),
		Transition{From: string(s.State), To: string(SessionEnded), Actor: actor, Reason: string(reason) + optional(note), At: now})
	s.State = SessionEnded
	s.EndReason = reason
	s.EndedAt = now
	s.Version++
	return s, nil
}

func optional(note string) string {
	if note == "" {
		return ""
	}
	return ": " + note
}

// Extend returns s with its window moved to end at notAfter, by actor at
// now (an approved extension). Only an active session whose window is not
// over can be extended (EConflict), and only to a later end (EInvalid);
// nothing else about it changes.
func (s Session) Extend(notAfter time.Time, actor string, now time.Time) (Session, error) {
	if s.State != SessionActive || s.Expired(now) {
		return s, Errorf(EConflict, "session %s has ended: it can no longer be extended; ask for a new one with: hoist request", s.ID)
	}
	if !notAfter.After(s.NotAfter) {
		return s, Errorf(EInvalid, "an extension must end the session later than %s", s.NotAfter.UTC().Format(time.RFC3339))
	}
	s.History = append(append([]Transition(nil), s.History...), Transition{From: string(s.State), To: string(s.State), Actor: actor,
		Reason: "extended by " + FormatDuration(notAfter.Sub(s.NotAfter)) + " to " + notAfter.UTC().Format(time.RFC3339), At: now})
	s.NotAfter = notAfter
	s.Version++
	return s, nil
}
