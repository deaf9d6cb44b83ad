package control_test

import (
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
)

// TestRevokedAgentsPollGetsNoGrant is the attack: an agent's long poll was
// authenticated before an administrator revoked the machine, and a grant is
// approved for it afterwards (a request it filed earlier). The poll must not
// hand the revoked machine the signed grant it would elevate with; it ends
// refused instead.
func TestRevokedAgentsPollGetsNoGrant(t *testing.T) {
	onEachStore(t, func(t *testing.T, w *watch) {
		evs, err := w.svc.AgentEvents(ctx, w.agent.ID, 0, 0)
		if err != nil || len(evs) == 0 {
			t.Fatalf("the first grant's event: %v, %v", evs, err)
		}
		after := evs[len(evs)-1].Seq
		r, _, err := w.svc.CreateRequest(ctx, control.RequestInput{User: "bob", Host: "ws-01", Agent: w.agent.ID, Reason: "tool", Duration: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		type answer struct {
			evs []hoist.AgentEvent
			err error
		}
		polled := make(chan answer, 1)
		go func() {
			evs, err := w.svc.AgentEvents(ctx, w.agent.ID, after, 20*time.Second)
			polled <- answer{evs, err}
		}()
		if err := w.svc.RevokeAgent(ctx, watchAdmin, w.agent.ID); err != nil {
			t.Fatal(err)
		}
		_, _ = w.svc.Approve(ctx, watchAdmin, []string{r.ID}, time.Hour, "") // refused or not: either way no grant may reach the machine
		got := <-polled
		for _, ev := range got.evs {
			t.Errorf("the revoked agent's poll delivered %s for %s", ev.Kind, ev.RequestID)
		}
		if hoist.ErrorCode(got.err) != hoist.EUnauthorized {
			t.Errorf("the revoked agent's poll ended with %v, want it refused (unauthorized)", got.err)
		}
	})
}
