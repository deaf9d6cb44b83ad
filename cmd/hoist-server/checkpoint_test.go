package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/pgtest"
	"github.com/hoist-jit/hoist/server"
)

// store is one of the two backends with a fresh data directory, opened the
// way an attacker with the database's credentials would: the real SQLite
// file through the driver the server uses, or PostgreSQL as its owner.
type store struct {
	name    string
	dataDir string
	url     string // PostgreSQL; "" for SQLite in dataDir
	db      *sql.DB
	drop    []string // statements that take the append-only triggers away
}

func stores(t *testing.T) []*store {
	t.Helper()
	lite := &store{name: "sqlite", dataDir: t.TempDir(),
		drop: []string{`DROP TRIGGER audit_no_update`, `DROP TRIGGER audit_no_delete`, `DROP TRIGGER audit_head_forward`}}
	pg := &store{name: "postgres", dataDir: t.TempDir(), url: pgtest.URL(t),
		drop: []string{`DROP TRIGGER audit_no_change ON audit`, `DROP TRIGGER audit_head_forward ON audit_head`}}
	return []*store{lite, pg}
}

func (s *store) args() []string {
	a := []string{"--data", s.dataDir}
	if s.url != "" {
		a = append(a, "--database", s.url)
	}
	return a
}

func (s *store) open(t *testing.T) *sql.DB {
	t.Helper()
	if s.db != nil {
		return s.db
	}
	driver, dsn := "sqlite", "file:"+filepath.Join(s.dataDir, "hoist.db")
	if s.url != "" {
		driver, dsn = "pgx", s.url
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s.db = db
	return db
}

func (s *store) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if s.url != "" {
		q = pgPlaceholders(q)
	}
	if _, err := s.open(t).Exec(q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// pgPlaceholders turns ? into $1, $2, … for PostgreSQL.
func pgPlaceholders(q string) string {
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// records reads the audit log straight from the database.
func (s *store) records(t *testing.T) []hoist.AuditRecord {
	t.Helper()
	st, err := server.OpenStore(context.Background(), s.dataDir, s.url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var recs []hoist.AuditRecord
	err = st.View(context.Background(), func(tx hoist.Tx) error {
		return tx.Audit(context.Background(), hoist.AuditFilter{}, func(r hoist.AuditRecord) error {
			recs = append(recs, r)
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// truncate is the attack: take the triggers away, delete every record
// after keep, and roll the head back to record keep.
func (s *store) truncate(t *testing.T, keep int64) {
	t.Helper()
	recs := s.records(t)
	for _, q := range s.drop {
		s.exec(t, q)
	}
	s.exec(t, `DELETE FROM audit WHERE seq > ?`, keep)
	s.exec(t, `UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1`, keep, recs[keep-1].Hash)
}

// chainOnly is what verify said before checkpoints: the chain and the
// head, nothing outside the database.
func (s *store) chainOnly(t *testing.T) control.ChainReport {
	t.Helper()
	st, err := server.OpenStore(context.Background(), s.dataDir, s.url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rep, err := control.VerifyAudit(context.Background(), st)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// appendRecords adds n records as a server would, without a checkpoint.
func (s *store) appendRecords(t *testing.T, n int) {
	t.Helper()
	st, err := server.OpenStore(context.Background(), s.dataDir, s.url)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for i := range n {
		err := st.Update(context.Background(), func(tx hoist.Tx) error {
			_, err := tx.AppendAudit(context.Background(), hoist.AuditEvent{Actor: "test", Action: "test.later", Subject: fmt.Sprint(i)}, time.Now())
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func (s *store) checkpoints() string { return filepath.Join(s.dataDir, server.CheckpointFile) }

func verify(t *testing.T, s *store, extra ...string) (int, string, string) {
	t.Helper()
	return runCmd(append(append([]string{"audit", "verify"}, s.args()...), extra...)...)
}

func TestTruncatedAuditTailIsCaught(t *testing.T) {
	for _, s := range stores(t) {
		t.Run(s.name, func(t *testing.T) {
			n := fill(t, s.dataDir, s.url) // the server checkpoints at start and at stop
			if code, out, errOut := verify(t, s); code != 0 || !strings.Contains(out, "intact") || !strings.Contains(out, fmt.Sprintf("covers record %d", n)) {
				t.Fatalf("verify of an intact, checkpointed log: exit %d, %q %q", code, out, errOut)
			}
			keep := n - 3
			s.truncate(t, keep)
			if rep := s.chainOnly(t); !rep.OK {
				t.Fatalf("the chain alone should not see this attack (that is why checkpoints exist): %+v", rep)
			}
			code, out, errOut := verify(t, s)
			want := fmt.Sprintf("record %d", keep+1)
			if code == 0 || !strings.Contains(out, "BROKEN") || !strings.Contains(errOut, want) || !strings.Contains(out, fmt.Sprintf("first bad record: %d", keep+1)) {
				t.Fatalf("verify after the tail was cut and the head rolled back: exit %d, %q %q; want failure naming %s", code, out, errOut, want)
			}
		})
	}
}

func TestRewriteBelowCheckpointIsCaught(t *testing.T) {
	for _, s := range stores(t) {
		t.Run(s.name, func(t *testing.T) {
			fill(t, s.dataDir, s.url)
			recs := s.records(t)
			for _, q := range s.drop {
				s.exec(t, q)
			}
			// The attacker rewrites record 3 and re-chains everything after it,
			// head included, so that the chain verifies again.
			prev := recs[1].Hash
			for i := 2; i < len(recs); i++ {
				r := recs[i]
				if i == 2 {
					r.Actor = "mallory"
				}
				r.PrevHash = prev
				r.Hash = r.ComputeHash()
				s.exec(t, `UPDATE audit SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?`, r.Actor, r.PrevHash, r.Hash, r.Seq)
				prev = r.Hash
			}
			s.exec(t, `UPDATE audit_head SET hash = ? WHERE id = 1`, prev)
			if rep := s.chainOnly(t); !rep.OK {
				t.Fatalf("a re-chained log fools the chain alone: %+v", rep)
			}
			code, out, errOut := verify(t, s)
			if code == 0 || !strings.Contains(out, "BROKEN") || !strings.Contains(errOut, "was changed or replaced") {
				t.Fatalf("verify after a rewrite below a checkpoint: exit %d, %q %q", code, out, errOut)
			}
		})
	}
}

func TestForgedCheckpointIsCaught(t *testing.T) {
	_, otherKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stores(t) {
		t.Run(s.name, func(t *testing.T) {
			n := fill(t, s.dataDir, s.url)
			whole, err := os.ReadFile(s.checkpoints())
			if err != nil {
				t.Fatal(err)
			}
			recs := s.records(t)
			forged := []struct{ name, line, want string }{
				{"another key", string(hoist.SignCheckpoint(otherKey, n, recs[n-1].Hash, time.Now()).MarshalLine()), "not this server's key"},
				{"changed seq", strings.Replace(strings.SplitAfter(string(whole), "\n")[0], `"seq":`, `"seq":1`, 1), "does not verify"},
				{"not a checkpoint", "{\"hello\":1}\n", "not an audit checkpoint"},
			}
			for _, f := range forged {
				t.Run(f.name, func(t *testing.T) {
					if err := os.WriteFile(s.checkpoints(), append(append([]byte(nil), whole...), f.line...), 0o600); err != nil {
						t.Fatal(err)
					}
					code, out, errOut := verify(t, s)
					if code == 0 || !strings.Contains(errOut, f.want) {
						t.Fatalf("verify with a forged checkpoint line: exit %d, %q %q; want failure mentioning %q", code, out, errOut, f.want)
					}
				})
			}
		})
	}
}

func TestRecordsAfterTheLastCheckpoint(t *testing.T) {
	for _, s := range stores(t) {
		t.Run(s.name, func(t *testing.T) {
			n := fill(t, s.dataDir, s.url)
			s.appendRecords(t, 4)
			code, out, errOut := verify(t, s)
			want := fmt.Sprintf("records %d to %d are not yet covered by a checkpoint", n+1, n+4)
			if code != 0 || !strings.Contains(out, "intact") || !strings.Contains(out, want) {
				t.Fatalf("verify with records after the last checkpoint: exit %d, %q %q; want success and %q", code, out, errOut, want)
			}
			// An export checkpoints the head: then they are covered.
			if code, _, errOut := runCmd(append([]string{"audit", "export"}, s.args()...)...); code != 0 {
				t.Fatalf("export: exit %d, %q", code, errOut)
			}
			code, out, errOut = verify(t, s)
			if code != 0 || strings.Contains(out, "not yet covered") || !strings.Contains(out, fmt.Sprintf("covers record %d", n+4)) {
				t.Fatalf("verify after an export: exit %d, %q %q", code, out, errOut)
			}
			// Cutting off records after the last checkpoint is what is not
			// caught: the docs say so.
			s.appendRecords(t, 2)
			s.truncate(t, n+4)
			if code, out, errOut := verify(t, s); code != 0 {
				t.Fatalf("a cut after the last checkpoint is not detectable; verify: exit %d, %q %q", code, out, errOut)
			}
		})
	}
}

func TestMissingCheckpoints(t *testing.T) {
	for _, s := range stores(t) {
		t.Run(s.name, func(t *testing.T) {
			fill(t, s.dataDir, s.url)
			if err := os.Truncate(s.checkpoints(), 0); err != nil {
				t.Fatal(err)
			}
			if code, out, errOut := verify(t, s); code == 0 || !strings.Contains(errOut, "the checkpoint file is empty") {
				t.Fatalf("verify with an emptied checkpoint file: exit %d, %q %q", code, out, errOut)
			}
			if err := os.Remove(s.checkpoints()); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := verify(t, s)
			if code == 0 || !strings.Contains(errOut, "no checkpoints: truncation of the log's tail cannot be detected") {
				t.Fatalf("verify without the checkpoint file: exit %d, %q %q", code, out, errOut)
			}
			code, out, errOut = verify(t, s, "--no-checkpoints")
			if code != 0 || !strings.Contains(out, "intact") || !strings.Contains(out, "note: no checkpoints") {
				t.Fatalf("verify --no-checkpoints: exit %d, %q %q", code, out, errOut)
			}
			// Another copy of the file, named with --checkpoints, is used instead.
			copyPath := filepath.Join(t.TempDir(), "shipped-checkpoints")
			if code, _, errOut := runCmd(append(append([]string{"audit", "export"}, s.args()...), "--checkpoints", copyPath)...); code != 0 {
				t.Fatalf("export: exit %d, %q", code, errOut)
			}
			if code, out, errOut := verify(t, s, "--checkpoints", copyPath); code != 0 || !strings.Contains(out, "checked against 1 signed checkpoints") {
				t.Fatalf("verify --checkpoints COPY: exit %d, %q %q", code, out, errOut)
			}
		})
	}
}
