package control

import (
	"context"

	"github.com/hoist-jit/hoist"
)

// viewApart runs a read transaction on a goroutine of its own and returns
// its error once it is done; to the caller it is s.store.View.
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
func (s *Service) viewApart(ctx context.Context, fn func(hoist.Tx) error) error {
	done := make(chan error, 1)
	go func() { done <- s.store.View(ctx, fn) }()
	return <-done
}
