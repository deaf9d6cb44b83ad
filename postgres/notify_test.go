package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/pgtest"
	"github.com/hoist-jit/hoist/postgres"
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
	s, err := postgres.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	var (
		mu    sync.Mutex
		heard []string
	)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	listening := make(chan struct{}, 1)
	// Heard as another replica hears it: a listener of no store of its own.
	go postgres.ListenAgentEvents(ctx, dbURL, nil, slog.New(slog.NewTextHandler(io.Discard, nil)), func(id string) {
		if id == hoist.AllAgents {
			select {
			case listening <- struct{}{}:
			default:
			}
			return
		}
		mu.Lock()
		heard = append(heard, id)
		mu.Unlock()
	})
	select {
	case <-listening:
	case <-time.After(time.Minute):
		t.Fatal("the listener did not connect")
	}

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
	mu.Lock()
	early := slices.Contains(heard, "agt_retried")
	mu.Unlock()
	if early {
		t.Fatal("the notification went out while every connection was held")
	}
	close(release)
	held.Wait()
	testenv.WaitUntil(t, "the notification of agt_retried once the burst is over", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return slices.Contains(heard, "agt_retried")
	})
}
