package agent

import (
	"testing"
	"time"
)

func TestWindowLimiter(t *testing.T) {
	l := newWindowLimiter()
	t0 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	recorded := 0
	for i := range 100 {
		if _, ok := l.allow(1000, refusedRuns, t0.Add(time.Duration(i)*time.Millisecond)); ok {
			recorded++
		}
	}
	if recorded != refusedRuns.count {
		t.Fatalf("%d of 100 refusals in a minute recorded, want %d", recorded, refusedRuns.count)
	}
	// Another user, and another kind, have budgets of their own.
	if _, ok := l.allow(1001, refusedRuns, t0); !ok {
		t.Fatal("another user's refusal was left out")
	}
	if _, ok := l.allow(1000, asks, t0); !ok {
		t.Fatal("the same user's request was counted against refusals")
	}
	// The next window records again, and says how many were left out.
	suppressed, ok := l.allow(1000, refusedRuns, t0.Add(time.Minute))
	if !ok || suppressed != 100-refusedRuns.count {
		t.Fatalf("next window: recorded %v, suppressed %d; want true, %d", ok, suppressed, 100-refusedRuns.count)
	}
	// A clock set back opens a new window rather than locking the user out.
	if _, ok := l.allow(1000, refusedRuns, t0.Add(-time.Hour)); !ok {
		t.Fatal("a clock set back kept the window closed")
	}
}

func TestWindowLimiterForgetsIdleUsers(t *testing.T) {
	l := newWindowLimiter()
	t0 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	for uid := range 5000 {
		l.allow(uid, asks, t0)
	}
	l.allow(99999, asks, t0.Add(time.Hour))
	if n := len(l.windows); n > 1024 {
		t.Fatalf("%d windows kept an hour later, want the idle ones gone", n)
	}
}
