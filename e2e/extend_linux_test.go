package e2e_test

import (
	"bytes"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/server"
	"github.com/hoist-jit/hoist/testenv"
)

// clockedFleet is a fleet whose server and machine share one test clock:
// a window or a pending TTL ends when the test moves it.
func clockedFleet(t *testing.T) (*fleet, *testenv.Clock) {
	t.Helper()
	clk := testenv.NewClock(time.Now())
	m, err := server.Start(ctx, server.Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Clock: clk.Now,
		AdminPassword: "correct horse battery staple", Settings: hoist.DefaultApprovalSettings()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return newFleetOn(t, m, func(c *agent.Config) { c.Clock = clk }), clk
}

// TestExtendALiveSession: hoist request --extend --wait while an elevated
// program runs; the approver sees an extension; once approved the
// program keeps running past the old end and dies at the new one.
func TestExtendALiveSession(t *testing.T) {
	f, clk := clockedFleet(t)
	id := f.request("--for 1h --reason 'long upgrade'")
	f.approve(id, time.Hour)
	testenv.WaitUntil(t, "the session", func() bool { return f.agent.Status(f.user.Name).State == "active" })
	oldEnd := f.agent.Status(f.user.Name).ExpiresAt
	prog := f.command("exec hoist run -- sleep 100000")
	if err := prog.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitUntil(t, "the elevated program", func() bool {
		code, out, _ := f.sh("pgrep -u 0 -x sleep")
		return code == 0 && out != ""
	})

	waiter := f.command("hoist request --extend 2h --reason 'not done yet' --wait")
	var out, errOut bytes.Buffer
	waiter.Stdout, waiter.Stderr = &out, &errOut
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	var ext hoist.Request
	testenv.WaitUntil(t, "the extension on the server", func() bool {
		rs, _ := f.srv.Service().Requests(ctx, adminActor, hoist.RequestFilter{State: hoist.RequestPending})
		if len(rs) == 1 {
			ext = rs[0]
		}
		return len(rs) == 1
	})
	if ext.Kind != hoist.RequestKindExtension || ext.RequestedDuration != 2*time.Hour || !ext.SessionEnd.Equal(oldEnd) {
		t.Fatalf("the approver sees %+v, want an extension of 2h on a session ending %v", ext, oldEnd)
	}
	f.approve(ext.ID, 2*time.Hour)
	if err := waiter.Wait(); err != nil {
		t.Fatalf("hoist request --extend --wait: %v, %q %q", err, out.String(), errOut.String())
	}
	if !strings.HasSuffix(strings.TrimSpace(out.String()), ext.ID) || !strings.Contains(out.String(), "active") {
		t.Errorf("hoist request --extend --wait printed %q", out.String())
	}
	st := f.agent.Status(f.user.Name)
	if !st.ExpiresAt.Equal(oldEnd.Add(2 * time.Hour)) {
		t.Fatalf("the session ends %v, want %v", st.ExpiresAt, oldEnd.Add(2*time.Hour))
	}
	sess, _ := f.srv.Service().Session(ctx, adminActor, st.SessionID)
	if !sess.NotAfter.Equal(st.ExpiresAt) {
		t.Errorf("the server's session ends %v, the machine's %v", sess.NotAfter, st.ExpiresAt)
	}

	clk.Add(time.Hour + time.Minute) // past the old end
	if code, out, errOut := f.sh("hoist run -- id -u"); code != 0 || out != "0\n" {
		t.Fatalf("after the old end: exit %d, %q %q", code, out, errOut)
	}
	clk.Add(2 * time.Hour) // past the new end
	err := prog.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || (ee.ExitCode() != 143 && ee.ExitCode() != 137) {
		t.Fatalf("the elevated program ended with %v, want 143 or 137 at the new end", err)
	}
	testenv.WaitUntil(t, "session.extended in the audit log", func() bool { return f.auditActions()["session.extended"] == 1 })

	// The session has ended: an extension is refused.
	code, _, errOut2 := f.sh("hoist request --extend 30m")
	if code == 0 || !strings.Contains(errOut2, "not active") {
		t.Errorf("extension after the end: exit %d, %q", code, errOut2)
	}
}

// TestPendingRequestExpires: nobody decides; at the pending TTL the request
// is expired, and hoist request --wait exits non-zero saying so.
func TestPendingRequestExpires(t *testing.T) {
	f, clk := clockedFleet(t)
	waiter := f.command("hoist request --for 1h --wait")
	var out, errOut bytes.Buffer
	waiter.Stdout, waiter.Stderr = &out, &errOut
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitUntil(t, "the request on the server", func() bool {
		rs, _ := f.srv.Service().Requests(ctx, adminActor, hoist.RequestFilter{State: hoist.RequestPending})
		return len(rs) == 1
	})
	clk.Add(hoist.DefaultPendingTTL)
	err := waiter.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 || !strings.Contains(errOut.String(), "expired") || !strings.Contains(errOut.String(), "no approver decided") {
		t.Fatalf("hoist request --wait at the TTL: %v, stderr %q", err, errOut.String())
	}
	if _, st, _ := f.sh("hoist status"); !strings.Contains(st, "expired") {
		t.Errorf("hoist status after the expiry: %q", st)
	}
}
