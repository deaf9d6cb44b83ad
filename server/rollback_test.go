package server_test

import (
	"context"
	"database/sql"
	"io"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/server"
	"github.com/hoist-jit/hoist/testenv"
)

// TestServerRefusesToSignRolledBackHead (review of issue 18): the tail of
// the audit log is cut and the head rolled back under a running server.
// Its next checkpoint is refused rather than signing the shorter head; an
// alert.audit_tampered record names the checkpointed seq, /readyz answers
// 503 saying why, and later checkpoints stay refused.
func TestServerRefusesToSignRolledBackHead(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clk := testenv.NewClock(time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC))
	m, err := server.Start(ctx, server.Config{DataDir: dir, Listen: "127.0.0.1:0", Clock: clk.Now,
		AdminPassword: "correct horse battery staple", Settings: hoist.DefaultApprovalSettings()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	svc := m.Service()
	for _, u := range []string{"alice", "bob", "dave"} {
		if _, _, err := svc.CreateRequest(ctx, control.RequestInput{User: u, Host: "ws-" + u, Reason: "work"}); err != nil {
			t.Fatal(err)
		}
	}
	before, _, err := svc.CheckpointAudit(ctx)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "hoist.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keep := before.Seq - 2
	var keepHash string
	mustExec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.Exec(q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if err := db.QueryRow(`SELECT hash FROM audit WHERE seq = ?`, keep).Scan(&keepHash); err != nil {
		t.Fatal(err)
	}
	mustExec(`DROP TRIGGER audit_no_delete`)
	mustExec(`DROP TRIGGER audit_head_forward`)
	mustExec(`DELETE FROM audit WHERE seq > ?`, keep)
	mustExec(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, keep, keepHash)
	clk.Add(time.Minute)
	if cp, wrote, err := svc.CheckpointAudit(ctx); err == nil || wrote {
		t.Fatalf("head went from %d back to %d; the server signed checkpoint %d (wrote %v, err %v)", before.Seq, keep, cp.Seq, wrote, err)
	}
	var alerts int
	if err := db.QueryRow(`SELECT count(*) FROM audit WHERE action = ? AND subject = ?`, control.AlertAuditTampered, strconv.FormatInt(before.Seq, 10)).Scan(&alerts); err != nil {
		t.Fatal(err)
	}
	if alerts != 1 {
		t.Errorf("%d %s records for seq %d, want 1", alerts, control.AlertAuditTampered, before.Seq)
	}
	clk.Add(time.Minute)
	if _, wrote, err := svc.CheckpointAudit(ctx); err == nil || wrote {
		t.Errorf("a later checkpoint after the alert moved the head: wrote %v, err %v", wrote, err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig(t, m)}}
	res, err := c.Get(m.URL() + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "tampered") {
		t.Errorf("/readyz after the rollback: %d %s, want 503 saying the audit log was tampered with", res.StatusCode, body)
	}
}
