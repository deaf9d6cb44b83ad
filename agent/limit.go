package agent

import (
	"sync"
	"time"
)

// A limit is how many of one kind of call one user may make in a window
// before hoistd stops doing what the call would write. Every op that makes
// hoistd write — a request to the server, an audit record, a process
// group — is bounded per user, so that a user without any right cannot
// fill root's disk, the server's log or the approvers' queue.
type limit struct {
	count  int
	window time.Duration
}

// The limits, per user. A JIT session's own runs are not limited: the
// approver made that user root for the window.
var (
	// refusedRuns are the refused runs recorded one by one; the rest are
	// counted and the count recorded with the next one that is.
	refusedRuns = limit{30, time.Minute}
	// auditedRuns are the records an audit policy asks for on runs that no
	// session elevates; past it the runs go on and the count is recorded.
	auditedRuns = limit{60, time.Minute}
	// policyRuns are programs started as root by an application policy
	// without a session; past it they are refused (fail closed: each one is
	// audited, and an unaudited root program is not started).
	policyRuns = limit{120, time.Minute}
	// asks are requests for JIT mode and their withdrawals: each one reaches
	// the server and the approvers.
	asks = limit{20, time.Minute}
)

// windowLimiter counts calls per user and kind in fixed windows.
type windowLimiter struct {
	mu      sync.Mutex
	windows map[limitKey]*window
}

type limitKey struct {
	uid  int
	kind limit
}

type window struct {
	start      time.Time
	count      int
	suppressed int
}

func newWindowLimiter() *windowLimiter { return &windowLimiter{windows: map[limitKey]*window{}} }

// allow reports whether one more call of kind by uid at now is within its
// limit and, when it opens a new window, how many were over the limit in
// the window before (to be recorded with this one).
func (l *windowLimiter) allow(uid int, kind limit, now time.Time) (suppressedBefore int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	key := limitKey{uid, kind}
	w := l.windows[key]
	if w == nil || now.Sub(w.start) >= kind.window || now.Before(w.start) {
		prev := 0
		if w != nil {
			prev = w.suppressed
		}
		l.windows[key] = &window{start: now, count: 1}
		l.sweep(now)
		return prev, true
	}
	if w.count >= kind.count {
		w.suppressed++
		return 0, false
	}
	w.count++
	return 0, true
}

// sweep forgets windows long over, so that the map holds only the users
// active lately; the caller holds l.mu.
func (l *windowLimiter) sweep(now time.Time) {
	if len(l.windows) < 1024 {
		return
	}
	for k, w := range l.windows {
		if now.Sub(w.start) >= 2*k.kind.window && w.suppressed == 0 {
			delete(l.windows, k)
		}
	}
}
