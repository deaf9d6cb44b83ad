package localapi_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/localapi"
)

func TestLimitsAgreeWithTheServer(t *testing.T) {
	if localapi.MaxReason != hoist.MaxReasonLength {
		t.Errorf("MaxReason = %d, the server takes %d: a reason hoistd takes must not be refused upstream", localapi.MaxReason, hoist.MaxReasonLength)
	}
}

// valid is a well-formed request of each op, for the cases to spoil.
func valid(op string) localapi.Request {
	r := localapi.Request{V: localapi.Version, Op: op}
	switch op {
	case localapi.OpRun, localapi.OpExplain:
		r.Argv = []string{"id", "-u"}
	case localapi.OpSignal:
		r.Signal = 2
	case localapi.OpResize:
		r.Rows, r.Cols = 24, 80
	case localapi.OpGrant:
		r.User, r.Duration = "alice", "1h"
	case localapi.OpExtend:
		r.Duration = "30m"
	case localapi.OpRespond:
		r.Code = "K7QF-2M9X-ZR4D"
	}
	return r
}

var ops = []string{localapi.OpStatus, localapi.OpRun, localapi.OpExit, localapi.OpRequest,
	localapi.OpSignal, localapi.OpGrant, localapi.OpExplain, localapi.OpCancel, localapi.OpExtend, localapi.OpResize,
	localapi.OpOffline, localapi.OpRespond}

type checkCase struct {
	name string
	req  localapi.Request
	ok   bool
}

func with(op string, change func(*localapi.Request)) localapi.Request {
	r := valid(op)
	change(&r)
	return r
}

func TestCheckEachOp(t *testing.T) {
	for _, op := range ops {
		if err := valid(op).Check(); err != nil {
			t.Errorf("a plain %s request is refused: %v", op, err)
		}
	}
	full := []checkCase{
		{"run with everything it takes", with(localapi.OpRun, func(r *localapi.Request) {
			r.Term, r.TTY, r.Reason = "xterm-256color", true, "ticket 42"
		}), true},
		{"status for the helper", with(localapi.OpStatus, func(r *localapi.Request) { r.Helper = true }), true},
		{"request with a duration and a reason", with(localapi.OpRequest, func(r *localapi.Request) { r.Duration, r.Reason = "45m", "deploy" }), true},
		{"explain with a reason", with(localapi.OpExplain, func(r *localapi.Request) { r.Reason = "why not" }), true},
		{"old version", with(localapi.OpStatus, func(r *localapi.Request) { r.V = 0 }), false},
		{"newer version", with(localapi.OpStatus, func(r *localapi.Request) { r.V = localapi.Version + 1 }), false},
		{"unknown op", with(localapi.OpStatus, func(r *localapi.Request) { r.Op = "reboot" }), false},
		{"no op", with(localapi.OpStatus, func(r *localapi.Request) { r.Op = "" }), false},
		{"run without a command", with(localapi.OpRun, func(r *localapi.Request) { r.Argv = nil }), false},
		{"run with an empty command", with(localapi.OpRun, func(r *localapi.Request) { r.Argv = []string{} }), false},
		{"run with an empty command name", with(localapi.OpRun, func(r *localapi.Request) { r.Argv = []string{"", "x"} }), false},
		{"explain without a command", with(localapi.OpExplain, func(r *localapi.Request) { r.Argv = nil }), false},
		{"signal without a signal", with(localapi.OpSignal, func(r *localapi.Request) { r.Signal = 0 }), false},
		{"grant without a user", with(localapi.OpGrant, func(r *localapi.Request) { r.User = "" }), false},
		{"grant without a duration", with(localapi.OpGrant, func(r *localapi.Request) { r.Duration = "" }), false},
		{"extend without a duration", with(localapi.OpExtend, func(r *localapi.Request) { r.Duration = "" }), false},
		{"extend with a duration too long to be one", with(localapi.OpExtend, func(r *localapi.Request) { r.Duration = strings.Repeat("9", localapi.MaxDuration+1) }), false},
		{"extend with a reason", with(localapi.OpExtend, func(r *localapi.Request) { r.Reason = "not done" }), true},
		{"polkit hook with its action", with(localapi.OpHook, func(r *localapi.Request) {
			r.Hook, r.User, r.Action = localapi.HookPolkit, "alice", "org.freedesktop.policykit.exec"
		}), true},
		{"sudo hook with a polkit action", with(localapi.OpHook, func(r *localapi.Request) {
			r.Hook, r.Action = localapi.HookOpen, "org.freedesktop.policykit.exec"
		}), false},
		{"polkit hook with an action too long", with(localapi.OpHook, func(r *localapi.Request) {
			r.Hook, r.User, r.Action = localapi.HookPolkit, "alice", strings.Repeat("a", localapi.MaxAction+1)
		}), false},
		{"status with a polkit action", with(localapi.OpStatus, func(r *localapi.Request) { r.Action = "x" }), false},
		{"offline with a duration and a reason", with(localapi.OpOffline, func(r *localapi.Request) { r.Duration, r.Reason = "1h", "no VPN" }), true},
		{"respond without a code", with(localapi.OpRespond, func(r *localapi.Request) { r.Code = "" }), false},
		{"respond with a code too long", with(localapi.OpRespond, func(r *localapi.Request) { r.Code = strings.Repeat("A", localapi.MaxCode+1) }), false},
		{"respond with a control character", with(localapi.OpRespond, func(r *localapi.Request) { r.Code = "K7QF\n2M9X" }), false},
	}
	runCheckCases(t, full)
}

