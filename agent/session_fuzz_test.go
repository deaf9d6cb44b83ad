package agent

import (
	"crypto/ed25519"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/testenv"
)

// FuzzReadRecord feeds session files of any content to the reader hoistd
// trusts at start: it never panics, and what it accepts is a session of a
// known state for a non-root user whose end is no later than the end its
// signed grant allows.
func FuzzReadRecord(f *testing.F) {
	pub, key, err := ed25519.GenerateKey(nil)
	if err != nil {
		f.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	sid := "ses_aaaaaaaaaaaaaaaa"
	grantEnd := at.Add(time.Hour)
	signed, err := hoist.SignGrant(key, hoist.Grant{Agent: "agt_x", User: "alice", Request: "req_bbbbbbbbbbbbbbbb", Session: sid,
		NotBefore: at, NotAfter: grantEnd, Scope: hoist.GrantScopeJIT})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"id":"` + sid + `","request_id":"req_bbbbbbbbbbbbbbbb","user":"alice","not_before":"2026-12-01T09:00:00Z","not_after":"2026-12-01T10:00:00Z","state":"active","by":"server","grant":"` + signed + `"}`))
	f.Add([]byte(`{"id":"` + sid + `","user":"alice","not_after":"2026-12-01T20:00:00Z","state":"active","by":"server","grant":"` + signed + `"}`))
	f.Add([]byte(`{"id":"` + sid + `","user":"root","state":"active","by":"root (local grant)"}`))
	f.Add([]byte(`{"id":"` + sid + `","user":"bob","state":"weird"}`))
	f.Add([]byte("\x00\xff{"))
	dir := f.TempDir()
	a := &Agent{cfg: Config{StateDir: dir, Clock: testenv.NewClock(at), VerifyGrant: func(s string, t time.Time) (hoist.Grant, error) {
		return hoist.VerifyGrant(pub, s, "agt_x", t)
	}}}
	if err := os.MkdirAll(filepath.Join(dir, "sessions"), 0o700); err != nil {
		f.Fatal(err)
	}
	path := a.sessionPath(sid)
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		rec, err := a.readRecord(path)
		if err != nil {
			return
		}
		switch {
		case rec.ID != sid || !rec.State.valid() || rec.User == "" || rec.User == "root":
			t.Fatalf("accepted %+v", rec)
		case rec.By != localGrantBy && rec.NotAfter.After(grantEnd):
			t.Fatalf("accepted an end (%s) past the grant's (%s)", rec.NotAfter, grantEnd)
		}
	})
}
