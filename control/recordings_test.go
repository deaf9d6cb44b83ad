package control_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/wire"
)

// TestRecordingUploadResumes: an agent's pieces are stored where the
// server's copy ends; a retry, a gap and another agent's piece store
// nothing; the last piece makes the recording complete and audited; the
// approver of the session, admins and auditors read it, another approver
// does not; the retention removes it.
func TestRecordingUploadResumes(t *testing.T) {
	f := newFixture(t)
	mine := hoist.AgentRecord{ID: hoist.NewID(hoist.AgentIDPrefix), Hostname: "ws-01"}
	other := hoist.AgentRecord{ID: hoist.NewID(hoist.AgentIDPrefix), Hostname: "ws-02"}
	now := f.clock.Now()
	err := f.store.Update(ctx, func(tx hoist.Tx) error {
		for _, a := range []hoist.AgentRecord{mine, other} {
			if err := tx.InsertAgent(ctx, a); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	req, _, err := f.svc.CreateRequest(ctx, control.RequestInput{User: "alice", Host: "ws-01", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if res, err := f.svc.Approve(ctx, f.approver, []string{req.ID}, time.Hour, ""); err != nil || !res[0].OK {
		t.Fatalf("approve: %+v, %v", res, err)
	}
	sess, err := f.svc.Session(ctx, f.admin, req.ID)
	if err != nil {
		t.Fatal(err)
	}
	// The session is on mine (a request filed without an agent, moved
	// there: approving one filed through an agent needs the JIT policies).
	sess.Agent, sess.Version = mine.ID, sess.Version+1
	if err := f.store.Update(ctx, func(tx hoist.Tx) error { return tx.UpdateSession(ctx, sess) }); err != nil {
		t.Fatal(err)
	}
	id := hoist.NewID(hoist.RecordingIDPrefix)
	data := []byte("{\"version\": 2, \"width\": 80, \"height\": 24}\n[0.1, \"o\", \"hello\"]\n")
	piece := func(off, n int, final bool) wire.RecordingChunk {
		return wire.RecordingChunk{Session: sess.ID, User: "alice", Argv: []string{"bash"}, Started: now, Ended: now,
			Offset: int64(off), Data: data[off : off+n], Final: final}
	}
	steps := []struct {
		name  string
		agent hoist.AgentRecord
		chunk wire.RecordingChunk
		size  int64
		code  string
	}{
		{"first piece", mine, piece(0, 10, false), 10, ""},
		{"the same again (a lost answer)", mine, piece(0, 10, false), 10, ""},
		{"a gap", mine, piece(20, 5, false), 10, ""},
		{"another agent's", other, piece(10, 5, false), 0, hoist.ENotFound},
		{"the rest", mine, piece(10, len(data)-10, true), int64(len(data)), ""},
		{"after the end", mine, piece(10, len(data)-10, true), int64(len(data)), ""},
	}
	for _, st := range steps {
		ans, err := f.svc.AgentRecording(ctx, st.agent, id, st.chunk)
		if hoist.ErrorCode(err) != st.code || (st.code == "" && ans.Size != st.size) {
			t.Fatalf("%s: %+v, %v; want size %d, error %q", st.name, ans, err, st.size, st.code)
		}
	}
	for _, bad := range []wire.RecordingChunk{
		{Session: "ses_nosuchsession00", User: "alice", Data: []byte("x")},
		{Session: sess.ID, User: "", Data: []byte("x")},
		{Session: sess.ID, User: "alice", Offset: -1},
		{Session: sess.ID, User: "alice", Data: make([]byte, hoist.MaxRecordingChunk+1)},
	} {
		if _, err := f.svc.AgentRecording(ctx, mine, hoist.NewID(hoist.RecordingIDPrefix), bad); err == nil {
			t.Errorf("piece %+v was taken", bad.Session)
		}
	}
	var stored []hoist.AuditRecord
	_ = f.svc.Audit(ctx, f.auditor, hoist.AuditFilter{Action: "recording.stored"}, func(r hoist.AuditRecord) error { stored = append(stored, r); return nil })
	if len(stored) != 1 || stored[0].Subject != sess.ID {
		t.Errorf("recording.stored records: %+v", stored)
	}

	read := func(who string) (hoist.Recording, []byte, error) {
		actor := f.admin
		switch who {
		case "auditor":
			actor = f.auditor
		case "approver":
			actor = f.approver
		case "stranger":
			actor = f.approver
			actor.Name = "someone-else"
		}
		var b bytes.Buffer
		rec, err := f.svc.RecordingData(ctx, actor, id, &b)
		return rec, b.Bytes(), err
	}
	for _, who := range []string{"admin", "auditor", "approver"} {
		rec, got, err := read(who)
		if err != nil || !bytes.Equal(got, data) || !rec.Complete || rec.User != "alice" {
			t.Errorf("%s reads %q (%+v, %v), want the whole recording", who, got, rec, err)
		}
	}
	if _, _, err := read("stranger"); hoist.ErrorCode(err) != hoist.EForbidden {
		t.Errorf("an approver of another session: %v, want forbidden", err)
	}
	if recs, err := f.svc.Recordings(ctx, f.approver, sess.ID); err != nil || len(recs) != 1 {
		t.Errorf("the approver's list: %+v, %v", recs, err)
	}

	f.clock.Add(91 * 24 * time.Hour)
	if n, err := f.svc.PruneRecordings(ctx, 90*24*time.Hour); err != nil || n != 1 {
		t.Fatalf("prune after 91 days: %d, %v; want 1", n, err)
	}
	if recs, _ := f.svc.Recordings(ctx, f.admin, sess.ID); len(recs) != 0 {
		t.Errorf("after the retention: %+v", recs)
	}
}