// TestCheckFieldsThatDoNotBelong gives every op every field it does not
// take.
func TestCheckFieldsThatDoNotBelong(t *testing.T) {
	fields := []struct {
		name string
		set  func(*localapi.Request)
		ops  []string // the ops that take it
	}{
		{"argv", func(r *localapi.Request) { r.Argv = []string{"id"} }, []string{localapi.OpRun, localapi.OpExplain}},
		{"term", func(r *localapi.Request) { r.Term = "xterm" }, []string{localapi.OpRun}},
		{"tty", func(r *localapi.Request) { r.TTY = true }, []string{localapi.OpRun}},
		{"duration", func(r *localapi.Request) { r.Duration = "1h" }, []string{localapi.OpRequest, localapi.OpGrant, localapi.OpExtend, localapi.OpOffline}},
		{"reason", func(r *localapi.Request) { r.Reason = "x" }, []string{localapi.OpRun, localapi.OpRequest, localapi.OpExplain, localapi.OpExtend, localapi.OpOffline}},
		{"code", func(r *localapi.Request) { r.Code = "K7QF-2M9X-ZR4D" }, []string{localapi.OpRespond}},
		{"signal", func(r *localapi.Request) { r.Signal = 15 }, []string{localapi.OpSignal}},
		{"user", func(r *localapi.Request) { r.User = "bob" }, []string{localapi.OpGrant}},
		{"helper", func(r *localapi.Request) { r.Helper = true }, []string{localapi.OpStatus}},
		{"size", func(r *localapi.Request) { r.Rows, r.Cols = 24, 80 }, []string{localapi.OpResize}},
	}
	var cases []checkCase
	for _, f := range fields {
		for _, op := range ops {
			takes := false
			for _, o := range f.ops {
				takes = takes || o == op
			}
			cases = append(cases, checkCase{fmt.Sprintf("%s with %s", op, f.name), with(op, f.set), takes})
		}
	}
	runCheckCases(t, cases)
}

