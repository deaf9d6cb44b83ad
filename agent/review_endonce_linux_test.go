package agent_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/testenv"
)

// TestReviewEndEventSurvivesARestart: a session's end is saved on disk
// before its session.ended event is queued. When the event cannot be
// queued (the outbox is full, reserve and all) and hoistd then stops — or
// hoistd is killed between the two writes — the next hoistd finds the
// session ended and never queues its end: the audit has a session that
// started and never ended. The event is keyed by the session
// (agent.OnceID), so queueing it again after a restart is harmless.
func TestReviewEndEventSurvivesARestart(t *testing.T) {
	r := newRig(t)
	sid := r.grant(time.Hour)
	ob := r.agent.Outbox()
	// Full to the last byte: events ever smaller, down to an empty one.
	for size := agent.MaxEventBytes - 512; size >= 0; size /= 2 {
		pad := map[string]any{"pad": strings.Repeat("x", size)}
		for i := 0; ; i++ {
			err := ob.AppendCritical("test.filler", "test", "filler", time.Now(), pad)
			if errors.Is(err, agent.ErrOutboxFull) {
				break
			}
			if err != nil || i > 1<<16 {
				t.Fatalf("filling the outbox: %v after %d events", err, i)
			}
		}
		if size == 0 {
			break
		}
	}
	if got := r.sh("", "hoist exit"); got.code != 0 {
		t.Fatalf("hoist exit: %d %q %q", got.code, got.stdout, got.stderr)
	}
	if n := len(r.events("session.ended")); n != 0 {
		t.Logf("session.ended queued on a full outbox: %d", n)
	}
	r.stop() // hoistd stops (or is killed) before the outbox has room again
	r.start()
	ob = r.agent.Outbox()
	testenv.WaitUntil(t, "the session's end in the audit once the outbox has room", func() bool {
		for {
			evs, ends, err := ob.Pending(500, 1<<30)
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) == 0 {
				// hoistd tries again every couple of seconds on its clock.
				r.clock.Add(5 * time.Second)
				return false
			}
			for _, ev := range evs {
				if ev.Action == "session.ended" && ev.Subject == sid {
					return true
				}
			}
			if err := ob.Ack(ends[len(ends)-1]); err != nil { // delivered
				t.Fatal(err)
			}
		}
	})
}
