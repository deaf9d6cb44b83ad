package control_test

import (
	"testing"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/pgtest"
	"github.com/hoist-jit/hoist/postgres"
	"github.com/hoist-jit/hoist/sqlite"
)

// eachStore runs fn once on a fresh SQLite store and once on a fresh
// PostgreSQL database that the harness starts, each as its own subtest.
func eachStore(t *testing.T, fn func(t *testing.T, store hoist.Store)) {
	open := map[string]func(t *testing.T) (hoist.Store, error){
		"sqlite":   func(t *testing.T) (hoist.Store, error) { return sqlite.Open(ctx, t.TempDir()) },
		"postgres": func(t *testing.T) (hoist.Store, error) { return postgres.Open(ctx, pgtest.URL(t)) },
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			store, err := open[name](t)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { store.Close() })
			fn(t, store)
		})
	}
}
