// Package sqlstore implements hoist.Store on database/sql. It is the one copy
// of the SQL that the sqlite and postgres packages share; they supply the
// driver, the schema migrations and a Dialect for what differs.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
)

// Dialect is what differs between the SQL databases Hoist runs on.
type Dialect struct {
	// Dollar numbers placeholders $1, $2… instead of ?.
	Dollar bool
	// LockHead is appended to the query that reads the audit head in a write
	// transaction, to serialize appenders (" FOR UPDATE" on PostgreSQL; SQLite
	// serializes writers already).
	LockHead string
	// IsUnique reports whether err is a unique-constraint violation.
	IsUnique func(error) bool
	// IsRetryable reports whether err is a transient conflict between
	// transactions (a serialization failure or a deadlock).
	IsRetryable func(error) bool
	// IsBadInput reports whether err is the database refusing a value (a NUL
	// byte, invalid UTF-8), which is the caller's mistake.
	IsBadInput func(error) bool
	// NotifyAgent is the statement that announces an agent's new events to
	// other servers at commit, with the agent id as its one argument; empty
	// where there are no other servers.
	NotifyAgent string
	// LockAgentEvents is the statement that takes a lock, held to the
	// commit, on one agent's event queue (the agent id its argument), before
	// an event for it draws its number; empty where writers are serialized
	// anyway (SQLite). Agents read their events by number, after the last
	// they got: were two transactions to queue events for one agent side by
	// side, the one that drew the lower number could commit last, after a
	// poll had moved the agent past it, and that event — a grant, a denial,
	// a revoke — would never reach it. With the lock, one agent's events
	// commit in the order of their numbers.
	LockAgentEvents string
	// RelaxDurability is the statement that lets one transaction commit
	// without waiting for its flush to disk; empty where there is none.
	RelaxDurability string
	// ReadIsolation is the isolation of read-only transactions: a snapshot,
	// so that a view across several statements is consistent (PostgreSQL's
	// default READ COMMITTED is not).
	ReadIsolation sql.IsolationLevel
	// SkipLocked is appended to a query that locks a row another server may
	// hold, to skip it rather than wait (" FOR UPDATE SKIP LOCKED" on
	// PostgreSQL; SQLite serializes writers already).
	SkipLocked string
	// SealAfterCommit lets a transaction that asks for it
	// (hoist.Tx.SealAuditAfterCommit) write its audit records to
	// audit_pending and have them chained right after it commits (see
	// Seal), so that it does not hold the audit head for the rest of its
	// transaction (PostgreSQL). Without it every record is chained in its
	// transaction, as SQLite's one writer at a time allows anyway.
	SealAfterCommit bool
	// DrawPendingIDs is the query that draws n new ids of audit_pending
	// (n its one argument, the ids in any order) for SealAfterCommit.
	DrawPendingIDs string
	// Backend names the database backend of a driver connection (its
	// PostgreSQL pid, which the notifications it sends carry), 0 when it
	// cannot; nil where there are no notifications.
	Backend func(driverConn any) uint32
}

// Store is a hoist.Store on database/sql.
type Store struct {
	writer  *sql.DB // write transactions
	reader  *sql.DB // read-only transactions; may be writer
	dialect Dialect

	sealer   sealer
	notifier notifier
	sent     sentNotifications
}

var _ hoist.Store = (*Store)(nil)

// New returns a store that writes through writer and reads through reader
// (which may be the same pool). The schema must already be migrated.
func New(writer, reader *sql.DB, d Dialect) *Store {
	s := &Store{writer: writer, reader: reader, dialect: d}
	s.notifier.store = s
	return s
}

// Update runs fn in a read-write transaction.
func (s *Store) Update(ctx context.Context, fn func(hoist.Tx) error) error {
	return s.run(ctx, s.writer, nil, fn)
}

// View runs fn in a read-only transaction.
func (s *Store) View(ctx context.Context, fn func(hoist.Tx) error) error {
	return s.run(ctx, s.reader, &sql.TxOptions{ReadOnly: true, Isolation: s.dialect.ReadIsolation}, fn)
}

// Read runs fn's reads on the read pool, each a statement of its own with
// no transaction around it (see hoist.Store.Read).
func (s *Store) Read(ctx context.Context, fn func(hoist.Reads) error) error {
	return fn(&tx{tx: s.reader, d: s.dialect, store: s, readOnly: true})
}

