package postgres_test

import (
	"context"
	"database/sql"
	"testing"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/pgtest"
	"github.com/hoist-jit/hoist/postgres"
	"github.com/hoist-jit/hoist/storetest"
)

// TestSealAfterACrash: a record committed with its change but not yet
// sealed when the server died (left in audit_pending) is in the chain once
// a server opens the database again.
func TestSealAfterACrash(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db := rawDB(t, url)
	// What a change's transaction writes before its commit, the seal
	// never reached.
	if _, err := db.Exec(`INSERT INTO audit_pending (time, actor, action, subject, detail) VALUES (1, 'alice', 'request.created', 'req_1', '{"n":1}')`); err != nil {
		t.Fatal(err)
	}
	s, err = postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var got []hoist.AuditRecord
	err = s.View(ctx, func(tx hoist.Tx) error {
		return tx.Audit(ctx, hoist.AuditFilter{}, func(r hoist.AuditRecord) error { got = append(got, r); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Seq != 1 || got[0].Subject != "req_1" || string(got[0].Detail) != `{"n":1}` {
		t.Fatalf("log after reopening = %+v, want the pending record as record 1", got)
	}
	if err := storetest.Verify(s); err != nil {
		t.Fatal(err)
	}
}

// TestPendingRecordsAreGuarded: with direct access to the database, a
// record waiting for its seal can be neither changed nor removed, and the
// head cannot be moved to a record the log does not hold.
func TestPendingRecordsAreGuarded(t *testing.T) {
	ctx := context.Background()
	url := pgtest.URL(t)
	s, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	db := rawDB(t, url)
	if _, err := db.Exec(`INSERT INTO audit_pending (time, actor, action, subject, detail) VALUES (1, 'alice', 'request.created', 'req_1', '')`); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`UPDATE audit_pending SET actor = 'mallory'`,
		`DELETE FROM audit_pending`,
		`UPDATE audit_head SET seq = 5, hash = 'forged'`,
	} {
		if _, err := db.Exec(q); err == nil {
			t.Errorf("%s: the database allowed it", q)
		}
	}
	// The guard lets the sealer through.
	if err := s.Seal(ctx); err != nil {
		t.Fatal(err)
	}
	if err := storetest.Verify(s); err != nil {
		t.Fatal(err)
	}
	var left int
	if err := db.QueryRow(`SELECT count(*) FROM audit_pending`).Scan(&left); err != nil || left != 0 {
		t.Fatalf("%d records still pending after the seal (%v)", left, err)
	}
}

func rawDB(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}
