package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/sqlite"
	"github.com/hoist-jit/hoist/storetest"
)

func TestConformance(t *testing.T) {
	var (
		mu    sync.Mutex
		paths = map[hoist.Store]string{}
	)
	storetest.Run(t, storetest.Backend{
		Open: func(t *testing.T) hoist.Store {
			path := filepath.Join(t.TempDir(), "hoist.db")
			s, err := sqlite.OpenFile(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			mu.Lock()
			paths[s] = path
			mu.Unlock()
			return s
		},
		Exec: func(t *testing.T, s hoist.Store, q string) error {
			mu.Lock()
			path := paths[s]
			mu.Unlock()
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			_, err = db.Exec(q)
			return err
		},
		DropGuards: []string{
			`DROP TRIGGER audit_no_update`,
			`DROP TRIGGER audit_no_delete`,
			`DROP TRIGGER audit_head_forward`,
		},
	})
}

func TestReopenKeepsData(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, err := sqlite.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Update(ctx, func(tx hoist.Tx) error {
		_, err := tx.AppendAudit(ctx, hoist.AuditEvent{Actor: "a", Action: "test"}, time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = sqlite.Open(ctx, dir) // migrations run again and find nothing to do
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := storetest.Verify(s); err != nil {
		t.Fatal(err)
	}
	var seq int64
	_ = s.View(ctx, func(tx hoist.Tx) (err error) { seq, _, err = tx.AuditHead(ctx); return err })
	if seq != 1 {
		t.Fatalf("head after reopen = %d, want 1", seq)
	}
}