func (s *Store) run(ctx context.Context, db *sql.DB, opts *sql.TxOptions, fn func(hoist.Tx) error) error {
	sqlTx, err := db.BeginTx(ctx, opts)
	if err != nil {
		return s.storeError("begin transaction", err)
	}
	t := &tx{tx: sqlTx, d: s.dialect, store: s, readOnly: opts != nil && opts.ReadOnly}
	err = fn(t)
	if err == nil {
		err = t.writePending(ctx)
	}
	if err != nil {
		_ = sqlTx.Rollback()
		return err
	}
	if err := sqlTx.Commit(); err != nil {
		return s.storeError("commit", err)
	}
	// Taken once: the agents notified are woken here exactly when their
	// echo may be skipped (see echo.go).
	var wake func(string)
	if len(t.notify) > 0 {
		wake = s.sent.waker()
		s.notifier.send(t.notify, wake != nil)
	}
	if len(t.pending) != 0 {
		// The change and its records are committed whatever the seal
		// does: a failed seal is retried, never reported as the change's.
		_ = s.sealer.await(ctx, s.sealAll)
	}
	if wake != nil {
		// After the seal, as the caller's own wake: a poll woken
		// before would have been renewed by then and woken again.
		for _, id := range t.notify {
			wake(id)
		}
	}
	return nil
}

// sealAll is one round of the sealer, on no caller's context: the records
// it seals are every writer's.
func (s *Store) sealAll() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return s.Seal(ctx)
}

// ConcurrentWriters reports whether write transactions commit side by side
// rather than one at a time: where records seal after commit (PostgreSQL),
// not on SQLite's one writer.
func (s *Store) ConcurrentWriters() bool { return s.dialect.SealAfterCommit }

// WriterStats are the write pool's figures (connections in use, waits for
// one and their time), for metrics and for tests that must know the pool
// is exhausted rather than guess it by the clock.
func (s *Store) WriterStats() sql.DBStats { return s.writer.Stats() }

// Ping reports whether the database answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.writer.PingContext(ctx); err != nil {
		return hoist.WrapError(hoist.EUnavailable, "the database does not answer", err)
	}
	return nil
}

// Close closes both pools.
func (s *Store) Close() error {
	s.sealer.close()
	s.notifier.close()
	err := s.writer.Close()
	if s.reader != s.writer {
		err = errors.Join(err, s.reader.Close())
	}
	return err
}

// storeError turns a driver error into a hoist error: context ends pass
// through, races become EConflict, the rest EUnavailable.
func (s *Store) storeError(what string, err error) error {
	switch {
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return err
	case s.dialect.IsUnique != nil && s.dialect.IsUnique(err):
		return hoist.WrapError(hoist.EConflict, "it already exists", err)
	case s.dialect.IsRetryable != nil && s.dialect.IsRetryable(err):
		return hoist.WrapError(hoist.EConflict, "a concurrent change won; try again", err)
	case s.dialect.IsBadInput != nil && s.dialect.IsBadInput(err):
		return hoist.WrapError(hoist.EInvalid, "the input holds characters that cannot be stored", err)
	}
	var herr *hoist.Error
	if errors.As(err, &herr) {
		return err
	}
	return hoist.WrapError(hoist.EUnavailable, "the database failed to "+what, err)
}

// querier is what tx sends its statements to: the transaction's *sql.Tx,
// or for Read the pool's *sql.DB.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// tx implements hoist.Tx, and for Read hoist.Reads.
type tx struct {
	tx    querier
	d     Dialect
	store *Store
	// deferSeal sends the audit records appended from now on to
	// audit_pending (see Seal); pending holds them, with their outbox
	// events, until writePending writes them before the commit.
	deferSeal bool
	pending   []pendingRecord
	// notify holds the agents NotifyAgent named, to be notified after
	// the commit.
	notify []string
	// eventLocks holds the agents whose event queue this transaction has
	// locked (Dialect.LockAgentEvents).
	eventLocks map[string]bool
	// written holds the requests and sessions this transaction wrote (see
	// remember).
	written map[string]string
	// readOnly is a View's transaction; relaxed, one that called
	// RelaxDurability; bundle, what Groups read with the policies and
	// emergency codes (see bundleread.go), nil after any write.
	readOnly, relaxed bool
	bundle            *bundleRead
}

// bind rewrites ? placeholders to $n where the dialect wants it. Queries here
// never hold a literal '?'.
func (t *tx) bind(q string) string {
	if !t.d.Dollar {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (t *tx) exec(ctx context.Context, what, q string, args ...any) (sql.Result, error) {
	t.bundle = nil // a write may change what Groups read; see bundleread.go
	res, err := t.tx.ExecContext(ctx, t.bind(q), args...)
	if err != nil {
		return nil, t.store.storeError(what, err)
	}
	return res, nil
}

func (t *tx) query(ctx context.Context, what, q string, args ...any) (*sql.Rows, error) {
	rows, err := t.tx.QueryContext(ctx, t.bind(q), args...)
	if err != nil {
		return nil, t.store.storeError(what, err)
	}
	return rows, nil
}

// where collects the conditions of a filtered query.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// expectOne turns an UPDATE that matched no row into err.
func expectOne(res sql.Result, err error) error {
	n, rerr := res.RowsAffected()
	if rerr != nil {
		return hoist.WrapError(hoist.EUnavailable, "the database failed to count rows", rerr)
	}
	if n != 1 {
		return err
	}
	return nil
}
