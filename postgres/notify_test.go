package postgres_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/pgtest"
	"github.com/hoist-jit/hoist/testenv"
)

// A notification whose send fails is sent again, so that another replica's
// long poll for that agent wakes then, not only when the poll times out.
// The failure is a real one: every connection of the store's pool is held
// by transactions (a burst of decisions), so the notifier's send, after the
// commit that asked for it, waits out its bound and gives up. The listener
// has a connection of its own throughout, so what it hears is the retried
// notification itself, not a reconnect's wake of every agent.
func TestNotificationSurvivesAFailedSend(t *testing.T) {
	dbURL := pgtest.URL(t)
	s := openStore(t, dbURL)
	// Heard as another replica hears it: a listener of no store of its own.
	heard := listen(t, dbURL, nil)

	// hold starts a transaction that keeps its connection until release
	// is closed; it returns once the transaction has begun.
	release := make(chan struct{})
	var held sync.WaitGroup
	hold := func(inside func(hoist.Tx) error) {
		begun := make(chan struct{})
		held.Add(1)
		go func() {
			defer held.Done()
			_ = s.Update(context.Background(), func(tx hoist.Tx) error {
				close(begun)
				<-release
				return inside(tx)
			})
		}()
		<-begun
	}
	nothing := func(hoist.Tx) error { return nil }
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
		held.Wait()
	}()
	// The pool's 16 connections: 15 held, and one by the transaction that
	// will ask for the notification.
	for range 15 {
		hold(nothing)
	}
	askRelease := make(chan struct{})
	asked := make(chan error, 1)
	askBegun := make(chan struct{})
	go func() {
		asked <- s.Update(context.Background(), func(tx hoist.Tx) error {
			close(askBegun)
			<-askRelease
			return tx.NotifyAgent(context.Background(), "agt_retried")
		})
	}()
	<-askBegun
	// Another decision waits for a connection: it gets the one the asking
	// transaction frees at its commit, before the notifier asks for one.
	waits := s.WriterStats().WaitCount
	waiting := make(chan struct{})
	held.Add(1)
	go func() {
		defer held.Done()
		close(waiting)
		_ = s.Update(context.Background(), func(hoist.Tx) error { <-release; return nil })
	}()
	<-waiting
	testenv.WaitUntil(t, "the other decision to queue for a connection", func() bool {
		st := s.WriterStats()
		return st.InUse == 16 && st.WaitCount > waits
	})
	close(askRelease)
	if err := <-asked; err != nil {
		t.Fatalf("the transaction that asks for the notification: %v", err)
	}
	// The notifier's first send queues for a connection too, and gives up
	// at its bound (10 s): a wait that ended after that long is on the
	// pool's books. Only then does the burst end.
	testenv.WaitUntil(t, "the notifier's first send to give up", func() bool {
		return s.WriterStats().WaitDuration >= 10*time.Second
	})
	if heard.count("agt_retried") > 0 {
		t.Fatal("the notification went out while every connection was held")
	}
	close(release)
	held.Wait()
	testenv.WaitUntil(t, "the notification of agt_retried once the burst is over", func() bool {
		return heard.count("agt_retried") > 0
	})
}
