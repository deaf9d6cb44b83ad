package control

import (
	"testing"
	"time"
)

// TestPresence: an agent is connected while a long poll of it waits, and
// for the grace after it ended (it polls again at once), then not; an
// agent that never polled is not.
func TestPresence(t *testing.T) {
	p := newPresence()
	t0 := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	now := t0
	clock := func() time.Time { return now }
	if p.connected("agt_a", now) {
		t.Fatal("an agent that never polled is connected")
	}
	end := p.begin("agt_a", clock)
	now = now.Add(time.Hour) // a long poll may wait long
	if !p.connected("agt_a", now) {
		t.Fatal("an agent with a waiting poll is not connected")
	}
	end()
	now = now.Add(presenceGrace - time.Second)
	if !p.connected("agt_a", now) {
		t.Fatal("between two polls the agent is not connected")
	}
	now = now.Add(2 * time.Second)
	if p.connected("agt_a", now) || len(p.polls) != 0 {
		t.Fatalf("past the grace: connected, or its entry kept (%d)", len(p.polls))
	}
}
