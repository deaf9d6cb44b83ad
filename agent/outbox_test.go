package agent_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/testenv"
)

// linkBatch is what the link asks for at once (link/run.go).
const linkBatch = 32 << 10

func openOutbox(t *testing.T, path string, opt agent.OutboxOptions) *agent.Outbox {
	t.Helper()
	ob, err := agent.OpenOutboxWith(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ob.Close() })
	return ob
}

func outboxPath(t *testing.T) string { return filepath.Join(t.TempDir(), "outbox.jsonl") }

// drain delivers everything queued the way the link does: Pending in
// batches of at most batch bytes, each acknowledged after use. It fails the
// test when delivery stops making progress.
func drain(t *testing.T, ob *agent.Outbox, batch int) []agent.Event {
	t.Helper()
	var out []agent.Event
	for range 10000 {
		events, ends, err := ob.Pending(500, batch)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) == 0 {
			return out
		}
		out = append(out, events...)
		if err := ob.Ack(ends[len(ends)-1]); err != nil {
			t.Fatal(err)
		}
	}
	t.Fatalf("delivery made no progress after 10000 batches; %d events so far", len(out))
	return nil
}

// pending returns what Pending has now, without acknowledging it.
func pending(t *testing.T, ob *agent.Outbox) ([]agent.Event, []int64) {
	t.Helper()
	events, ends, err := ob.Pending(10000, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	return events, ends
}

// num reads a number from an event's detail, as the outbox made it or as
// JSON decoded it.
func num(v any) int {
	switch v := v.(type) {
	case int:
		return v
	case int64:
		return int(v)
	case float64:
		return int(v)
	}
	return -1
}

func actions(evs []agent.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Action)
	}
	return out
}

func ids(evs []agent.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.ID)
	}
	return out
}

// eventLine is one event as hoistd writes it, newline included.
func eventLine(t *testing.T, action string, detail map[string]any) []byte {
	t.Helper()
	line, err := json.Marshal(agent.Event{ID: hoist.NewID("evt_"), Time: time.Now().UTC(), Action: action, Actor: "alice", Detail: detail})
	if err != nil {
		t.Fatal(err)
	}
	return append(line, '\n')
}

