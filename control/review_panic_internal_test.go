package control

import (
	"context"
	"testing"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/pgtest"
	"github.com/hoist-jit/hoist/postgres"
	"github.com/hoist-jit/hoist/sqlite"
)

// recovered runs fn and returns what it panicked with, nil for nothing.
func recovered(fn func()) (p any) {
	defer func() { p = recover() }()
	fn()
	return nil
}

// TestReviewApartPanicReachesCaller: the API turns a handler's panic into a
// 500 and keeps the server up (api.instrument). A panic in what a batch's
// workers (eachID, PostgreSQL) or a long poll's read (viewApart) run must
// reach the handler's goroutine as before those ran apart, not end the
// whole server.
func TestReviewApartPanicReachesCaller(t *testing.T) {
	ctx := context.Background()
	pg, err := postgres.Open(ctx, pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	s := &Service{store: pg}
	p := recovered(func() {
		s.eachID(ctx, []string{"req_a", "req_b", "req_c"}, func(i int, id string) {
			if id == "req_b" {
				panic("boom in a batch")
			}
		})
	})
	if p != "boom in a batch" {
		t.Errorf("eachID's caller recovered %v, want the worker's panic", p)
	}
	lite, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	s = &Service{store: lite}
	p = recovered(func() {
		_ = s.viewApart(ctx, func(hoist.Reads) error { panic("boom in a read") })
	})
	if p != "boom in a read" {
		t.Errorf("viewApart's caller recovered %v, want the read's panic", p)
	}
}
