package e2e_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/testenv"
)

// TestTheWholePath: request on the machine, approve on the server, root on
// the machine for the window, and nothing left after it.
func TestTheWholePath(t *testing.T) {
	// The machine's clock is the test's, so that the window closes when the
	// test has seen everything start, however busy the machine is.
	clk := testenv.NewClock(time.Now())
	f := newFleetOn(t, startServerAt(t, t.TempDir(), "127.0.0.1:0"), func(c *agent.Config) { c.Clock = clk })
	id := f.request("--for 1h --reason 'install the printer driver'")
	pending, err := f.srv.Service().Requests(ctx, adminActor, hoist.RequestFilter{State: hoist.RequestPending})
	if err != nil || len(pending) != 1 || pending[0].ID != id || pending[0].User != f.user.Name || pending[0].RequestedDuration != time.Hour {
		t.Fatalf("pending on the server = %+v, %v", pending, err)
	}
	if _, out, _ := f.sh("hoist status --json"); !strings.Contains(out, `"state": "pending"`) {
		t.Fatalf("status while pending: %s", out)
	}
	results, err := f.srv.Service().Approve(ctx, control.Actor{Name: "carol", Role: hoist.RoleApprover}, []string{id}, time.Hour, "")
	if err != nil || !results[0].OK {
		t.Fatalf("approve: %+v %v", results, err)
	}
	approvedAt := time.Now()
	testenv.WaitUntil(t, "the agent to hear of the approval", func() bool { return f.agent.Status(f.user.Name).State == "active" })
	t.Logf("approval reached the agent in %s", time.Since(approvedAt))

	sid := f.agent.Status(f.user.Name).SessionID
	escape := f.command(`hoist run -- sh -c 'setsid sh -c "sleep 1000 &"; (sleep 1000 &); nohup sleep 1000 >/dev/null 2>&1 &'; exec hoist run -- sleep 1000`)
	if err := escape.Start(); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := f.sh("hoist run -- id -u")
	if code != 0 || out != "0\n" {
		t.Fatalf("hoist run -- id -u: exit %d, %q %q", code, out, errOut)
	}
	g, err := f.cgs.OpenGroup(sid)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	var pids []int
	testenv.WaitUntil(t, "4 elevated sleeps", func() bool {
		now, _ := g.Pids()
		for _, pid := range now {
			if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); string(comm) == "sleep\n" && !seen[pid] {
				seen[pid] = true
				pids = append(pids, pid)
			}
		}
		return len(pids) >= 4
	})
	clk.Add(f.agent.Status(f.user.Name).ExpiresAt.Sub(clk.Now()) + time.Second) // the window closes
	_ = escape.Wait()                                                           // returns when the sleep is ended
	testenv.WaitUntil(t, "the session to end", func() bool { return f.agent.Status(f.user.Name).State == "ended" })
	testenv.WaitUntil(t, "the cgroup to go", func() bool { _, err := os.Stat(filepath.Join(f.cgs.Root, sid)); return os.IsNotExist(err) })
	for _, pid := range pids {
		if testenv.Alive(pid) {
			t.Errorf("process %d survived the window", pid)
		}
	}
	// The machine's audit events reach the server's log.
	testenv.WaitUntil(t, "the agent's audit events on the server", func() bool {
		a := f.auditActions()
		return a["agent.command.started"] >= 3 && a["agent.command.ended"] >= 3 && a["agent.session.ended"] == 1
	})
	var argvs []string
	_ = f.srv.Service().Audit(ctx, adminActor, hoist.AuditFilter{Action: "agent.command.started"}, func(r hoist.AuditRecord) error {
		argvs = append(argvs, string(r.Detail))
		return nil
	})
	if !strings.Contains(strings.Join(argvs, "\n"), `"argv":["id","-u"]`) {
		t.Fatalf("the server's audit lacks the elevated id -u:\n%s", strings.Join(argvs, "\n"))
	}
	rep, err := f.srv.Service().VerifyAudit(ctx, adminActor)
	if err != nil || !rep.OK {
		t.Fatalf("audit chain: %+v %v", rep, err)
	}
}

func TestRevokeReachesTheMachine(t *testing.T) {
	f := newFleet(t)
	id := f.request("--for 1h")
	if res, _ := f.srv.Service().Approve(ctx, adminActor, []string{id}, time.Hour, ""); !res[0].OK {
		t.Fatalf("approve: %+v", res)
	}
	testenv.WaitUntil(t, "the session", func() bool { return f.agent.Status(f.user.Name).State == "active" })
	blocking := f.command("exec hoist run -- sleep 1000")
	if err := blocking.Start(); err != nil {
		t.Fatal(err)
	}
	sid := f.agent.Status(f.user.Name).SessionID
	g, _ := f.cgs.OpenGroup(sid)
	testenv.WaitUntil(t, "the elevated sleep", func() bool { pids, _ := g.Pids(); return len(pids) == 1 })
	if res, _ := f.srv.Service().Revoke(ctx, adminActor, []string{id}, "incident over"); !res[0].OK {
		t.Fatalf("revoke: %+v", res)
	}
	err := blocking.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 143 {
		t.Fatalf("the elevated program ended with %v, want 143", err)
	}
	st := f.agent.Status(f.user.Name)
	if st.State != "ended" || st.EndReason != "revoked" {
		t.Fatalf("status after revoke: %+v", st)
	}
	if code, _, _ := f.sh("hoist run -- id -u"); code != 126 {
		t.Fatalf("run after revoke: exit %d, want 126", code)
	}
}

