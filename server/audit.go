package server

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/sqlite"
)

// VerifyOptions says what `hoist-server audit verify` checks.
type VerifyOptions struct {
	// DataDir holds the SQLite database (unless DatabaseURL is set), the
	// grant key that signed the checkpoints and, by default, their file.
	DataDir, DatabaseURL string
	// Checkpoints is the checkpoint file to check against; default
	// DataDir/audit-checkpoints.
	Checkpoints string
	// NoCheckpoints checks the chain alone when there is no checkpoint
	// file, instead of failing.
	NoCheckpoints bool
}

// VerifyAudit checks the audit chain of the store opt names against the
// signed checkpoints in its checkpoint file. A broken chain, a record
// missing or changed up to the last checkpoint, a checkpoint whose
// signature does not verify, or (without NoCheckpoints) a missing
// checkpoint file is a report with OK false; err is for what could not be
// read at all.
func VerifyAudit(ctx context.Context, opt VerifyOptions) (control.ChainReport, error) {
	if err := mustExist(opt.DataDir, opt.DatabaseURL); err != nil {
		return control.ChainReport{}, err
	}
	cps, bad := loadCheckpointsFor(opt)
	if code := hoist.ErrorCode(bad); bad != nil && code != hoist.ENotFound && code != hoist.EConflict {
		return control.ChainReport{}, bad
	}
	store, err := OpenStore(ctx, opt.DataDir, opt.DatabaseURL)
	if err != nil {
		return control.ChainReport{}, err
	}
	defer store.Close()
	if bad == nil {
		rep, err := control.VerifyAuditAnchored(ctx, store, cps)
		if !opt.NoCheckpoints {
			rep.RequireCheckpoints(control.NoCheckpoints + " (the checkpoint file is empty); --no-checkpoints checks the chain alone")
		}
		return rep, err
	}
	rep, err := control.VerifyAudit(ctx, store)
	if err != nil || !rep.OK {
		return rep, err
	}
	switch {
	case hoist.ErrorCode(bad) == hoist.EConflict: // a forged or spoilt checkpoint
		rep.OK, rep.Problem = false, hoist.ErrorMessage(bad)
	case !opt.NoCheckpoints:
		rep.RequireCheckpoints(hoist.ErrorMessage(bad) + "; --no-checkpoints checks the chain alone")
	}
	return rep, nil
}

// loadCheckpointsFor reads the checkpoints opt names, each checked with
// the data directory's grant key. It fails with ENotFound when there is
// no checkpoint file, with EConflict when a line is not a checkpoint the
// key signed.
func loadCheckpointsFor(opt VerifyOptions) ([]hoist.AuditCheckpoint, error) {
	path := opt.Checkpoints
	if path == "" {
		if opt.DataDir == "" {
			return nil, hoist.Errorf(hoist.ENotFound, "%s (no --data to find them in)", control.NoCheckpoints)
		}
		path = filepath.Join(opt.DataDir, CheckpointFile)
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, hoist.Errorf(hoist.ENotFound, "%s (%s)", control.NoCheckpoints, path)
	}
	if opt.DataDir == "" {
		return nil, hoist.Errorf(hoist.EInvalid, "--data is required to check checkpoints: the server's key is there")
	}
	key, err := loadGrantKey(opt.DataDir)
	if err != nil {
		return nil, hoist.WrapError(hoist.EInvalid, "cannot read the server's key in "+opt.DataDir+" to check the checkpoints", err)
	}
	return readCheckpoints(path, key.Public().(ed25519.PublicKey))
}

// ExportAudit writes the audit log as JSON lines, one record a line, from
// record after+1 on, and returns how many it wrote. With a data directory
// it first appends a checkpoint of the head to the checkpoint file
// (checkpoints, default DataDir/audit-checkpoints), as the running server
// does on every export.
func ExportAudit(ctx context.Context, dataDir, databaseURL, checkpoints string, after int64, w io.Writer) (int64, error) {
	if err := mustExist(dataDir, databaseURL); err != nil {
		return 0, err
	}
	store, err := OpenStore(ctx, dataDir, databaseURL)
	if err != nil {
		return 0, err
	}
	defer store.Close()
	if dataDir != "" {
		if err := checkpointOffline(ctx, store, dataDir, checkpoints); err != nil {
			return 0, err
		}
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var n int64
	err = store.View(ctx, func(tx hoist.Tx) error {
		return tx.Audit(ctx, hoist.AuditFilter{AfterSeq: after}, func(rec hoist.AuditRecord) error {
			n++
			return enc.Encode(rec)
		})
	})
	return n, err
}

// checkpointOffline appends a checkpoint of store's head, signed with the
// data directory's grant key, to the checkpoint file at path (default in
// dataDir), unless the file's last checkpoint already signs that head.
func checkpointOffline(ctx context.Context, store hoist.Store, dataDir, path string) error {
	key, err := loadGrantKey(dataDir)
	if err != nil {
		return hoist.WrapError(hoist.EInvalid, "cannot read the server's key in "+dataDir+" to sign a checkpoint", err)
	}
	if path == "" {
		path = filepath.Join(dataDir, CheckpointFile)
	}
	f, err := openCheckpointFile(path)
	if err != nil {
		return hoist.WrapError(hoist.EUnavailable, "cannot open the audit checkpoints "+path, err)
	}
	defer f.Close()
	svc, err := control.New(control.Config{Store: store, Settings: hoist.DefaultApprovalSettings(),
		Signer: &signer{grantKey: key}, Checkpoints: f})
	if err != nil {
		return err
	}
	_, _, err = svc.CheckpointAudit(ctx)
	return err
}

// mustExist refuses to inspect a SQLite database that is not there: opening
// would create an empty one, and an empty chain verifies.
func mustExist(dataDir, databaseURL string) error {
	if databaseURL != "" {
		return nil
	}
	if dataDir == "" {
		return hoist.Errorf(hoist.EInvalid, "--data or --database is required")
	}
	if _, err := os.Stat(filepath.Join(dataDir, sqlite.FileName)); err != nil {
		return hoist.Errorf(hoist.ENotFound, "no Hoist database in %s", dataDir)
	}
	return nil
}
