package link

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
)

// TestBackoffReviewWaitsForRetryAfter: a server that answers 503 with
// Retry-After: 2 (api/errors.go does, while its database is down) asks
// every agent to stay away for 2 s. The link must wait at least that long
// before its next call; a fleet of 50,000 agents that comes back after
// 50-150 ms instead (the first waits of the backoff) sends the recovering
// server several rounds of calls it asked not to get. Only a lower bound
// is checked: a loaded machine can only make the wait longer.
func TestBackoffReviewWaitsForRetryAfter(t *testing.T) {
	b := newBackoff(agent.RealClock{})
	err := &retryLater{err: hoist.Errorf(hoist.EUnavailable, "the database is unavailable"), after: 2 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	b.wait(ctx, err)
	if took := time.Since(start); took < 2*time.Second {
		t.Errorf("after a 503 with Retry-After: 2 the link called again after %s; it must wait at least 2s", took)
	}
}

// TestRetryAfterReviewOverflow: a Retry-After too large for a
// time.Duration in seconds must be bounded like any other large one, not
// wrap around: 20211507185753197 s times 1e9 is 512 ns modulo 2^64, and a
// server (or a broken proxy before it) that sends it would have the link
// call it again every microsecond.
func TestRetryAfterReviewOverflow(t *testing.T) {
	for _, header := range []string{"20211507185753197", "18446744074", "9223372036854775807"} {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", header)
			w.WriteHeader(http.StatusServiceUnavailable)
		}))
		base, _ := url.Parse(srv.URL)
		err := call(context.Background(), srv.Client(), base, "GET", "/agent/v1/events", nil, nil, nil)
		srv.Close()
		if got := RetryAfter(err); got != maxRetryAfter {
			t.Errorf("Retry-After: %s gives a wait of %s, want %s", header, got, maxRetryAfter)
		}
	}
}
