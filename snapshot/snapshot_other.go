//go:build !linux

package snapshot

import (
	"context"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/platform"
)

// Options say what a snapshot reads (see the Linux implementation).
type Options struct {
	Root      string
	Files     []string
	NoOpenat2 bool
}

// Take is not written for this platform yet: it returns
// platform.ErrNotSupported, and the session records session.changes_failed.
func Take(ctx context.Context, o Options) (*hoist.Snapshot, error) {
	return nil, platform.ErrNotSupported
}