func TestCheckLimits(t *testing.T) {
	run := func(argv ...string) localapi.Request {
		return with(localapi.OpRun, func(r *localapi.Request) { r.Argv = argv })
	}
	args := func(n int) []string {
		a := make([]string, n)
		for i := range a {
			a[i] = "a"
		}
		return a
	}
	x := func(n int) string { return strings.Repeat("x", n) }
	half := localapi.MaxArgvBytes / 2
	cases := []checkCase{
		{"most arguments", run(args(localapi.MaxArgs)...), true},
		{"one argument too many", run(args(localapi.MaxArgs + 1)...), false},
		{"longest argument", run("echo", x(localapi.MaxArg)), true},
		{"argument a byte too long", run("echo", x(localapi.MaxArg+1)), false},
		{"longest command name", run(x(localapi.MaxArg)), true},
		{"command name a byte too long", run(x(localapi.MaxArg + 1)), false},
		{"longest command line", run(x(half), x(localapi.MaxArgvBytes-half)), true},
		{"command line a byte too long", run(x(half), x(localapi.MaxArgvBytes-half+1)), false},
		{"longest reason", with(localapi.OpRequest, func(r *localapi.Request) { r.Reason = x(localapi.MaxReason) }), true},
		{"reason a byte too long", with(localapi.OpRequest, func(r *localapi.Request) { r.Reason = x(localapi.MaxReason + 1) }), false},
		{"the 40 KB reason of the review", with(localapi.OpRun, func(r *localapi.Request) { r.Reason = x(40000) }), false},
		{"longest TERM", with(localapi.OpRun, func(r *localapi.Request) { r.Term = x(localapi.MaxTerm) }), true},
		{"TERM a byte too long", with(localapi.OpRun, func(r *localapi.Request) { r.Term = x(localapi.MaxTerm + 1) }), false},
		{"longest duration", with(localapi.OpRequest, func(r *localapi.Request) { r.Duration = x(localapi.MaxDuration) }), true},
		{"duration a byte too long", with(localapi.OpRequest, func(r *localapi.Request) { r.Duration = x(localapi.MaxDuration + 1) }), false},
		{"longest user name", with(localapi.OpGrant, func(r *localapi.Request) { r.User = x(localapi.MaxUser) }), true},
		{"user name a byte too long", with(localapi.OpGrant, func(r *localapi.Request) { r.User = x(localapi.MaxUser + 1) }), false},
		{"resize 1x1", with(localapi.OpResize, func(r *localapi.Request) { r.Rows, r.Cols = 1, 1 }), true},
		{"resize at the limit", with(localapi.OpResize, func(r *localapi.Request) { r.Rows, r.Cols = localapi.MaxWinSize, localapi.MaxWinSize }), true},
		{"resize past the limit", with(localapi.OpResize, func(r *localapi.Request) { r.Cols = localapi.MaxWinSize + 1 }), false},
		{"resize with no rows", with(localapi.OpResize, func(r *localapi.Request) { r.Rows = 0 }), false},
		{"resize negative", with(localapi.OpResize, func(r *localapi.Request) { r.Rows = -1 }), false},
		{"signal 1", with(localapi.OpSignal, func(r *localapi.Request) { r.Signal = 1 }), true},
		{"highest signal", with(localapi.OpSignal, func(r *localapi.Request) { r.Signal = localapi.MaxSignal }), true},
		{"signal past the highest", with(localapi.OpSignal, func(r *localapi.Request) { r.Signal = localapi.MaxSignal + 1 }), false},
		{"negative signal", with(localapi.OpSignal, func(r *localapi.Request) { r.Signal = -9 }), false},
	}
	runCheckCases(t, cases)
}

