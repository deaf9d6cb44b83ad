package e2e_test

import (
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/testenv"
)

// TestHugeReasonDoesNotBlindTheAudit: any local user, with no session, once
// stopped the machine's audit delivery for good with a 40 KB reason (the
// refusal's record was larger than a delivery batch). The socket now
// refuses it outright, and an oversized event queued all the same is
// delivered as a marker: the records after it reach the server.
func TestHugeReasonDoesNotBlindTheAudit(t *testing.T) {
	f := newFleet(t)
	code, _, errOut := f.sh(`hoist run --reason "$(head -c 40000 /dev/zero | tr '\0' x)" -- /bin/true`)
	if code == 0 || !strings.Contains(errOut, "reason") {
		t.Fatalf("a 40 KB reason: exit %d, %q; want a clear refusal naming the reason", code, errOut)
	}
	// An event that large queued by any path of hoistd's own.
	if err := f.agent.Outbox().Append("test.huge", "hoistd", "", time.Now(), map[string]any{"blob": strings.Repeat("x", 40000)}); err != nil {
		t.Fatal(err)
	}
	id := f.request("--for 1h --reason 'after the attack'")
	if res, _ := f.srv.Service().Approve(ctx, adminActor, []string{id}, time.Hour, ""); !res[0].OK {
		t.Fatalf("approve: %+v", res)
	}
	testenv.WaitUntil(t, "the session", func() bool { return f.agent.Status(f.user.Name).State == "active" })
	if code, out, errOut := f.sh("hoist run -- id -u"); code != 0 || out != "0\n" {
		t.Fatalf("hoist run -- id -u: %d %q %q", code, out, errOut)
	}
	testenv.WaitUntil(t, "the elevated command's record on the server", func() bool {
		return f.auditActions()["agent.command.started"] >= 1
	})
	var huge string
	_ = f.srv.Service().Audit(ctx, adminActor, hoist.AuditFilter{Action: "agent.test.huge"}, func(r hoist.AuditRecord) error {
		huge = string(r.Detail)
		return nil
	})
	if huge == "" || len(huge) > 20000 {
		t.Fatalf("the oversized event reached the server as %d bytes, want it there and clipped", len(huge))
	}
}