func writeFile(t *testing.T, path string, parts ...[]byte) {
	t.Helper()
	if err := os.WriteFile(path, bytes.Join(parts, nil), 0o600); err != nil {
		t.Fatal(err)
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Size()
}

// The attack of issue 13: a refused run with a 40 KB reason, then a normal
// event. The link asks for batches of 32 KiB; both must reach it, the
// refusal clipped to fit.
func TestOutboxHugeReasonDoesNotStopDelivery(t *testing.T) {
	ob := openOutbox(t, outboxPath(t), agent.OutboxOptions{})
	now := time.Now()
	if err := ob.Append("command.refused", "mallory", "", now, map[string]any{"reason": strings.Repeat("x", 40000), "argv": []string{"/bin/true"}}); err != nil {
		t.Fatal(err)
	}
	if err := ob.Append("command.audited", "alice", "", now, map[string]any{"argv": []string{"/usr/bin/true"}}); err != nil {
		t.Fatal(err)
	}
	got := drain(t, ob, linkBatch)
	if len(got) != 2 || got[0].Action != "command.refused" || got[1].Action != "command.audited" {
		t.Fatalf("delivered %q; want the refusal, then the audited command", actions(got))
	}
	d := got[0].Detail
	if reason, _ := d["reason"].(string); len(reason) > 1024 || !strings.HasPrefix(reason, "xxxx") {
		t.Errorf("clipped reason is %d bytes; want its first KiB at most", len(reason))
	}
	if n, _ := d["clipped_from_bytes"].(float64); n < 40000 {
		t.Errorf("clipped_from_bytes = %v; want the original size, over 40000", d["clipped_from_bytes"])
	}
	if argv, _ := d["argv"].([]any); len(argv) != 1 || argv[0] != "/bin/true" {
		t.Errorf("argv = %v; want it kept", d["argv"])
	}
}

// The same attack as an older hoistd left it on disk: a 40 KB line. It is
// delivered as a marker saying where it was and how it began, and the next
// event follows.
func TestOutboxOversizedLineOnDiskBecomesAMarker(t *testing.T) {
	path := outboxPath(t)
	huge := eventLine(t, "command.refused", map[string]any{"reason": strings.Repeat("x", 40000)})
	normal := eventLine(t, "command.audited", nil)
	writeFile(t, path, huge, normal)
	ob := openOutbox(t, path, agent.OutboxOptions{})

	got := drain(t, ob, linkBatch)
	if len(got) != 2 || got[0].Action != agent.ActionEventUnreadable || got[1].Action != "command.audited" {
		t.Fatalf("delivered %q; want a marker, then the audited command", actions(got))
	}
	d := got[0].Detail
	if num(d["offset"]) != 0 || num(d["bytes"]) != len(huge) || num(d["lines"]) != 1 {
		t.Errorf("marker says offset %v, %v bytes, %v lines; want 0, %d, 1", d["offset"], d["bytes"], d["lines"], len(huge))
	}
	prefix, _ := d["prefix"].(string)
	if !strings.Contains(prefix, `\"id\":\"evt_`) || len(prefix) > 700 {
		t.Errorf("marker prefix %q (%d bytes); want the quoted start of the line, bounded", prefix, len(prefix))
	}
	if got[0].Actor != "hoistd" || !strings.HasPrefix(got[0].ID, "evt_") {
		t.Errorf("marker is %+v; want an event of hoistd with an event ID", got[0])
	}
	if size := fileSize(t, path); size != 0 {
		t.Errorf("outbox holds %d bytes after everything was delivered; want 0", size)
	}
}

func TestOutboxUnreadableLinesBecomeOneMarkerEach(t *testing.T) {
	longActor, _ := json.Marshal(agent.Event{ID: hoist.NewID("evt_"), Action: "command.audited", Actor: strings.Repeat("a", 300)})
	tests := []struct {
		name  string
		bad   string
		lines int
	}{
		{"truncated JSON", `{"id":"evt_1","time":` + "\n", 1},
		{"a NUL block", strings.Repeat("\x00", 8192) + "\n", 1},
		{"NULs with newlines", strings.Repeat("\x00\x00\x00\n", 100), 100},
		{"blank lines", "\n\n\n", 3},
		{"JSON that is not an event", `{"hello":"world"}` + "\n" + `null` + "\n" + `[1,2]` + "\n", 3},
		{"an event without an ID", `{"action":"command.audited","actor":"alice"}` + "\n", 1},
		{"an event whose ID the server refuses", `{"id":"x","action":"command.audited","actor":"alice"}` + "\n", 1},
		{"an event with an actor the server refuses", string(longActor) + "\n", 1},
		{"a bad time", `{"id":"evt_abc","time":"yesterday","action":"command.audited"}` + "\n", 1},
		{"binary", "\xff\xfe\x01\n\x1b[31m\x7f\n", 2},
		{"a line longer than the reader's buffer", strings.Repeat("z", 200<<10) + "\n", 1},
		{"long lines and short ones", strings.Repeat("z", 70<<10) + "\n{}\n" + strings.Repeat("\x00", 100<<10) + "\n", 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := outboxPath(t)
			first, last := eventLine(t, "test.first", nil), eventLine(t, "test.last", nil)
			writeFile(t, path, first, []byte(tc.bad), last)
			ob := openOutbox(t, path, agent.OutboxOptions{})
			got := drain(t, ob, linkBatch)
			if want := []string{"test.first", agent.ActionEventUnreadable, "test.last"}; !slices.Equal(actions(got), want) {
				t.Fatalf("delivered %q; want %q", actions(got), want)
			}
			d := got[1].Detail
			if num(d["offset"]) != len(first) || num(d["bytes"]) != len(tc.bad) || num(d["lines"]) != tc.lines {
				t.Errorf("marker says offset %v, %v bytes, %v lines; want %d, %d, %d", d["offset"], d["bytes"], d["lines"], len(first), len(tc.bad), tc.lines)
			}
			if p, _ := d["prefix"].(string); !hoist.Printable(p) || len(p) > 700 {
				t.Errorf("marker prefix %q; want it escaped and bounded", p)
			}
		})
	}
}

