package postgres_test

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/postgres"
	"github.com/hoist-jit/hoist/sqlstore"
)

// openStore opens a store on dbURL (one replica), closed when the test ends.
func openStore(t *testing.T, dbURL string) *sqlstore.Store {
	t.Helper()
	s, err := postgres.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// wakes counts the agents a listener woke, by id.
type wakes struct {
	mu    sync.Mutex
	order []string
}

func (w *wakes) add(id string) { w.mu.Lock(); defer w.mu.Unlock(); w.order = append(w.order, id) }

// count is how many times id was woken.
func (w *wakes) count(id string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, got := range w.order {
		if got == id {
			n++
		}
	}
	return n
}

// listen runs postgres.ListenAgentEvents for own (nil: as another replica
// hears, with no store of its own) until the test ends, and returns once it
// is connected (its first wake of every agent), with the agents it wakes
// from then on.
func listen(t *testing.T, dbURL string, own *sqlstore.Store) *wakes {
	t.Helper()
	w := &wakes{}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	t.Cleanup(func() { cancel(); <-stopped })
	listening := make(chan struct{}, 1)
	go func() {
		defer close(stopped)
		postgres.ListenAgentEvents(ctx, dbURL, own, slog.New(slog.NewTextHandler(io.Discard, nil)), func(id string) {
			if id == hoist.AllAgents {
				select {
				case listening <- struct{}{}:
				default:
				}
				return
			}
			w.add(id)
		})
	}()
	select {
	case <-listening:
	case <-time.After(time.Minute):
		t.Fatal("the listener did not connect")
	}
	return w
}
