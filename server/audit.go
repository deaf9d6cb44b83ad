package server

import (
	"context"
	"encoding/json"
	"io"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
)

// VerifyAudit checks the audit chain of the store at dataDir or
// databaseURL.
func VerifyAudit(ctx context.Context, dataDir, databaseURL string) (control.ChainReport, error) {
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
