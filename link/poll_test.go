package link

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/testenv"
)

// TestQuickEmptyPollsBackOff: a proxy in front of the server that answers
// every event long poll at once and empty (or cuts it short) must not have
// the link poll as fast as the round trip allows. On a clock that stands
// still every poll comes back "at once": after each one the link waits on
// its clock, and polls again only when the clock is moved past the wait.
func TestQuickEmptyPollsBackOff(t *testing.T) {
	var polls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		polls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"events":[],"cursor":0}`))
	}))
	defer srv.Close()
	base, _ := url.Parse(srv.URL)
	clock := testenv.NewClock(time.Unix(1e9, 0))
	l := &Link{c: &Client{base: base, http: srv.Client(), poll: srv.Client()}, stateDir: t.TempDir(),
		log: slog.New(slog.DiscardHandler), clock: clock}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); l.pollEvents(ctx) }()
	defer func() { cancel(); <-stopped }()

	for want := int64(1); want <= 5; want++ {
		testenv.WaitUntil(t, "the link to wait after an empty poll", func() bool { return clock.Timers() == 1 })
		if got := polls.Load(); got != want {
			t.Fatalf("%d polls before the clock moved past the wait, want %d", got, want)
		}
		clock.Add(maxOutageBackoff) // past any wait
		testenv.WaitUntil(t, "the next poll", func() bool { return polls.Load() > want })
	}
}
