package e2e_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/testenv"
)

// agentSeqs returns the outbox numbers of the agent events the server
// stored, and its gap alerts.
func agentSeqs(f *fleet) (map[int64]bool, []hoist.AuditRecord) {
	seqs := map[int64]bool{}
	var alerts []hoist.AuditRecord
	_ = f.srv.Service().Audit(ctx, adminActor, hoist.AuditFilter{}, func(r hoist.AuditRecord) error {
		var d struct {
			Seq int64 `json:"agent_seq"`
		}
		if strings.HasPrefix(r.Action, "agent.") && json.Unmarshal(r.Detail, &d) == nil && d.Seq > 0 {
			seqs[d.Seq] = true
		}
		if r.Action == control.AlertAgentAuditGap {
			alerts = append(alerts, r)
		}
		return nil
	})
	return seqs, alerts
}

// TestAgentAuditGapIsReported: an event taken out of a real hoistd's
// outbox before delivery is noticed by the real server from the numbers
// of the events that did arrive, and raised once as alert.agent_audit_gap
// naming the agent and the missing number.
func TestAgentAuditGapIsReported(t *testing.T) {
	f := newFleet(t)
	agentID := f.view().ID
	path := filepath.Join(f.state, "outbox.jsonl")

	// Honest delivery first: numbered, no alert.
	f.stopAgent()
	first := appendEvents(t, path, 2)
	f.startAgent()
	testenv.WaitUntil(t, "the first events stored with their numbers", func() bool { s, _ := agentSeqs(f); return s[first] })
	if _, alerts := agentSeqs(f); len(alerts) != 0 {
		t.Fatalf("an honest delivery raised %d gap alerts: %s", len(alerts), alerts[0].Detail)
	}

	// Root takes an event out of the queue while hoistd is stopped.
	f.stopAgent()
	if appendEvents(t, path, 3) <= first {
		t.Fatal("the outbox's numbers went back after a restart")
	}
	evs, err := agent.ReadEvents(path)
	if err != nil {
		t.Fatal(err)
	}
	removed := evs[len(evs)-2]
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if !strings.Contains(line, removed.ID) {
			kept = append(kept, line)
		}
	}
	if err := os.WriteFile(path, []byte(strings.Join(kept, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	f.startAgent()
	last := evs[len(evs)-1].Seq
	testenv.WaitUntil(t, "the events after the removed one stored", func() bool { s, _ := agentSeqs(f); return s[last] })
	seqs, alerts := agentSeqs(f)
	if seqs[removed.Seq] || len(alerts) != 1 {
		t.Fatalf("after removing event %d: stored %v, %d alerts; want it missing and one alert", removed.Seq, seqs, len(alerts))
	}
	var d struct {
		Agent string `json:"agent"`
		From  int64  `json:"missing_from"`
		To    int64  `json:"missing_to"`
		Count int64  `json:"missing_count"`
	}
	if err := json.Unmarshal(alerts[0].Detail, &d); err != nil || alerts[0].Subject != agentID || d.Agent != agentID ||
		d.From != removed.Seq || d.To != removed.Seq || d.Count != 1 || alerts[0].Actor != control.SystemActor {
		t.Fatalf("alert %+v %s; want agent %s missing %d", alerts[0], alerts[0].Detail, agentID, removed.Seq)
	}

	// A restart delivers nothing again and raises nothing again.
	f.restartAgent()
	appendWhileRunning(t, f, 1)
	testenv.WaitUntil(t, "a later event stored", func() bool { s, _ := agentSeqs(f); return s[last+1] })
	if _, alerts := agentSeqs(f); len(alerts) != 1 {
		t.Fatalf("%d gap alerts after a clean restart; want still 1", len(alerts))
	}
}

// appendEvents writes n events into the outbox at path with the outbox
// code hoistd uses, while hoistd is stopped, and returns the number of the
// last.
func appendEvents(t *testing.T, path string, n int) int64 {
	t.Helper()
	ob, err := agent.OpenOutbox(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	for i := range n {
		if err := ob.Append("test.event", "alice", "", time.Now(), map[string]any{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := agent.ReadEvents(path)
	if err != nil || len(evs) == 0 {
		t.Fatalf("outbox: %d events, %v", len(evs), err)
	}
	return evs[len(evs)-1].Seq
}

// appendWhileRunning records n events through the running agent's outbox.
func appendWhileRunning(t *testing.T, f *fleet, n int) {
	t.Helper()
	for i := range n {
		if err := f.agent.Outbox().Append("test.event", "alice", "", time.Now(), map[string]any{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	f.link.Kick()
}
