package server

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/sqlite"
)

// VerifyAudit checks the audit chain of the store at dataDir or
// databaseURL.
func VerifyAudit(ctx context.Context, dataDir, databaseURL string) (control.ChainReport, error) {
	if err := mustExist(dataDir, databaseURL); err != nil {
		return control.ChainReport{}, err
	}
	store, err := OpenStore(ctx, dataDir, databaseURL)
	if err != nil {
		return control.ChainReport{}, err
	}
	defer store.Close()
	return control.VerifyAudit(ctx, store)
}

// ExportAudit writes the audit log as JSON lines, one record a line, from
// record after+1 on, and returns how many it wrote.
func ExportAudit(ctx context.Context, dataDir, databaseURL string, after int64, w io.Writer) (int64, error) {
	if err := mustExist(dataDir, databaseURL); err != nil {
		return 0, err
	}
	store, err := OpenStore(ctx, dataDir, databaseURL)
	if err != nil {
		return 0, err
	}
	defer store.Close()
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
