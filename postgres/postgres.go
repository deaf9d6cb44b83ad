// Package postgres is Hoist's store for fleets that outgrow one machine:
// several hoist-server replicas share one PostgreSQL database through pgx.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"io/fs"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Open connects to the database at url (postgres://…), brings its schema up
// to date and returns the store. Replicas starting together migrate once:
// the migration holds a PostgreSQL advisory lock.
func Open(ctx context.Context, url string) (*sqlstore.Store, error) {
	cfg, err := pgconnConfig(url)
	if err != nil {
		return nil, err
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	// As many idle as open: with database/sql's default of 2, every burst
	// past two transactions opened new connections, and PostgreSQL forks a
	// backend for each.
	db.SetMaxIdleConns(16)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, hoist.WrapError(hoist.EUnavailable, "cannot connect to PostgreSQL", err)
	}
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	s := sqlstore.New(db, db, sqlstore.Dialect{
		Dollar:        true,
		LockHead:      " FOR UPDATE",
		SkipLocked:    " FOR UPDATE SKIP LOCKED",
		IsUnique:      func(err error) bool { return pgCode(err) == "23505" },
		IsRetryable:   func(err error) bool { c := pgCode(err); return c == "40001" || c == "40P01" },
		IsBadInput:    func(err error) bool { return strings.HasPrefix(pgCode(err), "22") },
		ReadIsolation: sql.LevelRepeatableRead,
		NotifyAgent:   `SELECT pg_notify('` + AgentEventsChannel + `', ?)`,
		// Two agents whose ids hash alike share a lock: their events are
		// queued one transaction after the other, nothing worse.
		LockAgentEvents: `SELECT pg_advisory_xact_lock(hashtextextended('hoist agent events ' || ?, 0))`,
		// Losing the last transactions in a crash (never corrupting) is
		// what this trades for not waiting on the disk.
		RelaxDurability: `SET LOCAL synchronous_commit = off`,
		SealAfterCommit: true,
		DrawPendingIDs:  `SELECT nextval('audit_pending_id_seq') AS id FROM generate_series(1, ?)`,
		Backend:         backendPID,
	})
	// What a crash left between a change's commit and its seal.
	if err := s.Seal(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return hoist.WrapError(hoist.EInternal, "migrations are missing", err)
	}
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return hoist.WrapError(hoist.EInternal, "cannot make the migration lock", err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithDisableGlobalRegistry(true), goose.WithSessionLocker(locker))
	if err != nil {
		return hoist.WrapError(hoist.EInternal, "cannot load migrations", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return hoist.WrapError(hoist.EUnavailable, "cannot migrate the database schema", err)
	}
	return nil
}

// backendPID is the pid of a pool connection's PostgreSQL backend, which
// the notifications it sends carry.
func backendPID(driverConn any) uint32 {
	if c, ok := driverConn.(*stdlib.Conn); ok {
		return c.Conn().PgConn().PID()
	}
	return 0
}

func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
