package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/hoist-jit/hoist"
)

// Where the dialect seals after commit (PostgreSQL), a transaction that
// asks for it (hoist.Tx.SealAuditAfterCommit) writes its audit records to
// audit_pending, in the transaction but without a place in the chain, and
// Update chains them right after the commit, before it returns: Seal locks the audit head, gives every committed pending record
// the next sequence number and its hashes, in the order of their ids, moves
// them into the log with their outbox events, and advances the head, in
// one transaction. Such writers then hold no lock in common for the rest of
// their transaction and their commit, so PostgreSQL commits them together;
// only the short seal transactions follow each other, each sealing all
// that waits, whichever server wrote it.
//
// What a crash between a change's commit and its seal leaves pending is
// sealed by the next seal (every Update that left one seals, and Open seals
// first). Until it is sealed, a record is durable but not yet in the log
// that readers, exports and checkpoints see.

// sealBatch is the most pending records one seal transaction chains.
const sealBatch = 500

// sealRetry is how long after a failed seal the store tries again by itself,
// so that a record of the last write before a quiet spell is not left
// pending until the next write.
const sealRetry = time.Second

// Seal chains the audit records committed but not yet in the log (see
// above). It is a no-op where the dialect seals in the writer's
// transaction. Safe to call from several goroutines and servers at once.
func (s *Store) Seal(ctx context.Context) error {
	if !s.dialect.SealAfterCommit {
		return nil
	}
	for {
		n, err := s.sealOnce(ctx)
		if err != nil || n < sealBatch {
			return err
		}
	}
}

// sealOnce seals up to sealBatch records in one transaction and returns how
// many.
func (s *Store) sealOnce(ctx context.Context) (int, error) {
	sqlTx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return 0, s.storeError("begin transaction", err)
	}
	t := &tx{tx: sqlTx, d: s.dialect, store: s}
	n, err := t.seal(ctx)
	if err != nil {
		_ = sqlTx.Rollback()
		return 0, err
	}
	if err := sqlTx.Commit(); err != nil {
		return 0, s.storeError("commit", err)
	}
	return n, nil
}

// pendingRecord is an audit record waiting for its place in the chain.
type pendingRecord struct {
	id    int64
	rec   hoist.AuditRecord
	event sql.NullString // its outbox event, when it has one
}

func (t *tx) seal(ctx context.Context) (int, error) {
	seq, hash, err := t.auditHead(ctx, t.d.LockHead)
	if err != nil {
		return 0, err
	}
	// Read after the lock: what an earlier sealer moved is gone by now.
	pending, err := t.pendingRecords(ctx)
	if err != nil || len(pending) == 0 {
		return 0, err
	}
	headSeq := seq
	for i := range pending {
		r := &pending[i].rec
		r.Seq, r.PrevHash = seq+1, hash
		r.Hash = r.ComputeHash()
		seq, hash = r.Seq, r.Hash
	}
	if err := t.insertSealed(ctx, pending); err != nil {
		return 0, err
	}
	if err := t.insertSealedEvents(ctx, pending); err != nil {
		return 0, err
	}
	// One statement whatever the batch's size, so that it is prepared once.
	if _, err := t.exec(ctx, "remove sealed audit records",
		`DELETE FROM audit_pending WHERE id IN (SELECT pending_id FROM audit WHERE seq > ?)`, headSeq); err != nil {
		return 0, err
	}
	res, err := t.exec(ctx, "advance the audit head",
		`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1 AND seq = ?`, seq, hash, headSeq)
	if err != nil {
		return 0, err
	}
	if err := expectOne(res, hoist.Errorf(hoist.EConflict, "the audit log moved on; try again")); err != nil {
		return 0, err
	}
	return len(pending), nil
}