func TestDeniedRequestEndsTheWait(t *testing.T) {
	f := newFleet(t)
	waiter := f.command("hoist request --for 10m --reason games --wait")
	var out, errOut bytes.Buffer
	waiter.Stdout, waiter.Stderr = &out, &errOut
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	var pending []hoist.Request
	testenv.WaitUntil(t, "the request on the server", func() bool {
		pending, _ = f.srv.Service().Requests(ctx, adminActor, hoist.RequestFilter{State: hoist.RequestPending})
		return len(pending) == 1
	})
	if res, _ := f.srv.Service().Deny(ctx, adminActor, []string{pending[0].ID}, "not for games"); !res[0].OK {
		t.Fatalf("deny: %+v", res)
	}
	err := waiter.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() == 0 || !strings.Contains(errOut.String(), "denied") {
		t.Fatalf("hoist request --wait after a denial: %v, stderr %q", err, errOut.String())
	}
	if !strings.HasSuffix(strings.TrimSpace(out.String()), pending[0].ID) {
		t.Fatalf("the request id is not on the last line: %q", out.String())
	}
	if _, st, _ := f.sh("hoist status"); !strings.Contains(st, "was denied") {
		t.Fatalf("status after a denial does not say so: %q", st)
	}
}

// TestUserWithdrawsARequest: hoist request --cancel withdraws the waiting
// request; the server shows it cancelled and refuses to approve it, a
// waiting `hoist request --wait` ends, and the user may ask again.
func TestUserWithdrawsARequest(t *testing.T) {
	f := newFleet(t)
	if code, _, errOut := f.sh("hoist request --cancel"); code == 0 || !strings.Contains(errOut, "no request waiting") {
		t.Fatalf("cancel with nothing waiting: exit %d, %q", code, errOut)
	}
	waiter := f.command("hoist request --for 10m --reason 'changed my mind' --wait")
	var out bytes.Buffer
	waiter.Stdout, waiter.Stderr = &out, &out
	if err := waiter.Start(); err != nil {
		t.Fatal(err)
	}
	var id string
	testenv.WaitUntil(t, "the request", func() bool {
		id = f.agent.Status(f.user.Name).RequestID
		return id != ""
	})
	code, stdout, errOut := f.sh("hoist request --cancel")
	if code != 0 || !strings.Contains(stdout, id) {
		t.Fatalf("hoist request --cancel: exit %d, %q %q", code, stdout, errOut)
	}
	if r, _ := f.srv.Service().Request(ctx, adminActor, id); r.State != hoist.RequestCancelled {
		t.Fatalf("on the server: %+v", r)
	}
	if res, _ := f.srv.Service().Approve(ctx, adminActor, []string{id}, time.Hour, ""); res[0].OK {
		t.Fatal("a withdrawn request was approved")
	}
	if err := waiter.Wait(); err == nil || !strings.Contains(out.String(), "cancelled") {
		t.Fatalf("the waiting hoist request: %v, %q", err, out.String())
	}
	if _, status, _ := f.sh("hoist status"); !strings.Contains(status, "was cancelled") {
		t.Errorf("hoist status after withdrawing:\n%s", status)
	}
	if again := f.request("--for 10m"); again == id {
		t.Fatal("asking again returned the withdrawn request")
	}
	if f.auditActions()[hoist.AuditRequestCancelled] != 1 {
		t.Errorf("audit: %v", f.auditActions())
	}
}

// TestRevokeWhileOffline revokes a session while its agent is cut off: the
// revoke takes effect the moment the agent is back.
func TestRevokeWhileOffline(t *testing.T) {
	f := newFleet(t)
	id := f.request("--for 1h")
	if res, _ := f.srv.Service().Approve(ctx, adminActor, []string{id}, time.Hour, ""); !res[0].OK {
		t.Fatalf("approve: %+v", res)
	}
	testenv.WaitUntil(t, "the session", func() bool { return f.agent.Status(f.user.Name).State == "active" })
	f.stopLink()
	<-f.linkDone
	if res, _ := f.srv.Service().Revoke(ctx, adminActor, []string{id}, "while offline"); !res[0].OK {
		t.Fatalf("revoke: %+v", res)
	}
	if st := f.agent.Status(f.user.Name); st.State != "active" {
		t.Fatalf("an offline agent cannot know yet, but its session is %s", st.State)
	}
	f.startLink()
	testenv.WaitUntil(t, "the revoke to reach the returning agent", func() bool {
		st := f.agent.Status(f.user.Name)
		return st.State == "ended" && st.EndReason == "revoked"
	})
	if code, _, _ := f.sh("hoist run -- id -u"); code != 126 {
		t.Fatalf("run after the revoke: exit %d, want 126", code)
	}
}
