package link

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/testenv"
	"github.com/hoist-jit/hoist/wire"
)

// auditReceiver is a real HTTP receiver of the link's audit deliveries that
// fails the next `failing` calls (500, as a server with a broken database
// would) and stores what it takes.
type auditReceiver struct {
	mu      sync.Mutex
	failing int
	calls   int
	stored  []string
}

func (r *auditReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.failing > 0 {
		r.failing--
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusInternalServerError)
		_, _ = w.Write([]byte(`{"error":{"code":"internal","message":"internal error"}}`))
		return
	}
	var body wire.AuditBody
	if err := json.NewDecoder(req.Body).Decode(&body); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	for _, ev := range body.Events {
		r.stored = append(r.stored, ev.ID)
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{}`))
}

func (r *auditReceiver) counts() (calls, stored int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls, len(r.stored)
}

func (r *auditReceiver) fail(n int) { r.mu.Lock(); r.failing = n; r.mu.Unlock() }

// TestAuditDeliveryBacksOff: while the server fails audit deliveries the
// link tries again after a wait that grows (on the link's clock), not every
// couple of seconds, and a kick does not cut the wait short; once the server
// takes the events the wait starts again from the shortest.
func TestAuditDeliveryBacksOff(t *testing.T) {
	recv := &auditReceiver{failing: 4}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	base, _ := url.Parse(srv.URL)
	a, err := agent.New(agent.Config{StateDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	clock := testenv.NewClock(time.Unix(1e9, 0))
	l := &Link{c: &Client{base: base, http: srv.Client(), poll: srv.Client()}, a: a, stateDir: t.TempDir(),
		log: slog.New(slog.DiscardHandler), clock: clock, kick: make(chan struct{}, 1), answered: make(chan struct{}, 1),
		refusedRecs: map[string]bool{}}
	if err := a.Outbox().Append("test.event", "alice", "", time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { defer close(stopped); l.deliverLoop(ctx) }()
	defer func() { cancel(); <-stopped }()

	for failed := 1; failed <= 4; failed++ {
		testenv.WaitUntil(t, "the delivery to wait after a failure", func() bool { return clock.Timers() == 1 })
		if calls, _ := recv.counts(); calls != failed {
			t.Fatalf("%d deliveries while waiting after failure %d, want %d", calls, failed, failed)
		}
		l.Kick() // new events: they wait for the backoff too
		if failed >= 3 {
			// The wait has grown past the first ones (at most 150 ms):
			// after the third failure it is at least 200 ms.
			clock.Add(minBackoff * 3 / 2)
			if clock.Timers() != 1 {
				t.Fatalf("after failure %d the wait was over within %s; it must grow", failed, minBackoff*3/2)
			}
		}
		clock.Add(maxBackoff * 3 / 2) // past any wait of the outage's first minute
	}
	testenv.WaitUntil(t, "the event to reach the recovered receiver", func() bool { _, stored := recv.counts(); return stored == 1 })

	// A success starts the backoff again from the shortest wait.
	recv.fail(1)
	if err := a.Outbox().Append("test.event", "alice", "", time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	l.Kick()
	testenv.WaitUntil(t, "the delivery to wait after a new failure", func() bool { return clock.Timers() == 1 })
	clock.Add(minBackoff * 3 / 2)
	if clock.Timers() != 0 {
		t.Fatalf("the first wait after a success and a new failure is longer than %s", minBackoff*3/2)
	}
	testenv.WaitUntil(t, "the second event to reach the receiver", func() bool { _, stored := recv.counts(); return stored == 2 })
}
