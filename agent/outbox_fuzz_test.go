package agent_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
)

// serverTakes applies the server's checks on an agent event (see
// control.AgentAudit): whatever the outbox delivers, the server must take.
func serverTakes(ev agent.Event) bool {
	return strings.HasPrefix(ev.ID, "evt_") && len(ev.ID) <= 64 && strings.Contains(ev.Action, ".") && len(ev.Action) <= 64 &&
		len(ev.Actor) <= 256 && len(ev.Subject) <= 256 && hoist.Printable(ev.ID+ev.Action+ev.Actor+ev.Subject)
}

// fuzzPath is an outbox path in memory when the machine has /dev/shm: every
// Ack syncs twice, and on a disk that makes the fuzzer crawl.
func fuzzPath(t *testing.T) string {
	dir, err := os.MkdirTemp("/dev/shm", "hoist-outbox-fuzz-")
	if err != nil {
		return outboxPath(t)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "outbox.jsonl")
}

// FuzzOutboxPending opens an outbox on arbitrary file content and delivers
// it to the end: delivery must always make progress, never panic, never
// return an acknowledged position again, hand over only events the server
// takes, and leave an empty file.
func FuzzOutboxPending(f *testing.F) {
	ev := func(action string) string {
		return `{"id":"` + hoist.NewID("evt_") + `","time":"2025-01-02T03:04:05Z","action":"` + action + `","actor":"alice"}` + "\n"
	}
	f.Add([]byte(ev("a.b")+ev("c.d")), []byte(""), uint8(10), uint16(1000), uint8(1))
	f.Add([]byte(`{"id":"evt_x","action":"x.y","detail":{"reason":"`+strings.Repeat("x", 40000)+`"}}`+"\n"+ev("a.b")), []byte("0"), uint8(100), uint16(32<<10), uint8(3))
	f.Add([]byte(ev("a.b")+`{"id":"evt_`), []byte("5"), uint8(1), uint16(1), uint8(0))
	f.Add([]byte(strings.Repeat("\x00", 5000)+"\n\n"+ev("a.b")+"\xff\xfe"), []byte("999999"), uint8(2), uint16(0), uint8(7))
	f.Add([]byte("\n\n\n{}\nnull\n[]\n"+ev("a.b")), []byte("3"), uint8(0), uint16(200), uint8(2))
	f.Fuzz(func(t *testing.T, data, acked []byte, maxEvents uint8, maxBytes uint16, step uint8) {
		path := fuzzPath(t)
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+".acked", acked, 0o600); err != nil {
			t.Fatal(err)
		}
		read, err := agent.ReadEvents(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range read {
			if ev.Action != agent.ActionEventUnreadable && !serverTakes(ev) {
				t.Fatalf("ReadEvents returned %+v, which the server refuses", ev)
			}
		}
		ob, err := agent.OpenOutbox(path)
		if err != nil {
			t.Fatal(err)
		}
		defer ob.Close()

		batch := max(int(maxEvents), 1)
		var done int64 = -1 // the last position acknowledged
		for i := 0; ; i++ {
			if i > len(data)+4 {
				t.Fatalf("delivery made no progress after %d batches of a %d-byte file", i, len(data))
			}
			if i == 2 && step%2 == 1 {
				// An event appended midway is delivered too.
				if err := ob.Append("test.midway", "alice", "", time.Now(), nil); err != nil {
					t.Fatal(err)
				}
			}
			events, ends, err := ob.Pending(batch, int(maxBytes))
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != len(ends) {
				t.Fatalf("Pending returned %d events and %d positions", len(events), len(ends))
			}
			if len(events) == 0 {
				break
			}
			last := done
			for j, ev := range events {
				if ends[j] <= last {
					t.Fatalf("Pending returned position %d after %d (acknowledged up to %d)", ends[j], last, done)
				}
				last = ends[j]
				if !serverTakes(ev) {
					t.Fatalf("Pending returned %+v, which the server refuses", ev)
				}
			}
			// Acknowledge some of the batch, at least its first event.
			k := int(step) % len(ends)
			if err := ob.Ack(ends[k]); err != nil {
				t.Fatal(err)
			}
			done = ends[k]
		}
		if err := ob.Close(); err != nil {
			t.Fatal(err)
		}
		info, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if info.Size() != 0 {
			t.Fatalf("after delivering everything the outbox holds %d bytes; want 0", info.Size())
		}
	})
}
