package control

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/pgtest"
	"github.com/hoist-jit/hoist/postgres"
)

// TestBatchesShareTheirSlots: on PostgreSQL a batch decides several ids at
// once, each holding a pool connection. Several batches at once must still
// leave the rest of the pool to every other call: all their decisions
// together stay within batchSlots.
func TestBatchesShareTheirSlots(t *testing.T) {
	ctx := context.Background()
	pg, err := postgres.Open(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	s := &Service{store: pg, batchSlots: make(chan struct{}, batchSlots)}

	const batches, size = 4, 40 // 4 × batchWorkers workers ask at once
	var inFlight, most atomic.Int64
	decide := func(int, string) {
		n := inFlight.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		time.Sleep(time.Millisecond) // holds its slot as a decision holds its connection
		inFlight.Add(-1)
	}
	var wg sync.WaitGroup
	for b := range batches {
		ids := make([]string, size)
		for i := range ids {
			ids[i] = fmt.Sprintf("req_%d_%d", b, i)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.eachID(ctx, ids, decide)
		}()
	}
	wg.Wait()
	if got, want := most.Load(), int64(batchSlots); got > want {
		t.Errorf("%d decisions of %d batches at once, want at most %d", got, batches, want)
	}
	if got := len(s.batchSlots); got != 0 {
		t.Errorf("%d slots still taken after every batch returned", got)
	}

	// A caller that has gone is not kept waiting for a slot.
	for range batchSlots {
		s.batchSlots <- struct{}{}
	}
	gone, cancel := context.WithCancel(ctx)
	cancel()
	var called atomic.Int64
	s.eachID(gone, []string{"req_a", "req_b", "req_c"}, func(int, string) { called.Add(1) })
	if got := called.Load(); got != 3 {
		t.Errorf("%d of 3 ids of a gone caller's batch reached their decision (which fails on its context), want 3", got)
	}
}