// A vast unreadable stretch is cut into markers of a few MiB, so that one
// Pending call stays short, and delivery still reaches the end.
func TestOutboxVastGarbageIsDeliveredInMarkers(t *testing.T) {
	path := outboxPath(t)
	garbage := bytes.Repeat([]byte(strings.Repeat("g", 1000)+"\n"), 10<<10) // 10 MiB
	writeFile(t, path, garbage, eventLine(t, "test.last", nil))
	ob := openOutbox(t, path, agent.OutboxOptions{})
	got := drain(t, ob, linkBatch)
	if len(got) < 3 || len(got) > 4 || got[len(got)-1].Action != "test.last" {
		t.Fatalf("delivered %q; want 3 markers or so, then the event", actions(got))
	}
	covered := 0
	for _, ev := range got[:len(got)-1] {
		covered += num(ev.Detail["bytes"])
	}
	if covered != len(garbage) {
		t.Errorf("markers cover %d bytes; want all %d", covered, len(garbage))
	}
}

// A marker sent again (the server was unreachable) keeps its ID, so the
// server records it once.
func TestOutboxMarkerKeepsItsIDUntilAcknowledged(t *testing.T) {
	path := outboxPath(t)
	writeFile(t, path, []byte("garbage\n"), eventLine(t, "test.last", nil))
	ob := openOutbox(t, path, agent.OutboxOptions{})
	a, _ := pending(t, ob)
	b, _ := pending(t, ob)
	if len(a) != 2 || len(b) != 2 || a[0].ID != b[0].ID {
		t.Fatalf("two looks at the same queue gave %q and %q; want the same marker ID twice", ids(a), ids(b))
	}
}

func TestOutboxTornLastLine(t *testing.T) {
	t.Run("a torn event is one marker, and the next event is whole", func(t *testing.T) {
		path := outboxPath(t)
		first := eventLine(t, "test.first", nil)
		torn := eventLine(t, "test.torn", nil)
		torn = torn[:len(torn)/2]
		writeFile(t, path, first, torn)
		if evs, err := agent.ReadEvents(path); err != nil || !slices.Equal(actions(evs), []string{"test.first"}) {
			t.Errorf("ReadEvents of a torn file = %q, %v; want only the whole event", actions(evs), err)
		}
		ob := openOutbox(t, path, agent.OutboxOptions{})
		if err := ob.Append("test.after", "alice", "", time.Now(), nil); err != nil {
			t.Fatal(err)
		}
		got := drain(t, ob, linkBatch)
		if want := []string{"test.first", agent.ActionEventUnreadable, "test.after"}; !slices.Equal(actions(got), want) {
			t.Fatalf("delivered %q; want %q", actions(got), want)
		}
		if d := got[1].Detail; num(d["bytes"]) != len(torn)+1 {
			t.Errorf("marker covers %v bytes; want the torn line and its added newline, %d", d["bytes"], len(torn)+1)
		}
	})
	t.Run("an event missing only its newline is delivered", func(t *testing.T) {
		path := outboxPath(t)
		first, second := eventLine(t, "test.first", nil), eventLine(t, "test.second", nil)
		writeFile(t, path, first, second[:len(second)-1])
		ob := openOutbox(t, path, agent.OutboxOptions{})
		if got := drain(t, ob, linkBatch); !slices.Equal(actions(got), []string{"test.first", "test.second"}) {
			t.Fatalf("delivered %q; want both events", actions(got))
		}
	})
}

