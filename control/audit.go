package control

import (
	"context"
	"fmt"

	"github.com/hoist-jit/hoist"
)

// Audit calls fn for each audit record that matches f, in order.
func (s *Service) Audit(ctx context.Context, a Actor, f hoist.AuditFilter, fn func(hoist.AuditRecord) error) error {
	if err := a.require(hoist.PermitReadAudit); err != nil {
		return err
	}
	return s.store.View(ctx, func(tx hoist.Tx) error { return tx.Audit(ctx, f, fn) })
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
