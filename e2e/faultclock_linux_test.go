package e2e_test

import (
	"sync"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/testenv"
)

// jumpClock is the clock a machine has: timers run on the monotonic clock
// (as Go's do), and the wall clock can be set by hours at a time. hoistd
// is a static Go binary, which reads time through the vDSO, so libfaketime
// cannot move its clock from outside: the agent's own clock is the honest
// place to jump it.
type jumpClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *jumpClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off).Round(0) // a wall reading, as a stored time is
}

func (c *jumpClock) AfterFunc(d time.Duration, f func()) agent.Timer { return time.AfterFunc(d, f) }

func (c *jumpClock) jump(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

// TestFaultAgentClockJumps sets the agent's wall clock forward and back by
// hours in the middle of a session: the session never outlives its window
// measured on the monotonic clock, and what the user sees meanwhile is
// recorded as a figure.
func TestFaultAgentClockJumps(t *testing.T) {
	for _, tc := range []struct {
		name    string
		jump    time.Duration
		restart bool // hoistd restarts after the jump
	}{
		{"forward 3h", 3 * time.Hour, false},
		{"back 3h", -3 * time.Hour, false},
		{"forward 3h then a restart", 3 * time.Hour, true},
		// A restarted hoistd takes the session's end from the boot clock
		// (CLOCK_BOOTTIME, stamped when the window was set) when the wall
		// clock went back since.
		{"back 3h then a restart", -3 * time.Hour, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &jumpClock{}
			dir := t.TempDir()
			f := newFleetOn(t, startServerAt(t, dir, "127.0.0.1:0"), func(c *agent.Config) { c.Clock = clock })
			const window = 5 * time.Second
			id := f.request("--for 1h")
			approved := time.Now()
			f.approve(id, window)
			testenv.WaitUntil(t, "the session", func() bool { return f.agent.Status(f.user.Name).State == "active" })
			prog := f.command("exec hoist run -- sleep 1000")
			if err := prog.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() { _ = prog.Wait(); close(done) }()
			testenv.WaitUntil(t, "the elevated program", func() bool {
				g, err := f.cgs.OpenGroup(f.agent.Status(f.user.Name).SessionID)
				if err != nil {
					return false
				}
				pids, _ := g.Pids()
				return len(pids) > 0
			})
			clock.jump(tc.jump)
			if tc.restart {
				f.restartAgent()
			}
			state := f.agent.Status(f.user.Name).State
			code, _, _ := f.sh("hoist run -- true")
			select {
			case <-done:
			case <-time.After(window + time.Minute):
				t.Fatalf("the elevated program outlived its %s window by a minute after the clock jumped %s", window, tc.jump)
			}
			lasted := time.Since(approved)
			figure(t, "clock."+tc.name, "right after the jump hoist status said %s and hoist run exited %d; the elevated program ended %s after the approval (window %s, monotonic)",
				state, code, lasted.Round(10*time.Millisecond), window)
		})
	}
}