func TestOutboxAppendClipsToFit(t *testing.T) {
	tests := []struct {
		name    string
		actor   string
		subject string
		detail  map[string]any
		check   func(t *testing.T, ev agent.Event)
	}{
		{
			name:   "many long strings keep the start of the detail",
			actor:  "alice",
			detail: map[string]any{"argv": slices.Repeat([]string{strings.Repeat("y", 1000)}, 100)},
			check: func(t *testing.T, ev agent.Event) {
				if p, _ := ev.Detail["detail_prefix"].(string); !strings.HasPrefix(p, `{"argv":["yyy`) {
					t.Errorf("detail = %.200v; want a detail_prefix with its start", ev.Detail)
				}
				if n, _ := ev.Detail["clipped_from_bytes"].(float64); n < 100000 {
					t.Errorf("clipped_from_bytes = %v; want the original size", ev.Detail["clipped_from_bytes"])
				}
			},
		},
		{
			name:   "a detail that cannot be encoded is replaced by the error",
			actor:  "alice",
			detail: map[string]any{"ratio": math.NaN()},
			check: func(t *testing.T, ev agent.Event) {
				if _, ok := ev.Detail["detail_error"].(string); !ok {
					t.Errorf("detail = %v; want detail_error", ev.Detail)
				}
			},
		},
		{
			name:    "an actor and subject the server refuses are quoted and clipped",
			actor:   strings.Repeat("a", 300),
			subject: "/tmp/\x1b[31mred",
			check: func(t *testing.T, ev agent.Event) {
				if len(ev.Actor) > 256 || !strings.HasPrefix(ev.Actor, `"aaa`) {
					t.Errorf("actor = %q; want it quoted and at most 256 bytes", ev.Actor)
				}
				if ev.Subject != `"/tmp/\x1b[31mred"` {
					t.Errorf("subject = %q; want it quoted", ev.Subject)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := outboxPath(t)
			ob := openOutbox(t, path, agent.OutboxOptions{})
			if err := ob.Append("test.clipped", tc.actor, tc.subject, time.Now(), tc.detail); err != nil {
				t.Fatal(err)
			}
			if size := fileSize(t, path); size > agent.MaxEventBytes+1 {
				t.Errorf("the line is %d bytes; want at most %d", size, agent.MaxEventBytes+1)
			}
			got := drain(t, ob, linkBatch)
			if len(got) != 1 || got[0].Action != "test.clipped" {
				t.Fatalf("delivered %q; want the clipped event", actions(got))
			}
			tc.check(t, got[0])
		})
	}
}

// fillUntilFull appends ordinary events, numbered from 0, until the outbox
// refuses one, and returns how many it took.
func fillUntilFull(t *testing.T, ob *agent.Outbox) int {
	t.Helper()
	for n := range 10000 {
		err := ob.Append("test.filler", "alice", "", time.Now(), map[string]any{"n": n, "pad": strings.Repeat("p", 100)})
		if errors.Is(err, agent.ErrOutboxFull) {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	t.Fatal("the outbox took 10000 events past a cap of a few KiB")
	return 0
}

func TestOutboxFullRefusesRecordsAndRecovers(t *testing.T) {
	path := outboxPath(t)
	ob := openOutbox(t, path, agent.OutboxOptions{MaxBytes: 4096, Reserve: 2048})
	taken := fillUntilFull(t, ob)
	if !ob.Full() {
		t.Fatal("Full() = false after an event was refused")
	}
	if size := fileSize(t, path); size > 4096+1024 {
		t.Errorf("the full outbox holds %d bytes; want about the cap, 4096", size)
	}
	for range 3 {
		if err := ob.Append("test.filler", "alice", "", time.Now(), nil); !errors.Is(err, agent.ErrOutboxFull) {
			t.Fatalf("Append on a full outbox = %v; want ErrOutboxFull", err)
		}
	}
	critical := 0
	for ; ; critical++ {
		err := ob.AppendCritical("session.ended", "alice", "ses_x", time.Now(), map[string]any{"n": critical})
		if errors.Is(err, agent.ErrOutboxFull) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if critical > 1000 {
			t.Fatal("AppendCritical never ran out of the 2 KiB reserve")
		}
	}
	if critical == 0 {
		t.Fatal("AppendCritical was refused at once; want the reserve used")
	}

	got := drain(t, ob, linkBatch)
	var fillers, fullMarks, ends []int
	for i, ev := range got {
		switch ev.Action {
		case "test.filler":
			fillers = append(fillers, int(ev.Detail["n"].(float64)))
		case agent.ActionOutboxFull:
			fullMarks = append(fullMarks, i)
		case "session.ended":
			ends = append(ends, i)
		}
	}
	want := make([]int, taken)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(fillers, want) {
		t.Errorf("fillers delivered %v; want all %d taken, oldest first", fillers, taken)
	}
	if len(fullMarks) != 1 || len(ends) != critical || fullMarks[0] > ends[0] {
		t.Fatalf("delivered %q; want one %s before the %d critical events", actions(got), agent.ActionOutboxFull, critical)
	}
	if ob.Full() {
		t.Fatal("Full() = true after the queue was delivered")
	}
	if last := got[len(got)-1]; last.Action != agent.ActionOutboxRecovered || num(last.Detail["refused"]) != 5 {
		t.Fatalf("delivered last %v; want %s with 5 refused (1+3 ordinary, 1 critical)", last, agent.ActionOutboxRecovered)
	}
	if err := ob.Append("test.after", "alice", "", time.Now(), nil); err != nil {
		t.Fatalf("Append after recovery = %v; want it taken", err)
	}
}

func TestOutboxFoundFullAtOpen(t *testing.T) {
	path := outboxPath(t)
	var lines [][]byte
	for range 20 {
		lines = append(lines, eventLine(t, "test.filler", map[string]any{"pad": strings.Repeat("p", 100)}))
	}
	writeFile(t, path, lines...)
	ob := openOutbox(t, path, agent.OutboxOptions{MaxBytes: 1024})
	if !ob.Full() {
		t.Fatal("Full() = false for an outbox over its cap")
	}
	if err := ob.Append("test.more", "alice", "", time.Now(), nil); !errors.Is(err, agent.ErrOutboxFull) {
		t.Fatalf("Append = %v; want ErrOutboxFull", err)
	}
	got := drain(t, ob, linkBatch)
	if len(got) != 22 || got[20].Action != agent.ActionOutboxFull || got[20].Detail["at_open"] != true || got[21].Action != agent.ActionOutboxRecovered {
		t.Fatalf("delivered %q; want the 20 events, %s at open, then %s", actions(got), agent.ActionOutboxFull, agent.ActionOutboxRecovered)
	}
}

// appendN appends n events and returns their IDs from the file.
func appendN(t *testing.T, ob *agent.Outbox, path string, n int) []string {
	t.Helper()
	for i := range n {
		if err := ob.Append("test.event", "alice", "", time.Now(), map[string]any{"n": i}); err != nil {
			t.Fatal(err)
		}
	}
	evs, err := agent.ReadEvents(path)
	if err != nil {
		t.Fatal(err)
	}
	return ids(evs[len(evs)-n:])
}

func reopen(t *testing.T, ob *agent.Outbox, path string, opt agent.OutboxOptions) *agent.Outbox {
	t.Helper()
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}
	return openOutbox(t, path, opt)
}

// Acknowledgements survive a restart after every step, and nothing that was
// not acknowledged is lost.
func TestOutboxAckSurvivesReopen(t *testing.T) {
	for _, opt := range []agent.OutboxOptions{{}, {CompactBytes: 1}} {
		name := "truncate when drained"
		if opt.CompactBytes != 0 {
			name = "compact as it goes"
		}
		t.Run(name, func(t *testing.T) {
			path := outboxPath(t)
			ob := openOutbox(t, path, opt)
			want := appendN(t, ob, path, 10)
			for len(want) > 0 {
				events, ends := pending(t, ob)
				if !slices.Equal(ids(events), want) {
					t.Fatalf("pending %q; want %q", ids(events), want)
				}
				k := min(3, len(events))
				if err := ob.Ack(ends[k-1]); err != nil {
					t.Fatal(err)
				}
				want = want[k:]
				ob = reopen(t, ob, path, opt)
				if events, _ := pending(t, ob); !slices.Equal(ids(events), want) {
					t.Fatalf("after a restart, pending %q; want %q", ids(events), want)
				}
			}
			if size := fileSize(t, path); size != 0 {
				t.Errorf("outbox holds %d bytes after all was delivered; want 0", size)
			}
			more := appendN(t, ob, path, 2)
			ob = reopen(t, ob, path, opt)
			if events, _ := pending(t, ob); !slices.Equal(ids(events), more) {
				t.Fatalf("after a restart, pending %q; want the 2 new events %q", ids(events), more)
			}
		})
	}
}

func TestOutboxCompactsAFileThatNeverDrains(t *testing.T) {
	path := outboxPath(t)
	opt := agent.OutboxOptions{CompactBytes: 512}
	ob := openOutbox(t, path, opt)
	all := appendN(t, ob, path, 20)
	events, ends := pending(t, ob)
	before := fileSize(t, path)
	if err := ob.Ack(ends[14]); err != nil {
		t.Fatal(err)
	}
	after := fileSize(t, path)
	if after >= before/2 {
		t.Errorf("after acknowledging 15 of 20 events the file is %d bytes of %d; want it rewritten without them", after, before)
	}
	// Old positions stay valid: acknowledging one again is a no-op, the
	// next one acknowledges the next event.
	if err := ob.Ack(ends[3]); err != nil {
		t.Fatal(err)
	}
	if err := ob.Ack(ends[15]); err != nil {
		t.Fatal(err)
	}
	ob = reopen(t, ob, path, opt)
	if got, _ := pending(t, ob); !slices.Equal(ids(got), all[16:]) || len(events) != 20 {
		t.Fatalf("after a restart, pending %q; want %q", ids(got), all[16:])
	}
}

// The states a crash can leave between Ack's steps, and older hoistd's.
func TestOutboxCrashStatesOfAck(t *testing.T) {
	tests := []struct {
		name   string
		acked  string
		before func(path string)
		want   func(lines []string) []string
	}{
		{"offset past the end (emptied by an older hoistd before its offset was reset)", "100000", nil, func(l []string) []string { return l }},
		{"offset reset but the file not yet emptied: delivered once more", "0", nil, func(l []string) []string { return l }},
		{"offset garbled", "12ab", nil, func(l []string) []string { return l }},
		{"offset after the first line", "", nil, func(l []string) []string { return l[1:] }},
		{"a rewrite cut short", "", func(path string) { os.WriteFile(path+".compact", []byte("half a copy"), 0o600) }, func(l []string) []string { return l[1:] }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := outboxPath(t)
			var lines [][]byte
			var want []string
			for i := range 3 {
				line := eventLine(t, "test.event", map[string]any{"n": i})
				var ev agent.Event
				json.Unmarshal(line, &ev)
				lines, want = append(lines, line), append(want, ev.ID)
			}
			writeFile(t, path, lines...)
			acked := tc.acked
			if acked == "" {
				acked = strconv.Itoa(len(lines[0]))
			}
			writeFile(t, path+".acked", []byte(acked))
			if tc.before != nil {
				tc.before(path)
			}
			ob := openOutbox(t, path, agent.OutboxOptions{})
			if got := drain(t, ob, linkBatch); !slices.Equal(ids(got), tc.want(want)) {
				t.Fatalf("delivered %q; want %q", ids(got), tc.want(want))
			}
			if _, err := os.Stat(path + ".compact"); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a stale rewrite is left: %v", err)
			}
			ob = reopen(t, ob, path, agent.OutboxOptions{})
			if got, _ := pending(t, ob); len(got) != 0 {
				t.Fatalf("after delivery and a restart, pending %q; want nothing", ids(got))
			}
		})
	}
}

