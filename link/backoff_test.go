package link

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
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

// The wait grows to maxBackoff and no further.
func TestBackoffIsBounded(t *testing.T) {
	b := newBackoff()
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // wait returns at once; only the delays are looked at
	for range 20 {
		b.wait(ctx, nil)
	}
	if b.d != maxBackoff {
		t.Errorf("delay after 20 failures %s, want %s", b.d, maxBackoff)
	}
}
