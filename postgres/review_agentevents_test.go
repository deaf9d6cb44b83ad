package postgres_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/pgtest"
	"github.com/hoist-jit/hoist/postgres"
	"github.com/hoist-jit/hoist/testenv"
)

// TestReviewAgentEventCommitOrder: two transactions queue an event for the
// same agent side by side (what a batch's decisions now do on PostgreSQL,
// eachID, for two users of one machine; or a revoke beside a broadcast).
// The one that took the lower seq commits last. An agent whose long poll
// read in between moved its cursor past the lower seq (link/run.go keeps
// the highest seq it got), and must still be given the event that
// committed late: a grant, a denial or a revoke that never arrives.
func TestReviewAgentEventCommitOrder(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const agent = "agt_review"
	appended, release, done := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		done <- s.Update(ctx, func(tx hoist.Tx) error {
			if _, err := tx.AppendAgentEvent(ctx, hoist.AgentEvent{AgentID: agent, Kind: hoist.AgentEventApproved, RequestID: "req_first", CreatedAt: time.Now()}); err != nil {
				return err
			}
			close(appended)
			<-release // commits after the second
			return nil
		})
	}()
	<-appended
	// The second may commit at once (and then the first must still reach
	// the agent) or wait for the first (events of one agent queued in
	// commit order); either way the poll below comes while the first has
	// not committed.
	second := make(chan error, 1)
	go func() {
		second <- s.Update(ctx, func(tx hoist.Tx) error {
			_, err := tx.AppendAgentEvent(ctx, hoist.AgentEvent{AgentID: agent, Kind: hoist.AgentEventDenied, RequestID: "req_second", CreatedAt: time.Now()})
			return err
		})
	}()
	// Which of the two it is shows in the database: the second either
	// commits, or waits for a lock the first holds.
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	secondDone := false
	testenv.WaitUntil(t, "the second transaction to commit or to wait for the first", func() bool {
		select {
		case err := <-second:
			if err != nil {
				t.Fatal(err)
			}
			secondDone = true
			return true
		default:
		}
		var waiting int
		_ = db.QueryRow(`SELECT count(*) FROM pg_locks WHERE NOT granted`).Scan(&waiting)
		return waiting > 0
	})
	var cursor int64
	seen := map[string]bool{}
	poll := func() {
		if err := s.View(ctx, func(tx hoist.Tx) error {
			evs, err := tx.AgentEvents(ctx, agent, cursor, 100)
			for _, ev := range evs {
				seen[ev.RequestID] = true
				cursor = max(cursor, ev.Seq) // as api/agent.go's Cursor and the link keep it
			}
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	poll() // the agent's long poll answers, with the second event if it committed
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !secondDone {
		if err := <-second; err != nil {
			t.Fatal(err)
		}
	}
	poll()
	if !seen["req_first"] || !seen["req_second"] {
		t.Fatalf("events the agent got: %v (cursor %d); the event that committed late was never delivered", seen, cursor)
	}
}