// Appends, deliveries by two deliverers, rewrites and Close all at once: no
// event Append took is lost, and none is delivered after Close.
func TestOutboxConcurrentUse(t *testing.T) {
	path := outboxPath(t)
	opt := agent.OutboxOptions{CompactBytes: 2048}
	ob, err := agent.OpenOutboxWith(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu        sync.Mutex
		delivered = map[int]bool{}
		taken     = map[int]bool{}
		wg        sync.WaitGroup
		stop      = make(chan struct{})
	)
	const writers, each = 4, 300
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				n := w*each + i
				err := ob.Append("test.event", "alice", "", time.Now(), map[string]any{"n": n})
				if errors.Is(err, agent.ErrOutboxClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				taken[n] = true
				mu.Unlock()
				if i == each/2 {
					ob.Full()
				}
			}
		})
	}
	var readers sync.WaitGroup
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				events, ends, err := ob.Pending(50, 4096)
				if errors.Is(err, agent.ErrOutboxClosed) {
					return
				}
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				for _, ev := range events {
					delivered[int(ev.Detail["n"].(float64))] = true
				}
				mu.Unlock()
				if len(ends) > 0 {
					if err := ob.Ack(ends[len(ends)-1]); err != nil && !errors.Is(err, agent.ErrOutboxClosed) {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	// Close while half the writers may still be writing and both readers
	// are reading.
	testenv.WaitUntil(t, "half the events delivered", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(delivered) >= writers*each/2
	})
	if err := ob.Close(); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	readers.Wait()
	if err := ob.Append("test.late", "alice", "", time.Now(), nil); !errors.Is(err, agent.ErrOutboxClosed) {
		t.Errorf("Append after Close = %v; want ErrOutboxClosed", err)
	}

	ob = openOutbox(t, path, opt)
	rest := drain(t, ob, linkBatch)
	for _, ev := range rest {
		if ev.Action != "test.event" {
			t.Fatalf("after a restart, delivered %s: %v", ev.Action, ev.Detail)
		}
		delivered[int(ev.Detail["n"].(float64))] = true
	}
	for n := range taken {
		if !delivered[n] {
			t.Errorf("event %d was taken but never delivered", n)
		}
	}
}

