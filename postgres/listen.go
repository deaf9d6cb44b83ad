package postgres

import (
	"context"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/sqlstore"
)

// AgentEventsChannel is the NOTIFY channel on which servers announce that an
// agent has new events, so that the replica holding the agent's long poll
// answers at once, whichever replica made the decision.
const AgentEventsChannel = "hoist_agent_events"

// ListenAgentEvents calls wake with the agent id of every notification until
// ctx ends, reconnecting after failures. PostgreSQL's own LISTEN/NOTIFY is
// the whole cluster protocol: no other coordination between replicas.
//
// With own, the server's store, it first makes own wake the agents of its
// own transactions right after they commit (WakeAtCommit), and then skips
// their notifications when they come back (SentHere): a local decision
// wakes its agent's poll once, not a second time for nothing.
//
// Notifications sent while no connection listens are lost, so each time it
// listens again it first calls wake(hoist.AllAgents): every long poll reads
// its events once more, and a decision committed on another replica during
// the gap (a database restart) reaches its agent now rather than when the
// poll times out.
func ListenAgentEvents(ctx context.Context, url string, own *sqlstore.Store, log *slog.Logger, wake func(agentID string)) {
	sentHere := func(uint32, string) bool { return false }
	if own != nil {
		own.WakeAtCommit(wake)
		sentHere = own.SentHere
	}
	delay := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := listenOnce(ctx, url, sentHere, wake, func() {
			delay = 100 * time.Millisecond
			if own != nil {
				own.ForgetSent() // what was sent while nobody listened never comes back
			}
			wake(hoist.AllAgents)
		})
		if ctx.Err() != nil {
			return
		}
		log.Warn("lost the PostgreSQL notification connection; reconnecting", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(delay*2, 10*time.Second)
	}
}

func listenOnce(ctx context.Context, url string, sentHere func(uint32, string) bool, wake func(string), connected func()) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "LISTEN "+AgentEventsChannel); err != nil {
		return err
	}
	connected()
	for {
		n, err := conn.WaitForNotification(ctx)
		if err != nil {
			return err
		}
		if !sentHere(n.PID, n.Payload) {
			wake(n.Payload)
		}
	}
}
