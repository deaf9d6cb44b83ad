package postgres_test

import (
	"context"
	"database/sql"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/pgtest"
	"github.com/hoist-jit/hoist/postgres"
	"github.com/hoist-jit/hoist/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestConformance(t *testing.T) {
	var (
		mu   sync.Mutex
		urls = map[hoist.Store]string{}
	)
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T) hoist.Store {
			url := pgtest.URL(t)
			s, err := postgres.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			mu.Lock()
			urls[s] = url
			mu.Unlock()
			return s
		},
		Exec: func(t *testing.T, s hoist.Store, q string) error {
			mu.Lock()
			url := urls[s]
			mu.Unlock()
			db, err := sql.Open("pgx", url)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			_, err = db.Exec(q)
			return err
		},
		DropGuards: []string{
			`DROP TRIGGER audit_no_change ON audit`,
			`DROP TRIGGER audit_head_forward ON audit_head`,
		},
	})
}

func TestBadURLIsAClearError(t *testing.T) {
	_, err := postgres.Open(context.Background(), "postgres://user:s3cret@[::1")
	if hoist.ErrorCode(err) != hoist.EInvalid {
		t.Fatalf("error = %v, want invalid", err)
	}
	if msg := hoist.ErrorMessage(err); msg == "" || strings.Contains(msg, "s3cret") {
		t.Fatalf("message %q must be set and must not echo the password", msg)
	}
}
