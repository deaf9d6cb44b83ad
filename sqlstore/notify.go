package sqlstore

import (
	"context"
	"slices"
	"sync"
	"time"
)

// notifier sends the notifications of committed transactions (see
// tx.NotifyAgent) from one goroutine, all that queued up in one short
// transaction that does not wait for the disk. Inside the change's
// transaction, a NOTIFY made PostgreSQL serialize that transaction's
// commit, flush to disk included, with every other notifying one (one lock
// on the notification queue); after it, in a durable transaction of its
// own, it cost a second flush per change, still under that lock. A
// notification needs no durability: it is delivered at commit, and a
// crash before that leaves the agent to find its events at its next poll.
type notifier struct {
	store *Store
	once  sync.Once
	mu    sync.Mutex
	// queue holds the agents to notify, in the order first asked, and
	// queued the same as a set (a change to a large group names thousands)
	// with whether each is also woken locally at every commit that asked
	// (see echo.go): only then may its echo be skipped.
	queue  []string
	queued map[string]bool
	wake   chan struct{}
	stop   context.CancelFunc
	done   chan struct{}
}

// notifyRetryAfter is the pause before a failed send is tried again: a
// notification lost to a busy pool or a database restart would leave its
// agents to find their events only at their next poll (up to a long
// poll's length later), on another replica too.
const notifyRetryAfter = 500 * time.Millisecond

// maxNotifyTries bounds the tries of one send that keeps failing (about
// ten seconds of a database that does not answer, or a statement it keeps
// refusing); then what is queued is dropped and the agents' polls find
// their events. The listeners' reconnect wakes every long poll anyway.
const maxNotifyTries = 20

// maxNotifyQueue bounds what waits while the database is unreachable; past
// it the oldest are dropped (their agents' polls find the events).
const maxNotifyQueue = 100_000

// send queues the agents' notifications; it never blocks on the database.
// wokenLocally says the committing transaction wakes them on this server
// too (see echo.go).
func (n *notifier) send(agentIDs []string, wokenLocally bool) {
	n.once.Do(n.start)
	n.enqueue(agentIDs, func(string) bool { return wokenLocally })
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) enqueue(agentIDs []string, wokenLocally func(id string) bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.queued == nil {
		n.queued = map[string]bool{}
	}
	for _, id := range agentIDs {
		local, ok := n.queued[id]
		if !ok {
			n.queue = append(n.queue, id)
			local = true
		}
		n.queued[id] = local && wokenLocally(id)
	}
	if over := len(n.queue) - maxNotifyQueue; over > 0 {
		for _, id := range n.queue[:over] {
			delete(n.queued, id)
		}
		n.queue = slices.Clone(n.queue[over:])
	}
}

func (n *notifier) start() {
	ctx, cancel := context.WithCancel(context.Background())
	n.wake, n.stop, n.done = make(chan struct{}, 1), cancel, make(chan struct{})
	go n.run(ctx)
}

func (n *notifier) run(ctx context.Context) {
	defer close(n.done)
	failed := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		}
		n.mu.Lock()
		ids, local := n.queue, n.queued
		n.queue, n.queued = nil, nil
		n.mu.Unlock()
		if len(ids) == 0 {
			continue
		}
		sendCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := n.flush(sendCtx, ids, local)
		cancel()
		if err == nil {
			failed = 0
			continue
		}
		if failed++; failed >= maxNotifyTries {
			failed = 0
			continue // dropped
		}
		// Tried again after a pause, with whatever queued meanwhile.
		n.enqueue(ids, func(id string) bool { return local[id] })
		select {
		case <-ctx.Done():
			return
		case <-time.After(notifyRetryAfter):
		}
		select {
		case n.wake <- struct{}{}:
		default:
		}
	}
}

// flush notifies ids in one transaction that commits without waiting for
// its flush to disk. Those local says were woken here are remembered as
// sent from its connection's backend, so that the listener skips them.
func (n *notifier) flush(ctx context.Context, ids []string, local map[string]bool) (err error) {
	s := n.store
	conn, err := s.writer.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	var backend uint32
	if s.dialect.Backend != nil {
		_ = conn.Raw(func(driverConn any) error { backend = s.dialect.Backend(driverConn); return nil })
	}
	var mine []string
	for _, id := range ids {
		if local[id] {
			mine = append(mine, id)
		}
	}
	if len(mine) > 0 && s.sent.remember(backend, mine) {
		defer func() {
			if err != nil {
				s.sent.forget(backend, mine)
			}
		}()
	}
	sqlTx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() { _ = sqlTx.Rollback() }()
	t := &tx{tx: sqlTx, d: s.dialect, store: s}
	if s.dialect.RelaxDurability != "" {
		if _, err := t.exec(ctx, "relax durability", s.dialect.RelaxDurability); err != nil {
			return err
		}
	}
	for _, id := range ids {
		if _, err := t.exec(ctx, "notify other servers", s.dialect.NotifyAgent, id); err != nil {
			return err
		}
	}
	return sqlTx.Commit()
}

// close stops the goroutine, if it started; what is queued is dropped.
func (n *notifier) close() {
	n.once.Do(func() {}) // none starts after this
	if n.stop != nil {
		n.stop()
		<-n.done
	}
}
