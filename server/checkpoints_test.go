package server_test

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/server"
	"github.com/hoist-jit/hoist/testenv"
	_ "modernc.org/sqlite"
)

// checkpointLines reads the server's checkpoint file as a verifier would
// see it, without checking signatures.
func checkpointLines(t *testing.T, path string) []hoist.AuditCheckpoint {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var cps []hoist.AuditCheckpoint
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var cp hoist.AuditCheckpoint
		if err := json.Unmarshal(sc.Bytes(), &cp); err != nil {
			t.Fatalf("checkpoint line %q: %v", sc.Text(), err)
		}
		cps = append(cps, cp)
	}
	return cps
}

// TestRunningServerAnchorsItsAudit: the server checkpoints at start, on an
// export and when asked, only when the head moved, with its own clock, in
// a 0600 file; and its own verify (what the API and the console show)
// catches the tail cut off and the head rolled back.
func TestRunningServerAnchorsItsAudit(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(t.TempDir(), "shipped", "checkpoints")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	clk := testenv.NewClock(time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC))
	m, err := server.Start(ctx, server.Config{DataDir: dir, Listen: "127.0.0.1:0", Clock: clk.Now, AuditCheckpoints: path,
		AdminPassword: "correct horse battery staple", Settings: hoist.DefaultApprovalSettings()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := os.Stat(filepath.Join(dir, server.CheckpointFile)); !os.IsNotExist(err) {
		t.Fatalf("with --audit-checkpoints the data directory holds no checkpoint file (stat: %v)", err)
	}
	info, err := os.Stat(path)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("checkpoint file: %v, mode %v; want 0600", err, info.Mode())
	}
	first := checkpointLines(t, path)
	if len(first) != 1 || !first[0].Time.Equal(clk.Now()) {
		t.Fatalf("after start: %+v; want one checkpoint at the server's clock %s", first, clk.Now())
	}
	svc := m.Service()
	if _, wrote, err := svc.CheckpointAudit(ctx); err != nil || wrote {
		t.Fatalf("a checkpoint of a head that did not move: wrote %v, %v", wrote, err)
	}
	for _, u := range []string{"alice", "bob", "dave", "erin"} {
		if _, _, err := svc.CreateRequest(ctx, control.RequestInput{User: u, Host: "ws-" + u, Reason: "work"}); err != nil {
			t.Fatal(err)
		}
	}
	clk.Add(time.Minute)
	admin := control.Actor{Name: "admin", Role: hoist.RoleAdmin}
	var out bytes.Buffer
	if _, err := svc.ExportAudit(ctx, admin, hoist.AuditFilter{}, nil, &out, nil); err != nil {
		t.Fatal(err)
	}
	cps := checkpointLines(t, path)
	rep, err := svc.VerifyAudit(ctx, admin)
	if err != nil || !rep.OK || len(cps) != 2 || cps[1].Seq != rep.HeadSeq || rep.CheckpointedSeq != rep.HeadSeq || rep.Checkpoints != 2 {
		t.Fatalf("after an export: checkpoints %+v, report %+v, %v", cps, rep, err)
	}

	token := login(t, m) // before the attack: a login is audited too
	rep, err = svc.VerifyAudit(ctx, admin)
	if err != nil || !rep.OK {
		t.Fatalf("after a login: %+v, %v", rep, err)
	}

	// The attack, on the live server's SQLite file.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "hoist.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	keep := rep.HeadSeq - 2
	var keepHash string
	if err := db.QueryRow(`SELECT hash FROM audit WHERE seq = ?`, keep).Scan(&keepHash); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{`DROP TRIGGER audit_no_delete`, `DROP TRIGGER audit_head_forward`} {
		if _, err := db.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := db.Exec(`DELETE FROM audit WHERE seq > ?`, keep); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, keep, keepHash); err != nil {
		t.Fatal(err)
	}
	rep, err = svc.VerifyAudit(ctx, admin)
	if err != nil || rep.OK || rep.BadSeq != keep+1 || !strings.Contains(rep.Problem, "is missing") {
		t.Fatalf("the server's own verify after the tail was cut: %+v, %v; want a failure naming record %d", rep, err, keep+1)
	}

	// The API says the same.
	req, _ := http.NewRequest("GET", m.URL()+"/api/v1/audit/verify", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := (&http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig(t, m)}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var apiRep control.ChainReport
	if err := json.NewDecoder(res.Body).Decode(&apiRep); err != nil || apiRep.OK || apiRep.BadSeq != keep+1 {
		t.Fatalf("GET /api/v1/audit/verify: %d %+v %v; want a failure naming record %d", res.StatusCode, apiRep, err, keep+1)
	}
}

func login(t *testing.T, m *server.Main) string {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig(t, m)}}
	res, err := c.Post(m.URL()+"/api/v1/login", "application/json", strings.NewReader(`{"user":"admin","password":"correct horse battery staple"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var ans struct{ Token string }
	if err := json.NewDecoder(res.Body).Decode(&ans); err != nil || ans.Token == "" {
		t.Fatalf("login: %d %v", res.StatusCode, err)
	}
	return ans.Token
}

// TestServerWithoutItsCheckpoints: a missing checkpoint file is a failure
// of the server's own check (it wrote one when it started).
func TestServerWithoutItsCheckpoints(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	m := start(t, dir)
	defer m.Close()
	if err := os.Remove(filepath.Join(dir, server.CheckpointFile)); err != nil {
		t.Fatal(err)
	}
	rep, err := m.Service().VerifyAudit(ctx, control.Actor{Name: "admin", Role: hoist.RoleAdmin})
	if err != nil || rep.OK || !strings.Contains(rep.Problem, control.NoCheckpoints) {
		t.Fatalf("verify without the checkpoint file: %+v, %v", rep, err)
	}
}

// TestServerSeesAForgedLine: a line changed after the server checked the
// file once is checked again.
func TestServerSeesAForgedLine(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	m := start(t, dir)
	defer m.Close()
	admin := control.Actor{Name: "admin", Role: hoist.RoleAdmin}
	if rep, err := m.Service().VerifyAudit(ctx, admin); err != nil || !rep.OK || rep.Checkpoints != 1 {
		t.Fatalf("fresh server: %+v, %v", rep, err)
	}
	path := filepath.Join(dir, server.CheckpointFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	forged := strings.Replace(string(data), `"seq":`, `"seq":9`, 1)
	if err := os.WriteFile(path, []byte(forged), 0o600); err != nil {
		t.Fatal(err)
	}
	rep, err := m.Service().VerifyAudit(ctx, admin)
	if err != nil || rep.OK || !strings.Contains(rep.Problem, "does not verify") {
		t.Fatalf("after the line was changed: %+v, %v", rep, err)
	}
}

// TestPeriodicCheckpoints: a running server checkpoints a head that moved
// without being asked.
func TestPeriodicCheckpoints(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	m, err := server.Start(ctx, server.Config{DataDir: dir, Listen: "127.0.0.1:0", AuditCheckpointInterval: time.Second,
		AdminPassword: "correct horse battery staple", Settings: hoist.DefaultApprovalSettings()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	path := filepath.Join(dir, server.CheckpointFile)
	if _, _, err := m.Service().CreateRequest(ctx, control.RequestInput{User: "alice", Host: "ws-01", Reason: "work"}); err != nil {
		t.Fatal(err)
	}
	var head int64
	_ = m.Store().View(ctx, func(tx hoist.Tx) (err error) { head, _, err = tx.AuditHead(ctx); return err })
	testenv.WaitUntil(t, "a checkpoint of the new head", func() bool {
		cps := checkpointLines(t, path)
		return len(cps) >= 2 && cps[len(cps)-1].Seq == head
	})
}
