package storetest

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

func testRecordings(t *testing.T, s hoist.Store) {
	rec := hoist.Recording{ID: "rec_1", Session: "sess_1", Agent: "agt_1", User: "alice", Argv: []string{"bash"},
		Started: t0, Ended: t0.Add(time.Minute), Stored: t0.Add(time.Minute), Input: true}
	older := rec
	older.ID, older.Stored = "rec_0", t0
	for _, r := range []hoist.Recording{rec, older} {
		if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.InsertRecording(ctx(), r) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.InsertRecording(ctx(), rec) }); hoist.ErrorCode(err) != hoist.EConflict {
		t.Fatalf("second insert of one id: %v, want EConflict", err)
	}
	parts := [][]byte{[]byte(`{"version": 2}` + "\n"), {0, 1, 2, 0xff}, []byte(`[0.5, "o", "x"]` + "\n")}
	var off int64
	for i, p := range parts {
		err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.AppendRecording(ctx(), rec.ID, off, p, i == len(parts)-1) })
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		off += int64(len(p))
	}
	// A retry of bytes already stored, and anything after the last, conflict.
	for _, at := range []int64{0, off} {
		err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.AppendRecording(ctx(), rec.ID, at, []byte("x"), false) })
		if hoist.ErrorCode(err) != hoist.EConflict {
			t.Errorf("append at %d of a complete recording: %v, want EConflict", at, err)
		}
	}
	var got hoist.Recording
	var all []byte
	var list []hoist.Recording
	err := s.View(ctx(), func(tx hoist.Tx) (err error) {
		if got, err = tx.Recording(ctx(), rec.ID); err != nil {
			return err
		}
		if list, err = tx.Recordings(ctx(), "sess_1"); err != nil {
			return err
		}
		return tx.RecordingData(ctx(), rec.ID, func(b []byte) error { all = append(all, b...); return nil })
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Size != off || !got.Complete || !got.Input || got.User != "alice" || !slices.Equal(got.Argv, []string{"bash"}) {
		t.Errorf("recording = %+v, want size %d, complete, as inserted", got, off)
	}
	if want := bytes.Join(parts, nil); !bytes.Equal(all, want) {
		t.Errorf("bytes = %q, want %q", all, want)
	}
	if len(list) != 2 || list[0].ID != "rec_0" || list[1].ID != "rec_1" {
		t.Errorf("session's recordings = %+v, want rec_0 then rec_1", list)
	}
	err = s.View(ctx(), func(tx hoist.Tx) error { _, err := tx.Recording(ctx(), "rec_none"); return err })
	if hoist.ErrorCode(err) != hoist.ENotFound {
		t.Errorf("unknown recording: %v, want ENotFound", err)
	}
	var n int
	err = s.Update(ctx(), func(tx hoist.Tx) (err error) {
		n, err = tx.DeleteRecordings(ctx(), t0.Add(time.Second), 10)
		return err
	})
	if err != nil || n != 1 {
		t.Fatalf("delete before t0+1s: %d, %v; want 1 (rec_0)", n, err)
	}
	_ = s.View(ctx(), func(tx hoist.Tx) (err error) { list, err = tx.Recordings(ctx(), "sess_1"); return err })
	if len(list) != 1 || list[0].ID != "rec_1" {
		t.Errorf("after the delete: %+v, want rec_1 only", list)
	}
}

func testAuditTimeAndPrefix(t *testing.T, s hoist.Store) {
	appendN(t, s, 5) // request.created at t0+0s … t0+4s (and a fraction)
	err := s.Update(ctx(), func(tx hoist.Tx) error {
		_, err := tx.AppendAudit(ctx(), hoist.AuditEvent{Actor: "bob", Action: "session.started", Subject: "sess_1"}, t0.Add(10*time.Second))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	seqs := func(f hoist.AuditFilter) []int64 {
		var out []int64
		_ = s.View(ctx(), func(tx hoist.Tx) error {
			return tx.Audit(ctx(), f, func(r hoist.AuditRecord) error { out = append(out, r.Seq); return nil })
		})
		return out
	}
	for _, tc := range []struct {
		name string
		f    hoist.AuditFilter
		want []int64
	}{
		{"since", hoist.AuditFilter{Since: t0.Add(3 * time.Second)}, []int64{4, 5, 6}},
		{"until", hoist.AuditFilter{Until: t0.Add(2 * time.Second)}, []int64{1, 2}},
		{"both", hoist.AuditFilter{Since: t0.Add(time.Second), Until: t0.Add(3 * time.Second)}, []int64{2, 3}},
		{"prefix", hoist.AuditFilter{ActionPrefix: "session."}, []int64{6}},
		{"prefix of all", hoist.AuditFilter{ActionPrefix: "request."}, []int64{1, 2, 3, 4, 5}},
		{"prefix of none", hoist.AuditFilter{ActionPrefix: "sessions."}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := seqs(tc.f); !slices.Equal(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}
