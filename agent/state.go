package agent

import (
	"errors"
	"time"

	"github.com/hoist-jit/hoist"
)

// sessionState is where a session stands on this machine. The strings are
// what session files hold.
type sessionState string

const (
	// stateActive: the window is open; elevated programs may start.
	stateActive sessionState = "active"
	// stateEnding: the end has begun (durably: a restart finishes it); no
	// program starts, the ones running are being terminated.
	stateEnding sessionState = "ending"
	// stateEnded: every elevated program is gone, or the ones that could
	// not be killed are listed. Terminal.
	stateEnded sessionState = "ended"
)

// valid reports whether s is a state a session file may hold.
func (s sessionState) valid() bool {
	return s == stateActive || s == stateEnding || s == stateEnded
}

// sessionEvent is what happens to a session.
type sessionEvent struct {
	kind eventKind
	// reason is why the end begins (hoist.EndReason values), for evEnd.
	reason string
}

type eventKind int

const (
	// evEnd begins the end: at expiry, "hoist exit", a revoke, a policy
	// that no longer allows JIT mode, or a failure.
	evEnd eventKind = iota + 1
	// evEnded says the end is done: the session's processes are gone (or
	// listed as unkillable).
	evEnded
)

func endEvent(reason string) sessionEvent { return sessionEvent{kind: evEnd, reason: reason} }

var ended = sessionEvent{kind: evEnded}

// sessionStatus is the part of a session the state machine moves.
type sessionStatus struct {
	State     sessionState
	EndReason string
	EndedAt   time.Time
}

// Errors of step. Callers tell them apart with errors.Is.
var (
	errSessionOver  = errors.New("the session has ended")
	errNotEnding    = errors.New("the session's end has not begun")
	errNoReason     = errors.New("an end needs a reason")
	errUnknownEvent = errors.New("unknown session event")
)

// step is the session state machine: the status after ev at now. Ended is
// terminal; a second end while ending keeps the first reason (the end a
// crash interrupted keeps its own); the end is done only once begun.
// changed is false when ev leaves the status as it was.
func step(cur sessionStatus, ev sessionEvent, now time.Time) (next sessionStatus, changed bool, err error) {
	if cur.State == stateEnded {
		return cur, false, errSessionOver
	}
	switch ev.kind {
	case evEnd:
		if ev.reason == "" {
			return cur, false, errNoReason
		}
		if cur.State == stateEnding {
			return cur, false, nil
		}
		return sessionStatus{State: stateEnding, EndReason: ev.reason}, true, nil
	case evEnded:
		if cur.State != stateEnding {
			return cur, false, errNotEnding
		}
		return sessionStatus{State: stateEnded, EndReason: cur.EndReason, EndedAt: now}, true, nil
	}
	return cur, false, errUnknownEvent
}

// userView is the state a user is shown: a session whose window is over is
// "ended" (expired) even before its timer has run the end; "closing" says
// the end has begun and elevated programs are still being closed.
func userView(cur sessionStatus, notAfter, now time.Time) (state, reason string, closing bool) {
	switch {
	case cur.State == stateActive && now.Before(notAfter):
		return "active", "", false
	case cur.State == stateActive:
		return "ended", string(hoist.EndExpired), true
	case cur.State == stateEnding:
		return "ended", cur.EndReason, true
	}
	return "ended", cur.EndReason, false
}
