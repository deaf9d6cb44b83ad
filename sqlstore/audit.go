package sqlstore

import (
	"context"
	"time"

	"github.com/hoist-jit/hoist"
)

// The audit log is two tables: the records, and a one-row head that names the
// last record. Appenders lock the head, so the chain cannot fork (and a
// writer that appends is serialized with every other from its append to its
// commit; a transaction that asks to seal after commit appends to
// audit_pending instead: see seal.go); verify
// compares the head with the last record, so that cutting records off the end
// is seen too. Both tables refuse UPDATE and DELETE by trigger except the
// head's own advance.

// SealAuditAfterCommit: see hoist.Tx and Seal.
func (t *tx) SealAuditAfterCommit() { t.deferSeal = t.deferSeal || t.d.SealAfterCommit }

func (t *tx) AuditHead(ctx context.Context) (int64, string, error) {
	return t.auditHead(ctx, "")
}

func (t *tx) auditHead(ctx context.Context, lock string) (int64, string, error) {
	var (
		seq  int64
		hash string
	)
	err := t.tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit_head WHERE id = 1`+lock).Scan(&seq, &hash)
	if err != nil {
		return 0, "", t.store.storeError("read the audit head", err)
	}
	return seq, hash, nil
}

func (t *tx) AppendAudit(ctx context.Context, ev hoist.AuditEvent, now time.Time) (hoist.AuditRecord, error) {
	if t.deferSeal {
		return t.appendPending(ctx, ev, now)
	}
	seq, hash, err := t.auditHead(ctx, t.d.LockHead)
	if err != nil {
		return hoist.AuditRecord{}, err
	}
	rec, err := ev.Seal(seq, hash, now)
	if err != nil {
		return hoist.AuditRecord{}, err
	}
	if _, err := t.exec(ctx, "append to the audit log",
		`INSERT INTO audit (seq, time, actor, action, subject, detail, prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		rec.Seq, micros(rec.Time), rec.Actor, rec.Action, rec.Subject, string(rec.Detail), rec.PrevHash, rec.Hash); err != nil {
		return hoist.AuditRecord{}, err
	}
	res, err := t.exec(ctx, "advance the audit head",
		`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1 AND seq = ?`, rec.Seq, rec.Hash, seq)
	if err != nil {
		return hoist.AuditRecord{}, err
	}
	if err := expectOne(res, hoist.Errorf(hoist.EConflict, "the audit log moved on; try again")); err != nil {
		return hoist.AuditRecord{}, err
	}
	return rec, nil
}

func (t *tx) Audit(ctx context.Context, f hoist.AuditFilter, fn func(hoist.AuditRecord) error) error {
	var w where
	w.add("seq > ?", f.AfterSeq)
	if f.BeforeSeq > 0 {
		w.add("seq < ?", f.BeforeSeq)
	}
	if f.Action != "" {
		w.add("action = ?", f.Action)
	}
	if f.Actor != "" {
		w.add("actor = ?", f.Actor)
	}
	if f.Subject != "" {
		w.add("subject = ?", f.Subject)
	}
	if f.ActionPrefix != "" {
		w.add("substr(action, 1, ?) = ?", len(f.ActionPrefix), f.ActionPrefix)
	}
	if !f.Since.IsZero() {
		w.add("time >= ?", micros(f.Since))
	}
	if !f.Until.IsZero() {
		w.add("time < ?", micros(f.Until))
	}
	q := `SELECT seq, time, actor, action, subject, detail, prev_hash, hash FROM audit` + w.String() + ` ORDER BY seq`
	if f.Newest {
		q += ` DESC`
	}
	if f.Limit > 0 {
		q += ` LIMIT ?`
		w.args = append(w.args, f.Limit)
	}
	rows, err := t.query(ctx, "read the audit log", q, w.args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			rec    hoist.AuditRecord
			at     int64
			detail string
		)
		if err := rows.Scan(&rec.Seq, &at, &rec.Actor, &rec.Action, &rec.Subject, &detail, &rec.PrevHash, &rec.Hash); err != nil {
			return t.store.storeError("read the audit log", err)
		}
		rec.Time = fromMicros(at)
		if detail != "" {
			rec.Detail = []byte(detail)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return t.store.storeError("read the audit log", err)
	}
	return nil
}
