package link

import (
	"sync"
	"time"

	"github.com/hoist-jit/hoist/wire"
)

// reportRetryAfter is how long the link leaves the session report out of
// check-ins after a server refused a check-in that carried it.
const reportRetryAfter = time.Hour

// sessionReporter puts the agent's sessions into each check-in, and leaves
// them out for a while when the server refuses them: a server older than
// the report refuses fields it does not know, and a check-in, which brings
// the policies, matters more than the report.
type sessionReporter struct {
	mu        sync.Mutex
	refusedAt time.Time
}

// sessions returns what to report in the check-in about to be sent.
func (l *Link) sessions() []wire.AgentSession {
	r := &l.reports
	r.mu.Lock()
	off := !r.refusedAt.IsZero() && l.clock.Now().Sub(r.refusedAt) < reportRetryAfter
	r.mu.Unlock()
	if off {
		return nil
	}
	return l.a.SessionReports()
}

// checkinFailed notes a refused check-in that carried sessions, so that
// the next one goes without them, and returns err.
func (l *Link) checkinFailed(facts wire.AgentFacts, err error) error {
	if len(facts.Sessions) > 0 && refused(err) {
		l.log.Warn("the server refused the session report; checking in without it for a while", "for", reportRetryAfter, "err", err)
		l.reports.mu.Lock()
		l.reports.refusedAt = l.clock.Now()
		l.reports.mu.Unlock()
	}
	return err
}

// seqSender puts the outbox's numbers into audit deliveries, and leaves
// them out for reportRetryAfter when a server refused them.
type seqSender struct {
	mu        sync.Mutex
	refusedAt time.Time
}

// on reports whether deliveries now carry the numbers.
func (q *seqSender) on(now time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.refusedAt.IsZero() || now.Sub(q.refusedAt) >= reportRetryAfter
}

func (q *seqSender) refused(now time.Time) {
	q.mu.Lock()
	q.refusedAt = now
	q.mu.Unlock()
}
