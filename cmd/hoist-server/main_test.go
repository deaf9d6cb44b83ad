package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/pgtest"
	"github.com/hoist-jit/hoist/server"
	_ "modernc.org/sqlite"
)

func TestMain(m *testing.M) {
	if os.Getenv(asServerEnv) == "1" { // the test binary as the real hoist-server (integrations_linux_test.go)
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(pgtest.Main(m))
}

// fill runs a server on the store and makes some history: requests,
// decisions, a revoke.
func fill(t *testing.T, dataDir, dbURL string) int64 {
	t.Helper()
	ctx := context.Background()
	m, err := server.Start(ctx, server.Config{DataDir: dataDir, DatabaseURL: dbURL, Listen: "127.0.0.1:0",
		AdminPassword: "correct horse battery staple", Settings: hoist.DefaultApprovalSettings()})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	svc := m.Service()
	approver := control.Actor{Name: "carol", Role: hoist.RoleApprover}
	var ids []string
	for _, u := range []string{"alice", "bob", "dave"} {
		r, _, err := svc.CreateRequest(ctx, control.RequestInput{User: u, Host: "ws-" + u, Reason: "work"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	if _, err := svc.Approve(ctx, approver, ids[:2], time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Deny(ctx, approver, ids[2:], "no"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Revoke(ctx, approver, ids[:1], "done"); err != nil {
		t.Fatal(err)
	}
	rep, err := control.VerifyAudit(ctx, m.Store())
	if err != nil || !rep.OK {
		t.Fatalf("fresh chain: %+v, %v", rep, err)
	}
	return rep.Records
}

func runCmd(args ...string) (int, string, string) {
	var out, errOut bytes.Buffer
	code := run(args, &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestAuditVerifyAndExport(t *testing.T) {
	type backend struct {
		name   string
		args   func(dir string) []string
		exec   func(t *testing.T, q string)
		guards []string
		url    string
	}
	dir := t.TempDir()
	pgURL := pgtest.URL(t)
	backends := []backend{
		{
			name: "sqlite",
			args: func(string) []string { return []string{"--data", dir} },
			exec: func(t *testing.T, q string) {
				db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "hoist.db"))
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			},
			guards: []string{`DROP TRIGGER audit_no_update`},
		},
		{
			name: "postgres",
			args: func(d string) []string { return []string{"--data", d, "--database", pgURL} },
			exec: func(t *testing.T, q string) {
				db, err := sql.Open("pgx", pgURL)
				if err != nil {
					t.Fatal(err)
				}
				defer db.Close()
				if _, err := db.Exec(q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			},
			guards: []string{`DROP TRIGGER audit_no_change ON audit`},
			url:    pgURL,
		},
	}
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			dataDir := dir
			if b.url != "" {
				dataDir = t.TempDir()
			}
			records := fill(t, dataDir, b.url)

			code, out, errOut := runCmd(append([]string{"audit", "verify"}, b.args(dataDir)...)...)
			if code != 0 || !strings.Contains(out, "intact") {
				t.Fatalf("verify of an intact log: exit %d, %q %q", code, out, errOut)
			}
			code, out, _ = runCmd(append([]string{"audit", "export"}, b.args(dataDir)...)...)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if code != 0 || int64(len(lines)) != records {
				t.Fatalf("export: exit %d, %d lines, want %d", code, len(lines), records)
			}
			var rec hoist.AuditRecord
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rec); err != nil || rec.Seq != records || rec.Hash == "" {
				t.Fatalf("last exported line = %q (%v)", lines[len(lines)-1], err)
			}

			for _, q := range b.guards {
				b.exec(t, q)
			}
			b.exec(t, `UPDATE audit SET actor = 'mallory' WHERE seq = 3`)
			code, out, errOut = runCmd(append([]string{"audit", "verify"}, b.args(dataDir)...)...)
			if code == 0 || !strings.Contains(out, "BROKEN") || !strings.Contains(errOut, "record 3") {
				t.Fatalf("verify after tampering: exit %d, %q %q; want failure naming record 3", code, out, errOut)
			}
		})
	}
}

func TestBadInvocations(t *testing.T) {
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"no data dir", []string{"serve", "--listen", "127.0.0.1:0"}, "required flag"},
		{"cert without key", []string{"serve", "--data", t.TempDir(), "--tls-cert", "x.pem"}, "go together"},
		{"bad database url", []string{"serve", "--data", t.TempDir(), "--database", "mysql://x"}, "postgres://"},
		{"bad settings", []string{"serve", "--data", t.TempDir(), "--one-time", "10h"}, "one-time duration"},
		{"bad reason pattern", []string{"serve", "--data", t.TempDir(), "--reason-pattern", "("}, "regular expression"},
		{"bad log level", []string{"serve", "--data", t.TempDir(), "--log-level", "loud"}, "--log-level"},
		{"verify where there is no database", []string{"audit", "verify", "--data", "/nonexistent/hoist"}, "no Hoist database"},
		{"negative export start", []string{"audit", "export", "--data", t.TempDir(), "--after", "-1"}, "negative"},
		{"export where there is no database", []string{"audit", "export", "--data", t.TempDir()}, "no Hoist database"},
		{"unknown command", []string{"frobnicate"}, "unknown command"},
		{"bad trusted proxy", []string{"serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--trusted-proxy", "proxy.example"}, "--trusted-proxy"},
		{"missing metrics token file", []string{"serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--metrics-token-file", "/nonexistent/token"}, "--metrics-token-file"},
		{"bad metrics address", []string{"serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--metrics-listen", "nowhere:http"}, "--metrics-listen"},
		{"collector target too low", []string{"serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--gc-percent", "0"}, "--gc-percent"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCmd(tc.args...)
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q; want failure mentioning %q", code, errOut, tc.want)
			}
		})
	}
}
