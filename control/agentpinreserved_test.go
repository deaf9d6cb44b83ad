package control_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

// TestPinnedNameIsReserved (review of issue 18): an admin pinned ws-01 on
// agent A. Agent B (any enrolled machine, unpinned) reports hostname
// ws-01. It must not go by A's pinned name, must not land in A's
// hostname-rule group, is flagged as a duplicate, and filing for A's users
// first must not block their JIT requests on A.
func TestPinnedNameIsReserved(t *testing.T) {
	onEachStore(t, func(t *testing.T, w *watch) {
		a := w.agent
		if _, err := w.svc.CreateGroup(ctx, watchAdmin, hoist.ComputerGroup{Name: "workstations", Rules: hoist.GroupRules{Hostname: "ws-*"}}); err != nil {
			t.Fatal(err)
		}
		if _, err := w.svc.PinAgentName(ctx, watchAdmin, a.ID, "ws-01"); err != nil {
			t.Fatal(err)
		}
		a, _ = w.svc.Agent(ctx, a.ID)
		b := w.addAgent(t, "build-3")
		w.checkinAs(t, b.ID, "ws-01")
		b, _ = w.svc.Agent(ctx, b.ID)
		if b.Name() == "ws-01" || !strings.Contains(b.Name(), "unverified") || !strings.Contains(b.Name(), b.ID) {
			t.Errorf("unpinned B reporting A's pinned name goes by %q, want one saying unverified with its id", b.Name())
		}
		v := w.agentView(t, b.ID)
		if slices.Contains(v.Groups, "workstations") {
			t.Errorf("B is in group workstations by claiming A's pinned name: %v", v.Groups)
		}
		if !v.DuplicateHostname {
			t.Errorf("B reporting A's pinned name is not flagged as a duplicate")
		}
		if va := w.agentView(t, a.ID); !slices.Contains(va.Groups, "workstations") {
			t.Errorf("A (pinned ws-01) is not in workstations: %v", va.Groups)
		}
		if _, _, err := w.svc.AgentRequest(ctx, b, "bob", "squat", time.Hour); err != nil {
			t.Fatalf("B files for bob: %v", err)
		}
		if _, _, err := w.svc.AgentRequest(ctx, a, "bob", "real work", time.Hour); err != nil {
			t.Errorf("bob on A (pinned ws-01) cannot ask while B squats the name: %v", err)
		}
		// Unpinned, A's name is free again: B goes by its hostname.
		if _, err := w.svc.UnpinAgentName(ctx, watchAdmin, a.ID); err != nil {
			t.Fatal(err)
		}
		if b, _ = w.svc.Agent(ctx, b.ID); b.Name() != "ws-01" {
			t.Errorf("after A's pin went, B goes by %q, want ws-01", b.Name())
		}
		// Pinned on A again while B already reports it: B loses it at once.
		if _, err := w.svc.PinAgentName(ctx, watchAdmin, a.ID, "WS-01"); err != nil {
			t.Fatal(err)
		}
		if b, _ = w.svc.Agent(ctx, b.ID); !b.NameUnverified() {
			t.Errorf("after WS-01 was pinned on A, B reporting ws-01 goes by %q", b.Name())
		}
	})
}
