package jit_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/jit"
	"github.com/hoist-jit/hoist/localapi"
)

// countdown is hoistd with one session whose time left drops by step at
// each look: the helper's clock is the test's, so two hours pass in a
// hundred and twenty polls.
type countdown struct {
	mu    sync.Mutex
	left  time.Duration
	step  time.Duration
	every string
}

func (c *countdown) Status() (localapi.Status, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	info := &localapi.HelperInfo{JIT: true, Reminders: []string{"15m", "5m", "1m"}, ReminderEvery: c.every, DefaultDuration: "30m"}
	if c.left <= 0 {
		return localapi.Status{State: "ended", SessionID: "ses_a", EndReason: "expired", Helper: info}, nil
	}
	exp := time.Now().Add(c.left).Format(time.RFC3339)
	st := localapi.Status{State: "active", SessionID: "ses_a", ExpiresAt: &exp, RemainingSeconds: int64(c.left / time.Second), Helper: info}
	c.left -= c.step
	return st, nil
}

func (c *countdown) Request(time.Duration, string) error { return nil }
func (c *countdown) Exit() error                         { return nil }
func (c *countdown) Extend(time.Duration, string) (localapi.Status, error) {
	return localapi.Status{}, nil
}

// TestPeriodicRemindersReplaceEachOther: with reminders every 30m and the
// final marks 15m, 5m, 1m, a 2-hour session says how long is left every
// half hour, in the terminal and on the desktop, each notification in place
// of the one before; the last, critical, stays until the session ends.
func TestPeriodicRemindersReplaceEachOther(t *testing.T) {
	addr := privateBus(t)
	notes := startNotifications(t, addr)
	d := jit.OpenDesktop(nil, nil)
	defer d.Close()
	daemon := &countdown{left: 2 * time.Hour, step: time.Minute, every: "30m"}
	var out strings.Builder
	h := &jit.Helper{Daemon: daemon, Desktop: d, In: strings.NewReader(""), Out: &out, Poll: time.Millisecond}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if code := h.Run(ctx); code != jit.ExitEnded {
		t.Fatalf("the helper exited %d, want %d; it said:\n%s", code, jit.ExitEnded, out.String())
	}

	notes.mu.Lock()
	all := append([]shown(nil), notes.shown...)
	notes.mu.Unlock()
	var summaries []string
	for _, s := range all {
		summaries = append(summaries, s.summary)
	}
	want := []string{
		"JIT elevated access has started",
		"JIT elevated access ends in 1h30m",
		"JIT elevated access ends in 1h",
		"JIT elevated access ends in 30 minutes",
		"JIT elevated access ends in 15 minutes",
		"JIT elevated access ends in 5 minutes",
		"JIT elevated access ends in 1 minute",
		"JIT elevated access has ended (expired)",
	}
	if strings.Join(summaries, "|") != strings.Join(want, "|") {
		t.Fatalf("notifications:\n got %q\nwant %q", summaries, want)
	}
	for i := 1; i < len(all)-1; i++ { // every reminder replaces the notification before it
		if all[i].replaces == 0 || all[i].replaces != all[i-1].id {
			t.Errorf("%q (replaces %d) does not replace %q (id %d)", all[i].summary, all[i].replaces, all[i-1].summary, all[i-1].id)
		}
		if urgent := all[i].urgency == 2; urgent != (i == len(all)-2) {
			t.Errorf("%q: urgency %d; only the last reminder is critical", all[i].summary, all[i].urgency)
		}
	}
	for _, line := range want[1 : len(want)-1] {
		if !strings.Contains(out.String(), line+". ") {
			t.Errorf("the terminal never said %q:\n%s", line, out.String())
		}
	}
}
