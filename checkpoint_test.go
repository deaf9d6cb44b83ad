package hoist_test

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/hoist-jit/hoist"
)

func TestCheckpointSignature(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	otherPub, otherPriv, _ := ed25519.GenerateKey(nil)
	recs := chain(t, 3)
	cp := hoist.SignCheckpoint(priv, 3, recs[2].Hash, t0)
	line := cp.MarshalLine()
	got, err := hoist.ParseCheckpoint(line[:len(line)-1], pub)
	if err != nil || got.Seq != 3 || got.Hash != recs[2].Hash || !got.Time.Equal(t0) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	changed := cp
	changed.Seq = 2
	other := hoist.SignCheckpoint(otherPriv, 3, recs[2].Hash, t0)
	renamed := other
	renamed.KeyID = hoist.KeyID(pub)
	cases := []struct {
		name string
		cp   hoist.AuditCheckpoint
		pub  ed25519.PublicKey
		want string
	}{
		{"changed after signing", changed, pub, "does not verify"},
		{"another key", other, pub, "not this server's key"},
		{"another key under this key's id", renamed, pub, "does not verify"},
		{"checked with the wrong key", cp, otherPub, "not this server's key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			line := tc.cp.MarshalLine()
			_, err := hoist.ParseCheckpoint(line[:len(line)-1], tc.pub)
			if hoist.ErrorCode(err) != hoist.EConflict || !strings.Contains(hoist.ErrorMessage(err), tc.want) {
				t.Fatalf("got %v, want a conflict mentioning %q", err, tc.want)
			}
		})
	}
	// The checkpoint's signature is of its own domain: it is no bundle's.
	if hoist.VerifyBundle(pub, line, cp.Sig) == nil {
		t.Fatal("a checkpoint signature verified as a bundle's")
	}
	for _, bad := range []string{`{}`, `{"seq":1,"hash":"x"}`, `not json`, `{"seq":1} {"seq":2}`, strings.Repeat(" ", 2000)} {
		if _, err := hoist.ParseCheckpoint([]byte(bad), pub); hoist.ErrorCode(err) != hoist.EConflict {
			t.Errorf("ParseCheckpoint(%.20q) = %v, want a conflict", bad, err)
		}
	}
}

func TestAnchorCheck(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(nil)
	recs := chain(t, 6)
	cp := func(i int) hoist.AuditCheckpoint { return hoist.SignCheckpoint(priv, recs[i].Seq, recs[i].Hash, t0) }
	run := func(recs []hoist.AuditRecord, cps ...hoist.AuditCheckpoint) (*hoist.AnchorCheck, error) {
		a := hoist.NewAnchorCheck(cps)
		for _, r := range recs {
			if err := a.Next(r); err != nil {
				return a, err
			}
		}
		return a, a.End()
	}
	replaced := append([]hoist.AuditRecord(nil), recs...)
	replaced[3].Hash = strings.Repeat("f", 64)
	cases := []struct {
		name    string
		recs    []hoist.AuditRecord
		cps     []hoist.AuditCheckpoint
		badSeq  int64
		covered int64
	}{
		{"intact", recs, []hoist.AuditCheckpoint{cp(1), cp(4)}, 0, 5},
		{"intact, out of order", recs, []hoist.AuditCheckpoint{cp(4), cp(1), cp(4)}, 0, 5},
		{"no checkpoints", recs, nil, 0, 0},
		{"tail cut", recs[:3], []hoist.AuditCheckpoint{cp(1), cp(4)}, 4, 2},
		{"tail cut to nothing", nil, []hoist.AuditCheckpoint{cp(1)}, 1, 0},
		{"record skipped", append(append([]hoist.AuditRecord(nil), recs[:2]...), recs[3:]...), []hoist.AuditCheckpoint{cp(2)}, 3, 0},
		{"replaced below a checkpoint", replaced, []hoist.AuditCheckpoint{cp(1), cp(3)}, 3, 2},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := run(tc.recs, tc.cps...)
			var ae *hoist.AnchorError
			switch {
			case tc.badSeq == 0 && err != nil:
				t.Fatalf("unexpected failure: %v", err)
			case tc.badSeq != 0 && (!errors.As(err, &ae) || ae.Seq != tc.badSeq || hoist.ErrorCode(err) != hoist.EConflict):
				t.Fatalf("got %v, want a conflict naming record %d", err, tc.badSeq)
			}
			got, _ := a.Covered()
			if got.Seq != tc.covered {
				t.Fatalf("covered up to %d, want %d", got.Seq, tc.covered)
			}
		})
	}
}
