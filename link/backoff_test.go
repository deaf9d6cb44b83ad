package link

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/testenv"
)

// A server that is up and asks for a wait says so in the error the link
// sees, and that error is still the server's.
func TestRetryAfterReachesTheBackoff(t *testing.T) {
	cases := []struct {
		name   string
		status int
		header string
		want   time.Duration
	}{
		{"database down", http.StatusServiceUnavailable, "2", 2 * time.Second},
		{"busy", http.StatusTooManyRequests, "1", time.Second},
		{"too long a wait is bounded", http.StatusServiceUnavailable, "86400", maxRetryAfter},
		{"no header", http.StatusServiceUnavailable, "", 0},
		{"a date is not used", http.StatusServiceUnavailable, "Wed, 21 Oct 2015 07:28:00 GMT", 0},
		{"not on other errors", http.StatusInternalServerError, "2", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.header != "" {
					w.Header().Set("Retry-After", tc.header)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(`{"error":{"code":"unavailable","message":"the database is unavailable"}}`))
			}))
			defer srv.Close()
			base, _ := url.Parse(srv.URL)
			err := call(context.Background(), srv.Client(), base, "GET", "/agent/v1/events", nil, nil, nil)
			if got := RetryAfter(err); got != tc.want {
				t.Errorf("RetryAfter = %s, want %s", got, tc.want)
			}
			if got := hoist.ErrorCode(err); got != hoist.EUnavailable {
				t.Errorf("code %q, want %q", got, hoist.EUnavailable)
			}
		})
	}
}

// In the first minute of an outage the wait grows to maxBackoff and no
// further (a clock that stands still: the outage never gets long).
func TestBackoffIsBounded(t *testing.T) {
	clock := testenv.NewClock(time.Unix(1e9, 0))
	b := newBackoff(clock)
	for range 20 {
		if d := b.next(nil); d > maxBackoff*3/2 {
			t.Errorf("a wait of %s, want at most %s", d, maxBackoff*3/2)
		}
	}
	if b.d != maxBackoff {
		t.Errorf("delay after 20 failures %s, want %s", b.d, maxBackoff)
	}
}

// TestBackoffSpreadsALongOutage follows the link's waits through an
// outage on the link's clock, moved by each wait as if it had been slept:
// quick at first (every wait at most 6 s, so a blip is over for the agent
// within seconds of the server's return), then, once the outage has lasted
// longOutage, waits up to maxOutageBackoff spread evenly from zero (a fleet
// of 50,000 then makes ≈ 1,700 attempts a second, not 25,000), a
// Retry-After still the wait, and a success makes the next outage quick.
func TestBackoffSpreadsALongOutage(t *testing.T) {
	clock := testenv.NewClock(time.Unix(1e9, 0))
	b := newBackoff(clock)
	start := clock.Now()
	var long []time.Duration // the waits after the outage's first longOutage
	for clock.Now().Sub(start) < time.Hour {
		inOutage := clock.Now().Sub(start)
		d := b.next(nil)
		if inOutage < longOutage && d > maxBackoff*3/2 {
			t.Fatalf("%s into the outage a wait of %s, want at most %s", inOutage, d, maxBackoff*3/2)
		}
		if d > maxOutageBackoff {
			t.Fatalf("%s into the outage a wait of %s, want at most %s", inOutage, d, maxOutageBackoff)
		}
		if inOutage >= 3*longOutage {
			long = append(long, d)
		}
		clock.Add(d)
	}
	var sum time.Duration
	short := 0
	for _, d := range long {
		sum += d
		if d < maxBackoff {
			short++
		}
	}
	// Full jitter over [0, 60 s]: a mean near 30 s (the bound is loose:
	// 100+ waits), and some waits as short as the quick phase's.
	if mean := sum / time.Duration(len(long)); mean < 20*time.Second || mean > 40*time.Second {
		t.Errorf("the mean wait of a long outage is %s over %d waits, want ≈ %s", mean, len(long), maxOutageBackoff/2)
	}
	if short == 0 {
		t.Errorf("no wait of a long outage under %s in %d: not spread from zero", maxBackoff, len(long))
	}

	retry := &retryLater{err: hoist.Errorf(hoist.EUnavailable, "the database is unavailable"), after: 2 * time.Second}
	for range 20 {
		if d := b.next(retry); d < 2*time.Second || d > 2*time.Second+time.Second/2 {
			t.Fatalf("a wait of %s after Retry-After: 2 in a long outage, want 2 s to 2.5 s", d)
		}
	}

	b.reset()
	if d := b.next(nil); d > minBackoff*3/2 {
		t.Errorf("the first wait after a success and a new failure is %s, want at most %s", d, minBackoff*3/2)
	}
}
