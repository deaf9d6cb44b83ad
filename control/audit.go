package control

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	"github.com/hoist-jit/hoist"
)

// Audit calls fn for each audit record that matches f, in order.
func (s *Service) Audit(ctx context.Context, a Actor, f hoist.AuditFilter, fn func(hoist.AuditRecord) error) error {
	return s.store.View(ctx, func(tx hoist.Tx) error {
		if err := auditAllowed(ctx, tx, a, f); err != nil {
			return err
		}
		return tx.Audit(ctx, f, fn)
	})
}

// auditAllowed says whether a may read the records f selects: admins and
// auditors read the whole log; an approver reads the records of a session
// they approved (f.Subject naming the session, or the request that started
// it), and nothing else.
func auditAllowed(ctx context.Context, tx hoist.Tx, a Actor, f hoist.AuditFilter) error {
	if hoist.Can(a.Role, hoist.PermitReadAudit) {
		return nil
	}
	refusal := hoist.Errorf(hoist.EForbidden, "role %s may read only the audit records of a session it approved, by its id (subject)", a.Role)
	if !hoist.Can(a.Role, hoist.PermitDecide) || f.Subject == "" {
		return refusal
	}
	sess, err := sessionByAnyID(ctx, tx, f.Subject)
	if hoist.ErrorCode(err) == hoist.ENotFound || (err == nil && !ApprovedBy(sess, a.Name)) {
		return refusal
	}
	return err
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
	// Every export is anchored: the checkpoint signs a head the export
	// reaches, so the copy and the checkpoint can be checked together.
	if _, _, err := s.CheckpointAudit(ctx); err != nil {
		s.log.Warn("cannot write the audit checkpoint of an export", "err", err)
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
	// BadSeq is the first record found missing, changed or out of place
	// when OK is false and the check could tell.
	BadSeq int64 `json:"bad_seq,omitempty"`
	// Checkpoints is how many signed checkpoints the log was checked
	// against; CheckpointedSeq the last record one of them covers, signed
	// at CheckpointedAt.
	Checkpoints     int       `json:"checkpoints"`
	CheckpointedSeq int64     `json:"checkpointed_seq"`
	CheckpointedAt  time.Time `json:"checkpointed_at,omitzero"`
	// Uncovered counts the records after the last checkpoint: the chain
	// vouches for them, but records cut off there would not be noticed.
	Uncovered int64 `json:"uncovered"`
	// Notes say what the check could not cover; they are not failures.
	Notes []string `json:"notes,omitempty"`
}

// NoCheckpoints is the note of a check made without checkpoints.
const NoCheckpoints = "no checkpoints: truncation of the log's tail cannot be detected"

// VerifyAudit checks the whole audit chain and its head, without
// checkpoints (see VerifyAuditAnchored). A broken chain is a report with OK
// false, not an error; err is for a store that cannot be read.
func VerifyAudit(ctx context.Context, store hoist.Store) (ChainReport, error) {
	rep, err := verifyChain(ctx, store, nil)
	rep.Notes = append(rep.Notes, NoCheckpoints)
	return rep, err
}

// VerifyAuditAnchored checks the whole audit chain, its head, and every
// record a checkpoint in cps (already verified: hoist.ParseCheckpoint)
// names: a record changed, reordered or removed up to the last checkpoint
// makes OK false, with BadSeq the first record found wrong.
func VerifyAuditAnchored(ctx context.Context, store hoist.Store, cps []hoist.AuditCheckpoint) (ChainReport, error) {
	rep, err := verifyChain(ctx, store, hoist.NewAnchorCheck(cps))
	rep.Checkpoints = len(cps)
	if len(cps) == 0 {
		rep.Notes = append(rep.Notes, NoCheckpoints)
	}
	return rep, err
}

func verifyChain(ctx context.Context, store hoist.Store, anchor *hoist.AnchorCheck) (ChainReport, error) {
	var rep ChainReport
	err := store.View(ctx, func(tx hoist.Tx) error {
		v := hoist.NewChainVerifier()
		next := v.Next
		if anchor != nil {
			next = func(r hoist.AuditRecord) error {
				if err := v.Next(r); err != nil {
					return err
				}
				return anchor.Next(r)
			}
		}
		err := tx.Audit(ctx, hoist.AuditFilter{}, next)
		rep.Records = v.Count()
		lastSeq, lastHash := v.Head()
		if err != nil {
			if hoist.ErrorCode(err) == hoist.EConflict {
				rep.fail(err, lastSeq+1)
				return nil
			}
			return err
		}
		seq, hash, err := tx.AuditHead(ctx)
		if err != nil {
			return err
		}
		rep.HeadSeq, rep.HeadHash = seq, hash
		if anchor != nil {
			if err := anchor.End(); err != nil {
				rep.fail(err, lastSeq+1)
				return nil
			}
		}
		if lastSeq != seq || lastHash != hash {
			rep.Problem = fmt.Sprintf("the log ends at record %d but its head names record %d: records were removed from the end", lastSeq, seq)
			rep.BadSeq = lastSeq + 1
			return nil
		}
		rep.OK = true
		return nil
	})
	if anchor != nil {
		if cp, ok := anchor.Covered(); ok {
			rep.CheckpointedSeq, rep.CheckpointedAt = cp.Seq, cp.Time
		}
	}
	if rep.OK {
		rep.Uncovered = rep.Records - rep.CheckpointedSeq
	}
	if rep.OK && rep.Uncovered > 0 && rep.CheckpointedSeq > 0 {
		rep.Notes = append(rep.Notes, fmt.Sprintf("records %d to %d are not yet covered by a checkpoint", rep.CheckpointedSeq+1, rep.Records))
	}
	return rep, err
}

// RequireCheckpoints fails a report of an intact chain that no checkpoint
// covered, for why (where the checkpoints were looked for): a server
// writes one when it starts, so a log with records and no checkpoint lost
// its checkpoints, and its tail could have been cut unseen.
func (rep *ChainReport) RequireCheckpoints(why string) {
	if rep.OK && rep.Records > 0 && rep.Checkpoints == 0 {
		rep.OK, rep.Problem = false, why
	}
}

// fail records the problem err names; bad is the first suspect record
// unless err knows better.
func (rep *ChainReport) fail(err error, bad int64) {
	rep.Problem = hoist.ErrorMessage(err)
	rep.BadSeq = bad
	if ae, ok := errors.AsType[*hoist.AnchorError](err); ok {
		rep.BadSeq = ae.Seq
	}
}

// VerifyAudit checks the audit chain, for an actor allowed to read it,
// against the server's own checkpoint log when it has one.
func (s *Service) VerifyAudit(ctx context.Context, a Actor) (ChainReport, error) {
	if err := a.require(hoist.PermitReadAudit); err != nil {
		return ChainReport{}, err
	}
	if s.anchor == nil {
		return VerifyAudit(ctx, s.store)
	}
	cps, err := s.anchor.log.Load(s.anchor.pub)
	switch code := hoist.ErrorCode(err); {
	case err == nil:
		rep, err := VerifyAuditAnchored(ctx, s.store, cps)
		rep.RequireCheckpoints(NoCheckpoints + " (the checkpoint file is empty)")
		return rep, err
	case code == hoist.ENotFound:
		// The server writes a checkpoint when it starts: a missing file is
		// itself a sign of tampering.
		rep, err2 := VerifyAudit(ctx, s.store)
		rep.RequireCheckpoints(hoist.ErrorMessage(err))
		return rep, err2
	case code == hoist.EConflict: // a forged or spoilt line
		rep, err2 := VerifyAudit(ctx, s.store)
		if err2 == nil && rep.OK {
			rep.OK, rep.Problem = false, hoist.ErrorMessage(err)
		}
		return rep, err2
	default:
		return ChainReport{}, err
	}
}

// CheckpointLog is where the service keeps the audit log's signed
// checkpoints: anywhere but the store (see hoist.AuditCheckpoint).
type CheckpointLog interface {
	// Append adds c durably: written and synced when it returns.
	Append(c hoist.AuditCheckpoint) error
	// Last returns the last checkpoint appended, if any, without checking
	// its signature: Load does that.
	Last() (hoist.AuditCheckpoint, bool, error)
	// Load returns every checkpoint, each signature checked with pub. It
	// fails with ENotFound when there is no log, with EConflict (naming
	// the line) when a line is not a checkpoint pub signed.
	Load(pub ed25519.PublicKey) ([]hoist.AuditCheckpoint, error)
}

// anchor writes the service's checkpoints.
type anchor struct {
	log CheckpointLog
	key ed25519.PrivateKey
	pub ed25519.PublicKey

	mu   sync.Mutex // serialises CheckpointAudit
	seq  int64      // the head the last checkpoint signed; -1: not read yet
	hash string
	// tampered says why the log no longer holds what the last checkpoint
	// signed; once set, no checkpoint is written until a restart.
	tampered string
}

func newAnchor(log CheckpointLog, signer Signer) *anchor {
	if log == nil || signer == nil {
		return nil
	}
	key := signer.GrantKey()
	return &anchor{log: log, key: key, pub: key.Public().(ed25519.PublicKey), seq: -1}
}

// AlertAuditTampered is raised when the audit log no longer holds what its
// last checkpoint signed (the head moved back, or the record the
// checkpoint covers is gone or changed). Subject: that record's seq.
const AlertAuditTampered = "alert.audit_tampered"

// auditHashAt returns the hash of the audit record seq, "" when there is
// none.
func auditHashAt(ctx context.Context, tx hoist.Tx, seq int64) (string, error) {
	var hash string
	err := tx.Audit(ctx, hoist.AuditFilter{AfterSeq: seq - 1, BeforeSeq: seq + 1, Limit: 1}, func(r hoist.AuditRecord) error {
		if r.Seq == seq {
			hash = r.Hash
		}
		return nil
	})
	return hash, err
}

// rolledBack says what is wrong when the log at head seq no longer holds
// the checkpointed record cpSeq with hash cpHash (signed is that record's
// hash now, "" when it is gone); "" when nothing is.
func rolledBack(cpSeq int64, cpHash string, seq int64, signed string) string {
	switch {
	case cpSeq <= 0:
		return ""
	case seq < cpSeq:
		return fmt.Sprintf("the audit head is at record %d, below record %d that the last checkpoint signed: records were removed", seq, cpSeq)
	case signed == "":
		return fmt.Sprintf("record %d, which the last checkpoint signed, is missing", cpSeq)
	case signed != cpHash:
		return fmt.Sprintf("record %d is not the one the last checkpoint signed: the log was rewritten", cpSeq)
	}
	return ""
}

// auditTampered records that the log was found rolled back: it stops
// checkpoints (signing the shorter head would bless it), logs an error and
// appends AlertAuditTampered while the store still takes writes. It
// returns the error CheckpointAudit answers with.
func (s *Service) auditTampered(ctx context.Context, an *anchor, seq int64, hash, problem string) error {
	an.tampered = problem
	s.log.Error("audit log tampered: no checkpoint written", "problem", problem, "checkpointed_seq", an.seq, "head_seq", seq)
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		return audit(ctx, tx, s.now(), SystemActor, AlertAuditTampered, strconv.FormatInt(an.seq, 10), map[string]any{
			"problem": problem, "checkpointed_seq": an.seq, "checkpointed_hash": an.hash, "head_seq": seq, "head_hash": hash})
	})
	if err != nil {
		s.log.Error("cannot record the audit tampering alert", "err", err)
	}
	return hoist.Errorf(hoist.EConflict, "no audit checkpoint written: %s", problem)
}