// A disk that fills up cuts a write short: the outbox takes back the torn
// part, so the file stays whole lines, and events written once there is
// room again are delivered intact.
func TestOutboxSurvivesAFullDisk(t *testing.T) {
	testenv.RequireRoot(t)
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", dir).CombinedOutput(); err != nil {
		testenv.Require(t, false, "cannot mount a small tmpfs: "+string(out))
	}
	t.Cleanup(func() { exec.Command("umount", dir).Run() })
	ballast := filepath.Join(dir, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 16<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "outbox.jsonl")
	ob := openOutbox(t, path, agent.OutboxOptions{})
	var taken []int
	var full error
	for n := range 1000 {
		err := ob.Append("test.event", "alice", "", time.Now(), map[string]any{"n": n, "pad": strings.Repeat("p", 1000)})
		if err != nil {
			full = err
			break
		}
		taken = append(taken, n)
	}
	if !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("appending to a full disk: %v; want ENOSPC", full)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(data) == 0 || data[len(data)-1] != '\n' {
		t.Fatalf("after a failed write the outbox ends in %q; want a whole line", data[max(0, len(data)-20):])
	}
	os.Remove(ballast)
	if err := ob.Append("test.event", "alice", "", time.Now(), map[string]any{"n": 1000}); err != nil {
		t.Fatal(err)
	}
	taken = append(taken, 1000)
	var got []int
	for _, ev := range drain(t, ob, linkBatch) {
		if ev.Action != "test.event" {
			t.Fatalf("delivered %s %v; want only the events", ev.Action, ev.Detail)
		}
		got = append(got, num(ev.Detail["n"]))
	}
	if !slices.Equal(got, taken) {
		t.Fatalf("delivered %v; want %v", got, taken)
	}
}