// TestCheckText puts every character that must not reach a person into
// every field shown to people, and the same into an argument, where only
// NUL and invalid UTF-8 are refused.
func TestCheckText(t *testing.T) {
	var bad []string
	for c := rune(0); c < 0x20; c++ {
		bad = append(bad, string(c))
	}
	bad = append(bad, "\x7f")
	for c := rune(0x80); c < 0xa0; c++ {
		bad = append(bad, string(c)) // C1 controls, CSI (U+009B) among them
	}
	bad = append(bad, "\u2028", "\u2029", "\u202e", "\u2066", "\u200b", "\ufeff", "\ufffd", "\xff", "\xc3", "\xed\xa0\x80")

	shown := []struct {
		name string
		set  func(*localapi.Request, string)
		op   string
	}{
		{"reason", func(r *localapi.Request, s string) { r.Reason = s }, localapi.OpRequest},
		{"duration", func(r *localapi.Request, s string) { r.Duration = s }, localapi.OpRequest},
		{"user", func(r *localapi.Request, s string) { r.User = s }, localapi.OpGrant},
		{"TERM", func(r *localapi.Request, s string) { r.Term = s }, localapi.OpRun},
	}
	var cases []checkCase
	for _, f := range shown {
		for _, b := range bad {
			cases = append(cases, checkCase{fmt.Sprintf("%s with %q", f.name, b),
				with(f.op, func(r *localapi.Request) { f.set(r, "a"+b+"b") }), false})
		}
		cases = append(cases, checkCase{f.name + " of plain text", with(f.op, func(r *localapi.Request) { f.set(r, "a-b.1") }), true})
	}
	cases = append(cases,
		checkCase{"reason in another script", with(localapi.OpRequest, func(r *localapi.Request) { r.Reason = "mise à jour — 更新" }), true},
		checkCase{"reason with spaces", with(localapi.OpRequest, func(r *localapi.Request) { r.Reason = "fix the printer, again" }), true},
		checkCase{"TERM with a space", with(localapi.OpRun, func(r *localapi.Request) { r.Term = "xterm 256" }), false},
		checkCase{"TERM starting with a dot", with(localapi.OpRun, func(r *localapi.Request) { r.Term = ".xterm" }), false},
		checkCase{"TERM with a slash", with(localapi.OpRun, func(r *localapi.Request) { r.Term = "../../x" }), false},
		checkCase{"TERM of every allowed character", with(localapi.OpRun, func(r *localapi.Request) { r.Term = "rxvt-unicode_256.color+x" }), true},
	)
	for _, b := range bad {
		ok := b != "\x00" && b != "\xff" && b != "\xc3" && b != "\xed\xa0\x80"
		cases = append(cases, checkCase{fmt.Sprintf("argument with %q", b),
			with(localapi.OpRun, func(r *localapi.Request) { r.Argv = []string{"printf", "a" + b + "b"} }), ok})
	}
	cases = append(cases, checkCase{"command name with NUL",
		with(localapi.OpRun, func(r *localapi.Request) { r.Argv = []string{"/bin/sh\x00x"} }), false})
	runCheckCases(t, cases)
}

func runCheckCases(t *testing.T, cases []checkCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.req.Check()
			switch {
			case tc.ok && err != nil:
				t.Fatalf("refused: %v", err)
			case !tc.ok && err == nil:
				t.Fatal("accepted")
			case err != nil && !errors.Is(err, localapi.ErrInvalid):
				t.Fatalf("the refusal %q does not wrap ErrInvalid", err)
			case err != nil && !safeMessage(err.Error()):
				t.Fatalf("the refusal %q is not safe to show", err)
			}
		})
	}
}

// safeMessage is what a user may be shown: short, printable, and never the
// input itself.
func safeMessage(s string) bool {
	return len(s) < 200 && localapi.Printable(s) && !strings.Contains(s, "xxxxxxxx")
}

// TestLargestRequestFitsAFrame: a request with every field at its limit,
// in text that needs no escaping, goes out in one frame, and comes back.
func TestLargestRequestFitsAFrame(t *testing.T) {
	argv := make([]string, localapi.MaxArgs)
	each := localapi.MaxArgvBytes / localapi.MaxArgs
	for i := range argv {
		argv[i] = strings.Repeat("a<>&", each/4)
	}
	req := localapi.Request{V: localapi.Version, Op: localapi.OpRun, Argv: argv,
		Reason: strings.Repeat("r", localapi.MaxReason), Term: strings.Repeat("t", localapi.MaxTerm), TTY: true}
	if err := req.Check(); err != nil {
		t.Fatal(err)
	}
	// Fields of other ops too, so the frame's worst case is covered.
	req.Duration, req.User, req.Signal, req.Helper = strings.Repeat("1", localapi.MaxDuration), strings.Repeat("u", localapi.MaxUser), localapi.MaxSignal, true
	var buf bytes.Buffer
	if err := localapi.WriteFrame(&buf, req); err != nil {
		t.Fatalf("the largest request does not fit a frame: %v", err)
	}
	var got localapi.Request
	if err := localapi.ReadFrame(&buf, nil, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Argv) != localapi.MaxArgs || got.Argv[7] != argv[7] || got.Reason != req.Reason {
		t.Fatal("the largest request did not come back as sent")
	}
}
