package link

import (
	"context"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

// TestBackoffReviewWaitsForRetryAfter: a server that answers 503 with
// Retry-After: 2 (api/errors.go does, while its database is down) asks
// every agent to stay away for 2 s. The link must wait at least that long
// before its next call; a fleet of 50,000 agents that comes back after
// 50-150 ms instead (the first waits of the backoff) sends the recovering
// server several rounds of calls it asked not to get. Only a lower bound
// is checked: a loaded machine can only make the wait longer.
func TestBackoffReviewWaitsForRetryAfter(t *testing.T) {
	b := newBackoff()
	err := &retryLater{err: hoist.Errorf(hoist.EUnavailable, "the database is unavailable"), after: 2 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	b.wait(ctx, err)
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("after a 503 with Retry-After: 2 the link called again after %s; it must wait at least 2s", took)
	}
}