// A fact recorded again gets the ID it had, which the server takes.
func TestAppendCriticalOnceKeepsItsID(t *testing.T) {
	ob, err := agent.OpenOutbox(filepath.Join(t.TempDir(), "outbox.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close()
	for range 2 {
		if err := ob.AppendCriticalOnce("session.ended/ses_a", "session.ended", "hoistd", "ses_a", time.Now(), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := ob.AppendCriticalOnce("session.ended/ses_b", "session.ended", "hoistd", "ses_b", time.Now(), nil); err != nil {
		t.Fatal(err)
	}
	evs, _, err := ob.Pending(10, 1<<20)
	if err != nil || len(evs) != 3 {
		t.Fatalf("pending: %d events, %v; want 3", len(evs), err)
	}
	if evs[0].ID != evs[1].ID || evs[0].ID != agent.OnceID("session.ended/ses_a") {
		t.Errorf("the same fact has IDs %q and %q, want %q", evs[0].ID, evs[1].ID, agent.OnceID("session.ended/ses_a"))
	}
	if evs[2].ID == evs[0].ID {
		t.Errorf("two facts share the ID %q", evs[2].ID)
	}
	if evs[0].Seq == evs[1].Seq {
		t.Errorf("the events share the number %d: each line has its own", evs[0].Seq)
	}
}
