package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/hoist-jit/hoist"
)

// Audit calls fn for each audit record that matches f, in order.
func (s *Service) Audit(ctx context.Context, a Actor, f hoist.AuditFilter, fn func(hoist.AuditRecord) error) error {
	if err := a.require(hoist.PermitReadAudit); err != nil {
		return err
	}
	return s.store.View(ctx, func(tx hoist.Tx) error { return tx.Audit(ctx, f, fn) })
}

// AuditBatches reads the records that match f, in order, batch records per
// transaction, and calls fn with each batch outside any transaction. An
// export to a slow reader therefore never holds the store: between batches
// it holds nothing. keep, when not nil, filters records further.
func (s *Service) AuditBatches(ctx context.Context, a Actor, f hoist.AuditFilter, batch int, keep func(hoist.AuditRecord) bool, fn func([]hoist.AuditRecord) error) error {
	if err := a.require(hoist.PermitReadAudit); err != nil {
		return err
	}
	if batch <= 0 {
		batch = 1000
	}
	limit := f.Limit // zero: all of them
	sent := 0
	for {
		page := f
		page.Limit, page.Newest = batch, false
		var recs []hoist.AuditRecord
		read := 0
		err := s.store.View(ctx, func(tx hoist.Tx) error {
			return tx.Audit(ctx, page, func(r hoist.AuditRecord) error {
				read++
				page.AfterSeq = r.Seq
				if keep == nil || keep(r) {
					recs = append(recs, r)
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		if limit > 0 && sent+len(recs) > limit {
			recs = recs[:limit-sent]
		}
		if len(recs) > 0 {
			if err := fn(recs); err != nil {
				return err
			}
			sent += len(recs)
		}
		if read < batch || (limit > 0 && sent >= limit) {
			return nil
		}
		f.AfterSeq = page.AfterSeq
	}
}

// ExportAudit writes the records that match f (and keep, when not nil) to w
// as JSON lines, oldest first: the format of `hoist-server audit export`.
// It reads in batches (see AuditBatches) and calls beforeWrite before each
// batch, where an HTTP adapter moves its write deadline, so that a reader
// that stops reading is cut off instead of holding a connection forever.
// At most two exports run at once. wrote says whether any byte reached w:
// after that, an error can only cut the file short.
func (s *Service) ExportAudit(ctx context.Context, a Actor, f hoist.AuditFilter, keep func(hoist.AuditRecord) bool, w io.Writer, beforeWrite func() error) (wrote bool, err error) {
	if err := a.require(hoist.PermitReadAudit); err != nil {
		return false, err
	}
	select {
	case s.exportSlots <- struct{}{}:
		defer func() { <-s.exportSlots }()
	default:
		return false, hoist.Errorf(hoist.ERateLimited, "two audit exports are running already; try again when one has finished")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	err = s.AuditBatches(ctx, a, f, 1000, keep, func(recs []hoist.AuditRecord) error {
		buf.Reset()
		for _, r := range recs {
			if err := enc.Encode(r); err != nil {
				return err
			}
		}
		if beforeWrite != nil {
			if err := beforeWrite(); err != nil {
				return err
			}
		}
		n, err := w.Write(buf.Bytes())
		wrote = wrote || n > 0
		return err
	})
	return wrote, err
}

// ChainReport is the state of the audit chain.
type ChainReport struct {
	OK       bool   `json:"ok"`
	Records  int64  `json:"records"`
	HeadSeq  int64  `json:"head_seq"`
	HeadHash string `json:"head_hash"`
	Problem  string `json:"problem,omitempty"`
}

// VerifyAudit checks the whole audit chain and its head. A broken chain is a
// report with OK false, not an error; err is for a store that cannot be read.
func VerifyAudit(ctx context.Context, store hoist.Store) (ChainReport, error) {
	var rep ChainReport
	err := store.View(ctx, func(tx hoist.Tx) error {
		v := hoist.NewChainVerifier()
		err := tx.Audit(ctx, hoist.AuditFilter{}, v.Next)
		rep.Records = v.Count()
		if err != nil {
			if hoist.ErrorCode(err) == hoist.EConflict {
				rep.Problem = hoist.ErrorMessage(err)
				return nil
			}
			return err
		}
		seq, hash, err := tx.AuditHead(ctx)
		if err != nil {
			return err
		}
		rep.HeadSeq, rep.HeadHash = seq, hash
		if lastSeq, lastHash := v.Head(); lastSeq != seq || lastHash != hash {
			rep.Problem = fmt.Sprintf("the log ends at record %d but its head names record %d: records were removed from the end", lastSeq, seq)
			return nil
		}
		rep.OK = true
		return nil
	})
	return rep, err
}

// VerifyAudit checks the audit chain, for an actor allowed to read it.
func (s *Service) VerifyAudit(ctx context.Context, a Actor) (ChainReport, error) {
	if err := a.require(hoist.PermitReadAudit); err != nil {
		return ChainReport{}, err
	}
	return VerifyAudit(ctx, s.store)
}
