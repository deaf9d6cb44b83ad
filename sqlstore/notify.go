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
	queue []string
	wake  chan struct{}
	stop  context.CancelFunc
	done  chan struct{}
}

// send queues the agents' notifications; it never blocks on the database.
func (n *notifier) send(agentIDs []string) {
	n.once.Do(n.start)
	n.mu.Lock()
	for _, id := range agentIDs {
		if !slices.Contains(n.queue, id) {
			n.queue = append(n.queue, id)
		}
	}
	n.mu.Unlock()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

func (n *notifier) start() {
	ctx, cancel := context.WithCancel(context.Background())
	n.wake, n.stop, n.done = make(chan struct{}, 1), cancel, make(chan struct{})
	go n.run(ctx)
}

func (n *notifier) run(ctx context.Context) {
	defer close(n.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		}
		n.mu.Lock()
		ids := n.queue
		n.queue = nil
		n.mu.Unlock()
		if len(ids) > 0 {
			sendCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			_ = n.flush(sendCtx, ids) // lost: the agents' next polls find the events
			cancel()
		}
	}
}

// flush notifies ids in one transaction that commits without waiting for
// its flush to disk.
func (n *notifier) flush(ctx context.Context, ids []string) error {
	s := n.store
	sqlTx, err := s.writer.BeginTx(ctx, nil)
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
