package control

import (
	"context"
	"sync"

	"github.com/hoist-jit/hoist"
)

// viewApart runs a store's reads on a goroutine of its own and returns
// their error once they are done; to the caller it is s.store.Read.
//
// Why: the callers are the steps of an agent's long poll before it parks,
// for up to a minute, waiting for an event. A store's read (SQLite's
// interpreter above all) grows the goroutine that runs it to tens of KiB of
// stack, and a goroutine keeps a grown stack until collections halve it
// again, one halving per collection. Run on the handler's goroutine, that
// stack would be held by every idle agent's parked poll; run here, it goes
// back to the runtime when the read returns, and the parked handler keeps
// only the few KiB its own frames need. The cost is a goroutine start per
// read, small beside the read itself.
//
// A panic of the read is raised again on the caller's goroutine, where the
// API's handler recovers it (a 500; the server stays up), as before the
// read ran apart.
func (s *Service) viewApart(ctx context.Context, fn func(hoist.Reads) error) error {
	done := make(chan error, 1)
	var p apartPanic
	go func() {
		defer p.catch(func() { close(done) })
		done <- s.store.Read(ctx, fn)
	}()
	err := <-done
	p.raise()
	return err
}

// apartPanic carries the first panic of goroutines started for a caller
// back to the caller's goroutine (see raise).
type apartPanic struct {
	mu  sync.Mutex
	set bool
	val any
}

// catch, deferred on such a goroutine, keeps what it panicks with and then
// calls then (which lets the caller stop waiting); a goroutine that
// returned normally calls nothing.
func (a *apartPanic) catch(then func()) {
	v := recover()
	if v == nil {
		return
	}
	a.mu.Lock()
	if !a.set {
		a.set, a.val = true, v
	}
	a.mu.Unlock()
	if then != nil {
		then()
	}
}

// raise panics again with the value kept, on the caller's goroutine, once
// the goroutines are done.
func (a *apartPanic) raise() {
	a.mu.Lock()
	set, v := a.set, a.val
	a.mu.Unlock()
	if set {
		panic(v)
	}
}
