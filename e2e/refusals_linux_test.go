package e2e_test

import (
	"strings"
	"testing"

	"github.com/hoist-jit/hoist"
)

// TestHelperSaysWhyItIsRefused: the JIT helper, on a terminal and without
// one, shows hoistd's refusals as hoist request does (it said "internal
// error"), and exits 1.
func TestHelperSaysWhyItIsRefused(t *testing.T) {
	f := newFleet(t)
	const tooLong = "hoist: 9h is not a window this machine allows: a request must be between 1 second and 8 hours"

	tm := f.jitInTerminal("--for 9h --reason x")
	tm.waitFor(tooLong)
	if code := tm.exit(); code != 1 || strings.Contains(tm.output(), "internal error") {
		t.Fatalf("hoist jit --for 9h: exit %d; terminal:\n%s", code, tm.output())
	}
	code, out, errOut := f.sh("hoist jit --for 9h </dev/null")
	if code != 1 || strings.TrimSpace(out) != tooLong {
		t.Fatalf("hoist jit --for 9h </dev/null: exit %d, stdout %q, stderr %q; want 1 and %q", code, out, errOut, tooLong)
	}

	// A startup policy that does not list the user.
	p, err := f.srv.Service().Policy(ctx, adminActor, "JIT Mode (Startup and Approval)")
	if err != nil {
		t.Fatal(err)
	}
	p.Startup.Users = []string{"someone-else"}
	if _, err := f.srv.Service().UpdatePolicy(ctx, adminActor, p.ID, p); err != nil {
		t.Fatal(err)
	}
	f.settled()
	notListed := "hoist: " + f.user.Name + " may not request JIT elevated access on this machine"
	if code, _, errOut := f.sh("hoist request --for 10m"); code == 0 || strings.TrimSpace(errOut) != notListed {
		t.Fatalf("hoist request: exit %d, stderr %q; want %q", code, errOut, notListed)
	}
	tm = f.jitInTerminal("--for 10m --reason x")
	tm.waitFor(notListed)
	if code := tm.exit(); code != 1 || strings.Contains(tm.output(), "internal error") {
		t.Fatalf("hoist jit as a user not listed: exit %d; terminal:\n%s", code, tm.output())
	}
}

// TestSecondRequestSaysSoOnce: asking again while a request waits is one
// message on stdout, nothing on stderr, and the same id.
func TestSecondRequestSaysSoOnce(t *testing.T) {
	f := newFleet(t)
	id := f.request("--for 10m --reason first")
	code, out, errOut := f.sh("hoist request --for 10m --reason again")
	want := "Your request is already waiting for an approver; no second request was made (hoist status shows it).\n" + id + "\n"
	if code != 0 || out != want || errOut != "" {
		t.Fatalf("second request: exit %d, stdout %q, stderr %q; want stdout %q and no stderr", code, out, errOut, want)
	}
	reqs, err := f.srv.Service().Requests(ctx, adminActor, hoist.RequestFilter{State: hoist.RequestPending})
	if err != nil || len(reqs) != 1 {
		t.Fatalf("pending requests: %d, %v; want 1", len(reqs), err)
	}
}
