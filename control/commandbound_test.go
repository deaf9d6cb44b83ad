package control_test

import (
	"fmt"
	"testing"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/wire"
)

// TestSessionCommandsAreBounded: root on a machine sends exec records
// without end under one run id; the server stores at most
// MaxSessionCommands of them.
func TestSessionCommandsAreBounded(t *testing.T) {
	f := newFixture(t)
	ag := hoist.AgentRecord{ID: hoist.NewID(hoist.AgentIDPrefix), Hostname: "ws-67"}
	if err := f.store.Update(ctx, func(tx hoist.Tx) error { return tx.InsertAgent(ctx, ag) }); err != nil {
		t.Fatal(err)
	}
	const batch = 500
	for e := range control.MaxSessionCommands/batch + 2 {
		cmds := make([]any, batch)
		for i := range cmds {
			cmds[i] = map[string]any{"n": e*batch + i + 1, "pid": 1, "argv": []string{"true"}}
		}
		ev := wire.AgentAuditEvent{ID: fmt.Sprintf("evt_flood_%d", e), Action: "session.commands", Actor: "mallory", Subject: "run_flood",
			Time: f.clock.Now(), Detail: map[string]any{"commands": cmds}}
		if _, err := f.svc.AgentAudit(ctx, ag, []wire.AgentAuditEvent{ev}); err != nil {
			t.Fatal(err)
		}
	}
	var n int
	if err := f.store.View(ctx, func(tx hoist.Tx) (err error) { n, err = tx.CountSessionCommands(ctx, "run_flood"); return err }); err != nil {
		t.Fatal(err)
	}
	if n != control.MaxSessionCommands {
		t.Fatalf("%d commands stored for one run, want the bound %d", n, control.MaxSessionCommands)
	}
}
