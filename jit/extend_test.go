package jit_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/hoist-jit/hoist/jit"
	"github.com/hoist-jit/hoist/localapi"
	"github.com/hoist-jit/hoist/testenv"
)

// extendable is hoistd with one active session of the user's that may be
// extended: Extend files a request, which the test then decides.
type extendable struct {
	mu      sync.Mutex
	left    time.Duration
	asked   []string // "DURATION|REASON" of each extension filed
	state   string   // the extension's: "", pending, approved, denied
	ended   bool
	reasons bool // the policy requires a reason
}

func (e *extendable) Status() (localapi.Status, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	info := &localapi.HelperInfo{JIT: true, Reminders: []string{"1m"}, DefaultDuration: "30m", ReasonRequired: e.reasons}
	if e.ended {
		return localapi.Status{State: "ended", SessionID: "ses_a", EndReason: "exited", Helper: info}, nil
	}
	exp := time.Now().Add(e.left).Format(time.RFC3339)
	st := localapi.Status{State: "active", SessionID: "ses_a", RequestID: "req_a", ExpiresAt: &exp, RemainingSeconds: int64(e.left / time.Second), Helper: info}
	if e.state != "" {
		st.RequestID, st.RequestState = "req_ext", e.state
		if e.state == "denied" {
			st.DecisionReason = "not today"
		}
	}
	return st, nil
}

func (e *extendable) Request(time.Duration, string) error { return nil }

func (e *extendable) Exit() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ended = true
	return nil
}

func (e *extendable) Extend(d time.Duration, reason string) (localapi.Status, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.asked = append(e.asked, fmt.Sprintf("%s|%s", d, reason))
	e.state = "pending"
	return localapi.Status{State: "active", SessionID: "ses_a", RequestID: "req_ext"}, nil
}

// decide decides the extension: approved moves the end by d.
func (e *extendable) decide(state string, d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.state = state
	e.left += d
}

func (e *extendable) filed() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.asked...)
}

// screen is what the user's terminal shows: everything the helper wrote.
type screen struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (s *screen) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// inTerminal runs the helper on a pseudo-terminal, as "hoist jit" in a
// terminal emulator; type is the user's keyboard.
func inTerminal(t *testing.T, d jit.Daemon) (typeKeys func(string), shown *screen, done <-chan int) {
	t.Helper()
	ptm, tty, err := pty.Open()
	testenv.Require(t, err == nil, "needs a pseudo-terminal (/dev/ptmx)")
	t.Cleanup(func() { ptm.Close(); tty.Close() })
	shown = &screen{}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := ptm.Read(buf)
			if err != nil {
				return
			}
			_, _ = shown.Write(buf[:n])
		}
	}()
	h := &jit.Helper{Daemon: d, In: tty, Out: tty, Poll: 10 * time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	codes := make(chan int, 1)
	go func() { codes <- h.Run(ctx) }()
	return func(s string) {
		if _, err := ptm.WriteString(s); err != nil {
			t.Fatal(err)
		}
	}, shown, codes
}

// TestAskForMoreTimeInTheTerminal: + asks how much more time (the
// policy's one-time window by default) and why, files the extension
// through hoistd, says it was filed and, once approved, that the end moved;
// Esc leaves the question and a duration that is none is asked again.
func TestAskForMoreTimeInTheTerminal(t *testing.T) {
	d := &extendable{left: 10 * time.Minute}
	typeKeys, shown, done := inTerminal(t, d)
	see := func(what string) {
		t.Helper()
		testenv.WaitUntil(t, "the terminal to show "+what, func() bool { return strings.Contains(shown.String(), what) })
	}
	see(" left  ·  q or Ctrl-C: end it now  ·  +: ask for more time")

	// Esc: nothing asked.
	typeKeys("+")
	see("How much more time? [30m]")
	typeKeys("\x1b")
	// A duration that is none, then 45m and a reason.
	typeKeys("+")
	typeKeys("forever\r")
	see("is not a duration")
	typeKeys("45m\r")
	see("Why do you need more time? (optional; shown to the approver)")
	typeKeys("the migration runs long\r")
	see("45 minutes more time requested")
	see("Request req_ext is waiting for an approver")
	if got := d.filed(); len(got) != 1 || got[0] != "45m0s|the migration runs long" {
		t.Fatalf("extensions filed: %q, want one of 45m for the reason typed", got)
	}

	// Approved: the end moved by 45m.
	d.decide("approved", 45*time.Minute)
	see("More time approved. JIT elevated access now ends at ")
	see("(55 minutes from now)")

	// + with Enter twice: the default, no reason; then denied.
	typeKeys("+\r\r")
	testenv.WaitUntil(t, "a second extension", func() bool { return len(d.filed()) == 2 })
	if got := d.filed()[1]; got != "30m0s|" {
		t.Fatalf("the second extension: %q, want the one-time window, no reason", got)
	}
	d.decide("denied", 0)
	see("Your request for more time was denied. Reason: not today. JIT elevated access ends as before.")

	typeKeys("q")
	see("End JIT elevated access now?")
	typeKeys("y")
	select {
	case code := <-done:
		if code != jit.ExitEnded {
			t.Fatalf("exit %d, want %d", code, jit.ExitEnded)
		}
	case <-time.After(time.Minute):
		t.Fatal("the helper did not end with the session")
	}
}

// TestAskForMoreTimeFromTheTray: the tray's Ask for more time files the
// policy's one-time window where no dialog program can ask, and the
// helper says on the desktop when it was filed and when it was approved.
func TestAskForMoreTimeFromTheTray(t *testing.T) {
	addr := privateBus(t)
	notes := startNotifications(t, addr)
	w, conn := startWatcher(t, addr)
	desk := jit.OpenDesktop(nil, nil)
	defer desk.Close()
	d := &extendable{left: 20 * time.Minute}
	h := &jit.Helper{Daemon: d, Desktop: desk, In: strings.NewReader(""), Out: &screen{}, Quiet: true, Poll: 10 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	codes := make(chan int, 1)
	go func() { codes <- h.Run(ctx) }()
	defer func() { cancel(); <-codes }()

	testenv.WaitUntil(t, "the tray item", func() bool { return w.count() == 1 })
	item := w.items[0]
	more := menuLabels(t, conn, item)["Ask for more time"]
	if more == 0 {
		t.Fatalf("no Ask for more time in the menu: %v", menuLabels(t, conn, item))
	}
	click(t, conn, item, more)
	testenv.WaitUntil(t, "the extension filed", func() bool { return len(d.filed()) == 1 })
	if got := d.filed()[0]; got != "30m0s|" {
		t.Fatalf("the tray filed %q, want the one-time window", got)
	}
	testenv.WaitUntil(t, "the desktop to say it was filed", func() bool { return notes.last().summary == "30 minutes more time requested" })
	d.decide("approved", 30*time.Minute)
	testenv.WaitUntil(t, "the desktop to say it was approved", func() bool { return notes.last().summary == "More time approved" })
}
