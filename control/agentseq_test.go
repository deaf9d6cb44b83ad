package control_test

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/wire"
)

// outboxEvents writes n events with a real agent outbox and returns them
// as the link sends them.
func outboxEvents(t *testing.T, n int) []wire.AgentAuditEvent {
	t.Helper()
	ob, err := agent.OpenOutbox(filepath.Join(t.TempDir(), "outbox.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	for i := range n {
		if err := ob.Append("command.started", "alice", "", time.Now(), map[string]any{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	evs, _, err := ob.Pending(n, 1<<20)
	if err != nil || len(evs) != n {
		t.Fatalf("pending: %d, %v", len(evs), err)
	}
	out := make([]wire.AgentAuditEvent, 0, n)
	for _, ev := range evs {
		out = append(out, wire.AgentAuditEvent{ID: ev.ID, Seq: ev.Seq, Time: ev.Time, Action: ev.Action, Actor: ev.Actor, Detail: ev.Detail})
	}
	return out
}

type gapDetail struct {
	Agent   string     `json:"agent"`
	From    int64      `json:"missing_from"`
	To      int64      `json:"missing_to"`
	Count   int64      `json:"missing_count"`
	Missing [][2]int64 `json:"missing"`
	Next    int64      `json:"next_seq"`
}

func (w *watch) gaps(t *testing.T) []gapDetail {
	t.Helper()
	var out []gapDetail
	for _, r := range w.records(t, control.AlertAgentAuditGap) {
		var d gapDetail
		if err := json.Unmarshal(r.Detail, &d); err != nil || r.Subject != w.agent.ID || d.Agent != w.agent.ID {
			t.Fatalf("alert %+v %s", r, r.Detail)
		}
		out = append(out, d)
	}
	return out
}

func (w *watch) deliver(t *testing.T, evs ...wire.AgentAuditEvent) {
	t.Helper()
	if _, err := w.svc.AgentAudit(ctx, w.agent, evs); err != nil {
		t.Fatal(err)
	}
}

func TestAgentAuditGaps(t *testing.T) {
	onEachStore(t, func(t *testing.T, w *watch) {
		evs := outboxEvents(t, 10) // numbered 1 to 10

		// In order, and sent again after a lost answer: nothing to report.
		w.deliver(t, evs[:3]...)
		w.deliver(t, evs[:3]...)
		if g := w.gaps(t); len(g) != 0 {
			t.Fatalf("in-order delivery raised %+v", g)
		}

		// 4 and 5 never come: one alert naming them, at once.
		w.deliver(t, evs[5:7]...)
		g := w.gaps(t)
		if len(g) != 1 || g[0].From != 4 || g[0].To != 5 || g[0].Count != 2 || g[0].Next != 6 || len(g[0].Missing) != 1 {
			t.Fatalf("after 1-3 then 6-7: %+v; want one alert missing 4 to 5", g)
		}
		// One of them arriving late is stored, and raises nothing more.
		if n, err := w.svc.AgentAudit(ctx, w.agent, evs[3:4]); err != nil || n != 1 {
			t.Fatalf("late event: stored %d, %v", n, err)
		}
		if g := w.gaps(t); len(g) != 1 {
			t.Fatalf("a late event raised more: %+v", g)
		}

		// A check-in that read the agent's record before the last delivery
		// committed puts an older AuditSeq back (PostgreSQL, read committed):
		// the numbers that did arrive are not reported.
		err := w.store.Update(ctx, func(tx hoist.Tx) error {
			a, err := tx.AgentByID(ctx, w.agent.ID)
			if err != nil {
				return err
			}
			a.AuditSeq = 2
			return tx.UpdateAgent(ctx, a)
		})
		if err != nil {
			t.Fatal(err)
		}
		w.deliver(t, evs[7])
		if g := w.gaps(t); len(g) != 1 {
			t.Fatalf("a stale AuditSeq raised %+v", g[1:])
		}

		// A later hole is an alert of its own.
		w.deliver(t, evs[9])
		if g := w.gaps(t); len(g) != 2 || g[1].From != 9 || g[1].To != 9 {
			t.Fatalf("after 8 then 10: %+v", g)
		}
		var rec hoist.AgentRecord
		_ = w.store.View(ctx, func(tx hoist.Tx) (err error) { rec, err = tx.AgentByID(ctx, w.agent.ID); return err })
		if rec.AuditSeq != 10 {
			t.Fatalf("AuditSeq = %d, want 10", rec.AuditSeq)
		}

		// Events without numbers (older agents) are stored and not tracked.
		old := outboxEvents(t, 1)[0]
		old.Seq = 0
		w.deliver(t, old)
		if g := w.gaps(t); len(g) != 2 {
			t.Fatalf("an unnumbered event raised %+v", g)
		}
		bad := outboxEvents(t, 1)[0]
		bad.Seq = -1
		if _, err := w.svc.AgentAudit(ctx, w.agent, []wire.AgentAuditEvent{bad}); hoist.ErrorCode(err) != hoist.EInvalid {
			t.Fatalf("a negative number: %v, want invalid", err)
		}
	})
}

// An event recorded again under the ID it had (a fact hoistd did once, such
// as a session's end, done again after a restart: agent.OnceID) carries a
// new number: it is stored once, and its number is no gap.
func TestAgentAuditOnceRecordedAgain(t *testing.T) {
	onEachStore(t, func(t *testing.T, w *watch) {
		evs := outboxEvents(t, 4) // numbered 1 to 4
		end := evs[1]
		end.ID = agent.OnceID("session.ended/ses_x")
		again := evs[2]
		again.ID = end.ID
		w.deliver(t, evs[0], end)
		if n, err := w.svc.AgentAudit(ctx, w.agent, []wire.AgentAuditEvent{again}); err != nil || n != 0 {
			t.Fatalf("the same fact recorded again: stored %d, %v; want 0", n, err)
		}
		w.deliver(t, evs[3])
		if g := w.gaps(t); len(g) != 0 {
			t.Fatalf("a fact recorded again raised %+v", g)
		}
	})
}