// AuditTampered says why the audit log no longer holds what its last
// checkpoint signed, as this server found when it last tried to write one;
// "" when it found nothing wrong.
func (s *Service) AuditTampered() string {
	if s.anchor == nil {
		return ""
	}
	s.anchor.mu.Lock()
	defer s.anchor.mu.Unlock()
	return s.anchor.tampered
}

// CheckpointAudit signs the audit log's head with the grant key and appends
// it to the checkpoint log, at the service's clock. It writes nothing when
// the head has not moved since the last checkpoint, when the log is empty,
// or when the service has no checkpoint log; wrote says whether it wrote.
// It refuses (EConflict) to sign a head below the last checkpoint or a log
// whose checkpointed record is gone or changed, and raises
// AlertAuditTampered (see auditTampered).
// The server calls it when it starts, periodically, on every export and
// when it stops.
func (s *Service) CheckpointAudit(ctx context.Context) (cp hoist.AuditCheckpoint, wrote bool, err error) {
	an := s.anchor
	if an == nil {
		return cp, false, nil
	}
	an.mu.Lock()
	defer an.mu.Unlock()
	if an.seq < 0 {
		last, ok, err := an.log.Last()
		if err != nil {
			return cp, false, err
		}
		an.seq = 0
		if ok {
			an.seq, an.hash = last.Seq, last.Hash
		}
	}
	var (
		seq  int64
		hash string
	)
	if an.tampered != "" {
		return cp, false, hoist.Errorf(hoist.EConflict, "no audit checkpoint written: %s", an.tampered)
	}
	var signed string // the hash of the record the last checkpoint covers, now
	err = s.store.View(ctx, func(tx hoist.Tx) (err error) {
		if seq, hash, err = tx.AuditHead(ctx); err != nil || an.seq <= 0 || seq < an.seq {
			return err
		}
		signed, err = auditHashAt(ctx, tx, an.seq)
		return err
	})
	if err != nil || seq == 0 || (seq == an.seq && hash == an.hash) {
		return cp, false, err
	}
	if problem := rolledBack(an.seq, an.hash, seq, signed); problem != "" {
		return cp, false, s.auditTampered(ctx, an, seq, hash, problem)
	}
	cp = hoist.SignCheckpoint(an.key, seq, hash, s.now())
	if err := an.log.Append(cp); err != nil {
		return cp, false, hoist.WrapError(hoist.EUnavailable, "cannot write the audit checkpoint", err)
	}
	an.seq, an.hash = seq, hash
	return cp, true, nil
}
