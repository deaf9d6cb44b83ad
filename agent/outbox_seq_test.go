package agent_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/agent"
)

// seqs returns the sequence numbers of evs, in order.
func seqs(evs []agent.Event) []int64 {
	var out []int64
	for _, ev := range evs {
		out = append(out, ev.Seq)
	}
	return out
}

// wantRun fails unless got is from, from+1, … without a gap.
func wantRun(t *testing.T, what string, got []int64, from int64, n int) {
	t.Helper()
	if len(got) != n {
		t.Fatalf("%s: %d events %v, want %d", what, len(got), got, n)
	}
	for i, s := range got {
		if s != from+int64(i) {
			t.Fatalf("%s: sequence numbers %v; want %d to %d without a gap", what, got, from, from+int64(n)-1)
		}
	}
}

// Every event the outbox writes is numbered, in file order, and the
// numbers go on after a restart whether the file was emptied, rewritten
// or left as it was.
func TestOutboxNumbersEventsAcrossRestarts(t *testing.T) {
	for _, opt := range []agent.OutboxOptions{{}, {CompactBytes: 1}} {
		t.Run(map[bool]string{true: "compacted", false: "emptied"}[opt.CompactBytes == 1], func(t *testing.T) {
			path := outboxPath(t)
			ob := openOutbox(t, path, opt)
			appendN(t, ob, path, 5)
			evs, _ := pending(t, ob)
			wantRun(t, "first events", seqs(evs), 1, 5)

			ob = reopen(t, ob, path, opt) // left as it was
			appendN(t, ob, path, 2)
			wantRun(t, "after a restart", seqs(drain(t, ob, linkBatch)), 1, 7)

			ob = reopen(t, ob, path, opt) // the file was emptied by the drain
			if fi, err := os.Stat(path); err != nil || fi.Size() != 0 {
				t.Fatalf("a drained outbox: %v, %d bytes", err, fi.Size())
			}
			appendN(t, ob, path, 3)
			_, ends := pending(t, ob)
			if err := ob.Ack(ends[0]); err != nil { // with CompactBytes 1, a rewrite
				t.Fatal(err)
			}
			ob = reopen(t, ob, path, opt)
			appendN(t, ob, path, 1)
			wantRun(t, "after emptying, a rewrite and restarts", seqs(drain(t, ob, linkBatch)), 9, 3)
		})
	}
}

// The outbox's own events are numbered with the others; a marker for an
// unreadable line has no number, and the number of the line it stands for
// is missing: the server sees that gap.
func TestOutboxNumbersItsOwnEventsNotMarkers(t *testing.T) {
	path := outboxPath(t)
	ob := openOutbox(t, path, agent.OutboxOptions{MaxBytes: 4096, Reserve: 4096})
	for i := 0; ; i++ {
		err := ob.Append("test.event", "alice", "", time.Now(), map[string]any{"pad": strings.Repeat("x", 200)})
		if err == agent.ErrOutboxFull {
			break
		}
		if err != nil || i > 100 {
			t.Fatalf("append %d: %v", i, err)
		}
	}
	evs := drain(t, ob, linkBatch)
	if last := evs[len(evs)-1]; last.Action != agent.ActionOutboxFull && last.Action != agent.ActionOutboxRecovered {
		t.Fatalf("last events %v", evs[len(evs)-2:])
	}
	got := seqs(evs)
	wantRun(t, "events and the outbox's own", got, 1, len(got))
}

func TestOutboxNumberOfADamagedLineIsMissing(t *testing.T) {
	path := outboxPath(t)
	ob := openOutbox(t, path, agent.OutboxOptions{})
	appendN(t, ob, path, 3)
	ob.Close()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	lines[1] = "garbage\n"
	if err := os.WriteFile(path, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	ob = openOutbox(t, path, agent.OutboxOptions{})
	evs, _ := pending(t, ob)
	if got := seqs(evs); len(got) != 3 || got[0] != 1 || got[1] != 0 || got[2] != 3 || evs[1].Action != agent.ActionEventUnreadable {
		t.Fatalf("sequence numbers %v of %v; want 1, a marker without one, 3", got, evs)
	}
}
