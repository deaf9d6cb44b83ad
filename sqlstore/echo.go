package sqlstore

import (
	"sync"
)

// Where servers share the database (PostgreSQL), each one's listener hears
// its own notifications too: a decision woke its agent's long poll here at
// once, and then its notification came back and woke the poll the agent had
// renewed meanwhile, for a read that found nothing (one read per decision).
//
// So the store remembers what it sent, by the sending connection's backend
// (which a notification names) and agent, and its listener skips a
// notification that matches one — taking the memory with it — because
// everything this store notifies it also wakes locally, after the commit
// (WakeAtCommit). Another server's notification never matches while it
// matters: PostgreSQL delivers notifications in commit order, so a backend
// id reused by another server's connection is heard only after this
// server's echo from that id, which consumed its memory. What a listener
// never heard (it was reconnecting) is forgotten when it listens again
// (ForgetSent), after its LISTEN, so nothing then remembered can have
// committed before the listener listened.

// maxSent bounds what is remembered; past it all is forgotten, which costs
// one extra wake for each echo then heard, nothing else.
const maxSent = 100_000

type sentKey struct {
	backend uint32
	agentID string
}

type sentNotifications struct {
	mu   sync.Mutex
	sent map[sentKey]int
	wake func(agentID string) // nil until WakeAtCommit
}

// WakeAtCommit makes the store call wake, right after each transaction that
// notified agents (hoist.Tx.NotifyAgent) commits and is sealed, with each of
// them, and lets SentHere recognise those notifications when they come back.
// The listener of the server calls it before it listens.
func (s *Store) WakeAtCommit(wake func(agentID string)) {
	s.sent.mu.Lock()
	defer s.sent.mu.Unlock()
	s.sent.wake = wake
}

// SentHere reports whether the notification for agentID from the database
// backend with id backend is one this store sent (and woke locally), and
// forgets it: the listener need not wake anyone for it.
func (s *Store) SentHere(backend uint32, agentID string) bool {
	s.sent.mu.Lock()
	defer s.sent.mu.Unlock()
	k := sentKey{backend, agentID}
	n := s.sent.sent[k]
	switch {
	case n == 0:
		return false
	case n == 1:
		delete(s.sent.sent, k)
	default:
		s.sent.sent[k] = n - 1
	}
	return true
}

// ForgetSent forgets every notification remembered: the listener calls it
// each time it has listened again, since what it missed meanwhile never
// comes back.
func (s *Store) ForgetSent() {
	s.sent.mu.Lock()
	defer s.sent.mu.Unlock()
	s.sent.sent = nil
}

// remember notes that backend is about to commit notifications for ids; it
// returns false when nobody recognises them (no WakeAtCommit, or the
// dialect cannot name a connection's backend).
func (n *sentNotifications) remember(backend uint32, ids []string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.wake == nil || backend == 0 {
		return false
	}
	if n.sent == nil || len(n.sent)+len(ids) > maxSent {
		n.sent = map[sentKey]int{}
	}
	for _, id := range ids {
		n.sent[sentKey{backend, id}]++
	}
	return true
}

// forget undoes remember for a send that failed (or may have: a commit
// whose answer was lost may have sent them, and then they wake once more).
func (n *sentNotifications) forget(backend uint32, ids []string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, id := range ids {
		k := sentKey{backend, id}
		if c := n.sent[k]; c > 1 {
			n.sent[k] = c - 1
		} else {
			delete(n.sent, k)
		}
	}
}

// waker is the local wake WakeAtCommit set, or nil.
func (n *sentNotifications) waker() func(agentID string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.wake
}
