package sink_test

import (
	"context"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/sink"
	"github.com/hoist-jit/hoist/sqlite"
	"github.com/hoist-jit/hoist/testenv"
)

var ctx = context.Background()

type fixture struct {
	svc   *control.Service
	store hoist.Store
	clock *testenv.Clock
	admin control.Actor
	next  int
}

// newFixture is a control service on SQLite that delivers through the
// real sinks, on a clock the test moves.
func newFixture(t *testing.T, opts ...func(*sink.Config)) *fixture {
	t.Helper()
	clk := testenv.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	sc := sink.Config{ConsoleURL: "https://hoist.example", Clock: clk.Now, Hostname: "hoist-test"}
	for _, o := range opts {
		o(&sc)
	}
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	svc, err := control.New(control.Config{Store: store, Settings: hoist.DefaultApprovalSettings(), Clock: clk.Now,
		Sink:      sink.New(sc),
		SecretKey: []byte("0123456789abcdef0123456789abcdef"), Jitter: func() float64 { return 0 }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Bootstrap(ctx, "correct horse battery staple"); err != nil {
		t.Fatal(err)
	}
	token, _, _, err := svc.Login(ctx, "admin", "correct horse battery staple", "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	admin, err := svc.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{svc: svc, store: store, clock: clk, admin: admin}
}
