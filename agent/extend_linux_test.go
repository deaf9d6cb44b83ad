package agent_test

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/testenv"
)

// TestExtensionMovesTheEnd: an approved extension while programs run.
// They keep running past the old end and die at the new one; nothing
// restarts, and a grant for an ended session is refused.
func TestExtensionMovesTheEnd(t *testing.T) {
	r := newRig(t)
	sid := r.grant(time.Hour)
	st := r.agent.Status(r.user.Name)
	blocking, pids := r.escapes(sid, 6)

	newEnd := st.ExpiresAt.Add(2 * time.Hour)
	start := st.ExpiresAt.Add(-time.Hour)
	if err := r.agent.Extend(agent.Grant{SessionID: sid, User: r.user.Name, NotBefore: start, NotAfter: newEnd, By: "server"}); err != nil {
		t.Fatalf("extend: %v", err)
	}
	if got := r.agent.Status(r.user.Name); !got.ExpiresAt.Equal(newEnd) || got.SessionID != sid {
		t.Fatalf("status after the extension: %+v, want session %s ending %v", got, sid, newEnd)
	}
	r.clock.Add(time.Hour + time.Minute) // past the old end
	if out := r.sh("", "hoist run -- id -u"); out.code != 0 || out.stdout != "0\n" {
		t.Fatalf("hoist run after the old end: %+v, want root", out)
	}
	for _, pid := range pids {
		if !testenv.Alive(pid) {
			t.Fatalf("elevated process %d ended at the old end", pid)
		}
	}
	if got := r.agent.Status(r.user.Name); got.State != "active" {
		t.Fatalf("state after the old end: %q, want active", got.State)
	}
	r.clock.Add(2 * time.Hour) // past the new end
	err := blocking.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || (ee.ExitCode() != 143 && ee.ExitCode() != 137) {
		t.Fatalf("the blocked hoist run ended with %v, want 143 or 137", err)
	}
	testenv.WaitUntil(t, "the end to complete", func() bool { return len(r.events("session.ended")) == 1 })
	assertAllGone(t, r.cgs, sid, pids)
	if len(r.events("session.extension_applied")) != 1 {
		t.Errorf("the extension was not audited on the machine")
	}

	// Too late: the session has ended.
	err = r.agent.Extend(agent.Grant{SessionID: sid, User: r.user.Name, NotBefore: start, NotAfter: r.clock.Now().Add(time.Hour), By: "server"})
	if hoist.ErrorCode(err) != hoist.EConflict {
		t.Fatalf("extending an ended session: %v, want a conflict", err)
	}
}

// TestExtendWithoutAServer: hoist request --extend on a machine that is not
// enrolled, or without a session, fails with a clear message.
func TestExtendWithoutAServer(t *testing.T) {
	r := newRig(t)
	out := r.sh("", "hoist request --extend 30m")
	if out.code == 0 || !strings.Contains(out.stderr, "not enrolled") {
		t.Fatalf("extend without a server: %+v", out)
	}
	if out := r.sh("", "hoist request --extend 30m --for 1h"); out.code == 0 || !strings.Contains(out.stderr, "--extend") {
		t.Fatalf("--extend with --for: %+v", out)
	}
}
