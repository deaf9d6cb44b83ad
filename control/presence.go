package control

import (
	"sync"
	"time"
)

// presenceGrace is how long after its long poll ended an agent still counts
// as connected: an agent polls again at once when an answer comes, so the
// gap between two polls is a round trip, not a reason to say it is gone.
const presenceGrace = 10 * time.Second

// presence keeps the agents whose event long poll this server holds, so
// that the console can say "connected" rather than when the agent last
// checked in. It knows only this server's polls: with several replicas, an
// agent connected to another shows its last check-in. One small entry per
// agent that polled, dropped once it is past the grace.
type presence struct {
	mu    sync.Mutex
	polls map[string]*agentPolls
}

type agentPolls struct {
	open  int       // long polls of the agent waiting now
	ended time.Time // when its last long poll ended
}

func newPresence() *presence { return &presence{polls: map[string]*agentPolls{}} }

// begin records that a long poll of agentID started; the function it
// returns records its end at the time end returns.
func (p *presence) begin(agentID string, end func() time.Time) func() {
	p.mu.Lock()
	e := p.polls[agentID]
	if e == nil {
		e = &agentPolls{}
		p.polls[agentID] = e
	}
	e.open++
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		e.open--
		e.ended = end()
	}
}

// connected reports whether agentID has a long poll waiting on this server,
// or had one that ended within presenceGrace of now. Entries past the grace
// are dropped as they are met.
func (p *presence) connected(agentID string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := p.polls[agentID]
	switch {
	case e == nil:
		return false
	case e.open > 0 || now.Sub(e.ended) < presenceGrace:
		return true
	}
	delete(p.polls, agentID)
	return false
}
