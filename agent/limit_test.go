package agent

import (
	"testing"
	"time"
)

func TestRefusalLimiter(t *testing.T) {
	l := newRefusalLimiter()
	t0 := time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC)
	recorded := 0
	for i := range 100 {
		if _, ok := l.allow(1000, t0.Add(time.Duration(i)*time.Millisecond)); ok {
			recorded++
		}
	}
	if recorded != 30 {
		t.Fatalf("%d of 100 refusals in a minute recorded, want 30", recorded)
	}
	// Another user has a budget of their own.
	if _, ok := l.allow(1001, t0); !ok {
		t.Fatal("another user's refusal was left out")
	}
	// The next window records again, and says how many were left out.
	suppressed, ok := l.allow(1000, t0.Add(time.Minute))
	if !ok || suppressed != 70 {
		t.Fatalf("next window: recorded %v, suppressed %d; want true, 70", ok, suppressed)
	}
}