func (t *tx) pendingRecords(ctx context.Context) ([]pendingRecord, error) {
	rows, err := t.query(ctx, "read pending audit records",
		`SELECT p.id, p.time, p.actor, p.action, p.subject, p.detail, e.data
		FROM audit_pending p LEFT JOIN audit_pending_events e ON e.audit_id = p.id
		ORDER BY p.id LIMIT ?`, sealBatch)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []pendingRecord
	for rows.Next() {
		var (
			p      pendingRecord
			at     int64
			detail string
		)
		if err := rows.Scan(&p.id, &at, &p.rec.Actor, &p.rec.Action, &p.rec.Subject, &detail, &p.event); err != nil {
			return nil, t.store.storeError("read pending audit records", err)
		}
		p.rec.Time = fromMicros(at)
		if detail != "" {
			p.rec.Detail = []byte(detail)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, t.store.storeError("read pending audit records", err)
	}
	return out, nil
}

func (t *tx) insertSealed(ctx context.Context, pending []pendingRecord) error {
	args := make([]any, 0, 9*len(pending))
	for _, p := range pending {
		r := p.rec
		args = append(args, r.Seq, micros(r.Time), r.Actor, r.Action, r.Subject, string(r.Detail), r.PrevHash, r.Hash, p.id)
	}
	_, err := t.exec(ctx, "append to the audit log",
		`INSERT INTO audit (seq, time, actor, action, subject, detail, prev_hash, hash, pending_id) VALUES `+rowsOf(9, len(pending)), args...)
	return err
}

// insertSealedEvents queues the outbox events of the sealed records, each
// numbered by its record.
func (t *tx) insertSealedEvents(ctx context.Context, pending []pendingRecord) error {
	var args []any
	for _, p := range pending {
		if !p.event.Valid {
			continue
		}
		var ev hoist.IntegrationEvent
		if err := json.Unmarshal([]byte(p.event.String), &ev); err != nil {
			return hoist.WrapError(hoist.EInternal, "a pending outbox event cannot be read", err)
		}
		ev.Seq = p.rec.Seq
		data, err := encode(ev)
		if err != nil {
			return err
		}
		args = append(args, ev.Seq, data)
	}
	if len(args) == 0 {
		return nil
	}
	_, err := t.exec(ctx, "queue events",
		`INSERT INTO integration_events (seq, data) VALUES `+rowsOf(2, len(args)/2), args...)
	return err
}

// appendPending keeps ev for audit_pending, to be sealed when the
// transaction has committed; writePending writes what it kept just before the
// commit. The record returned has no place in the chain yet: Seq 0, no
// hashes. Nothing in a transaction reads its own pending records back, so
// holding them to the end costs nothing but saves a round trip per record
// and per outbox event.
func (t *tx) appendPending(ctx context.Context, ev hoist.AuditEvent, now time.Time) (hoist.AuditRecord, error) {
	rec, err := ev.Seal(0, "", now)
	if err != nil {
		return hoist.AuditRecord{}, err
	}
	rec.Seq, rec.PrevHash, rec.Hash = 0, "", ""
	t.pending = append(t.pending, pendingRecord{rec: rec})
	return rec, nil
}

// insertPendingEvent queues ev with the audit record this transaction
// appended last, to be numbered by it when it is sealed.
func (t *tx) insertPendingEvent(ctx context.Context, ev hoist.IntegrationEvent) error {
	if len(t.pending) == 0 {
		return hoist.Errorf(hoist.EInternal, "an outbox event without a sequence number needs an audit record appended before it in its transaction")
	}
	last := &t.pending[len(t.pending)-1]
	if last.event.Valid {
		return hoist.Errorf(hoist.EInternal, "an audit record carries one outbox event at most")
	}
	data, err := encode(ev)
	if err != nil {
		return err
	}
	last.event = sql.NullString{String: data, Valid: true}
	return nil
}

// writePending writes the audit records and outbox events the transaction
// kept (appendPending) in one statement: it draws their ids
// (Dialect.DrawPendingIDs) and gives them out in ascending order, so that
// the seal, which chains by id, keeps the records in the order they were
// appended; the events join their records by those ids.
func (t *tx) writePending(ctx context.Context) error {
	if len(t.pending) == 0 {
		return nil
	}
	args := make([]any, 0, 1+7*len(t.pending))
	args = append(args, len(t.pending))
	rows := make([]string, len(t.pending))
	for i, p := range t.pending {
		r := p.rec
		rows[i] = "(?::bigint, ?::bigint, ?::text, ?::text, ?::text, ?::text, ?::text)"
		args = append(args, i+1, micros(r.Time), r.Actor, r.Action, r.Subject, string(r.Detail), p.event)
	}
	_, err := t.exec(ctx, "append to the audit log",
		`WITH drawn AS MATERIALIZED (`+t.d.DrawPendingIDs+`),
		ranked AS MATERIALIZED (SELECT id, row_number() OVER (ORDER BY id) AS ord FROM drawn),
		kept (ord, time, actor, action, subject, detail, event) AS (VALUES `+strings.Join(rows, ", ")+`),
		records AS (INSERT INTO audit_pending (id, time, actor, action, subject, detail)
			SELECT r.id, k.time, k.actor, k.action, k.subject, k.detail FROM kept k JOIN ranked r ON r.ord = k.ord)
		INSERT INTO audit_pending_events (audit_id, data)
			SELECT r.id, k.event FROM kept k JOIN ranked r ON r.ord = k.ord WHERE k.event IS NOT NULL`,
		args...)
	return err
}

// placeholders returns n comma-separated ?.
func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// rowsOf returns n rows of a multi-row VALUES of cols columns each.
func rowsOf(cols, n int) string {
	row := "(" + placeholders(cols) + ")"
	return strings.TrimSuffix(strings.Repeat(row+", ", n), ", ")
}

// sealer runs one seal at a time in this process and lets every caller
// wait for a seal that began after it asked: the callers that ask while a
// seal runs share the next one, so that a burst of writers costs a few
// seal transactions, not one each.
type sealer struct {
	mu      sync.Mutex
	running bool
	next    *sealRound
	closed  bool
	retry   *time.Timer
}

type sealRound struct {
	done chan struct{}
	err  error
}

// await asks for a seal by run and waits until one that began after the
// call has ended, or ctx ends (the record is committed either way: a
// failed seal is retried, see sealRetry).
func (z *sealer) await(ctx context.Context, run func() error) error {
	z.mu.Lock()
	if z.next == nil {
		z.next = &sealRound{done: make(chan struct{})}
	}
	r := z.next
	if !z.running {
		z.start(run)
	}
	z.mu.Unlock()
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// start runs the next round; z.mu is held.
func (z *sealer) start(run func() error) {
	r := z.next
	z.next, z.running = nil, true
	go func() {
		r.err = run()
		close(r.done)
		z.mu.Lock()
		defer z.mu.Unlock()
		z.running = false
		switch {
		case z.next != nil:
			z.start(run)
		case r.err != nil && !z.closed && z.retry == nil:
			z.retry = time.AfterFunc(sealRetry, func() {
				z.mu.Lock()
				z.retry = nil
				z.mu.Unlock()
				_ = z.await(context.Background(), run)
			})
		}
	}()
}

// close stops retries; a seal running goes on to its end.
func (z *sealer) close() {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.closed = true
	if z.retry != nil {
		z.retry.Stop()
		z.retry = nil
	}
}
