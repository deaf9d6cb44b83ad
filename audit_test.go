package hoist_test

import (
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

func chain(t *testing.T, n int) []hoist.AuditRecord {
	t.Helper()
	var recs []hoist.AuditRecord
	seq, hash := int64(0), hoist.GenesisHash
	for i := range n {
		rec, err := hoist.AuditEvent{Actor: "carol", Action: hoist.AuditRequestApproved, Subject: "req_x", Detail: map[string]int{"i": i}}.Seal(seq, hash, t0.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
		seq, hash = rec.Seq, rec.Hash
	}
	return recs
}

func verify(recs []hoist.AuditRecord) error {
	v := hoist.NewChainVerifier()
	for _, r := range recs {
		if err := v.Next(r); err != nil {
			return err
		}
	}
	return nil
}

func TestAuditChain(t *testing.T) {
	cases := []struct {
		name   string
		tamper func([]hoist.AuditRecord) []hoist.AuditRecord
		ok     bool
	}{
		{"intact", func(r []hoist.AuditRecord) []hoist.AuditRecord { return r }, true},
		{"actor changed", func(r []hoist.AuditRecord) []hoist.AuditRecord { r[2].Actor = "mallory"; return r }, false},
		{"time changed", func(r []hoist.AuditRecord) []hoist.AuditRecord { r[2].Time = r[2].Time.Add(time.Microsecond); return r }, false},
		{"detail changed", func(r []hoist.AuditRecord) []hoist.AuditRecord { r[2].Detail = []byte(`{"i":9}`); return r }, false},
		{"removed", func(r []hoist.AuditRecord) []hoist.AuditRecord { return append(r[:2], r[3:]...) }, false},
		{"swapped", func(r []hoist.AuditRecord) []hoist.AuditRecord { r[1], r[2] = r[2], r[1]; return r }, false},
		{"changed and rehashed", func(r []hoist.AuditRecord) []hoist.AuditRecord {
			r[2].Actor = "mallory"
			r[2].Hash = r[2].ComputeHash()
			return r
		}, false},
		{"field boundaries shifted", func(r []hoist.AuditRecord) []hoist.AuditRecord {
			r[2].Actor, r[2].Action = r[2].Actor+r[2].Action[:3], r[2].Action[3:]
			return r
		}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := verify(tc.tamper(chain(t, 5)))
			if (err == nil) != tc.ok {
				t.Fatalf("verify = %v, want ok %v", err, tc.ok)
			}
		})
	}
}
