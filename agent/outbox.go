package agent

import (
	"encoding/json"
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hoist-jit/hoist"
)

// Event is one audit event the agent produced, queued on disk until the
// server has it. ID makes delivery idempotent.
type Event struct {
	ID      string         `json:"id"`
	Time    time.Time      `json:"time"`
	Action  string         `json:"action"`
	Actor   string         `json:"actor"`
	Subject string         `json:"subject,omitempty"`
	Detail  map[string]any `json:"detail,omitempty"`
}

// Outbox is the agent's durable queue of audit events: JSON lines, appended
// and synced before the action they record is reported done. What the
// server acknowledged is marked by an offset kept beside it; once all is
// acknowledged the file starts over.
type Outbox struct {
	mu   sync.Mutex
	f    *os.File
	path string
	// dirty says a write awaits fsync; syncing is batched (see Append).
	dirty     bool
	syncReq   chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
	closed    bool // set under mu before syncReq is closed: no send after it
}

// OpenOutbox opens (creating, 0600) the outbox file at path.
func OpenOutbox(path string) (*Outbox, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	o := &Outbox{f: f, path: path, syncReq: make(chan struct{}, 1), done: make(chan struct{})}
	go o.syncLoop()
	return o, nil
}

// syncLoop makes appended events durable in batches: one fsync covers all
// that arrived meanwhile, instead of one per event on every elevated run.
func (o *Outbox) syncLoop() {
	defer close(o.done)
	for range o.syncReq {
		o.mu.Lock()
		if o.dirty {
			_ = o.f.Sync()
			o.dirty = false
		}
		o.mu.Unlock()
	}
}

func (o *Outbox) offsetPath() string { return o.path + ".acked" }

// Pending returns up to max events not yet acknowledged, at most maxBytes
// of them (but always one), and for each the offset to acknowledge once the
// server has it.
func (o *Outbox) Pending(max, maxBytes int) ([]Event, []int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	start := o.acked()
	if _, err := o.f.Seek(start, 0); err != nil {
		return nil, nil, err
	}
	// Read what a batch can hold, not the whole file.
	buf := make([]byte, maxBytes+1)
	n, _ := io.ReadFull(o.f, buf)
	var (
		events []Event
		ends   []int64
		off    = start
		size   int
	)
	for _, line := range splitLines(buf[:n]) {
		if len(events) == max || (len(events) > 0 && size+len(line) > maxBytes) {
			break
		}
		var ev Event
		_ = json.Unmarshal(line, &ev) // an unreadable line stays a zero Event: passed over, acknowledged
		off += int64(len(line)) + 1
		size += len(line)
		events = append(events, ev)
		ends = append(ends, off)
	}
	return events, ends, nil
}

// Ack marks everything before off delivered; when that is all, the file is
// emptied.
func (o *Outbox) Ack(off int64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	info, err := o.f.Stat()
	if err != nil {
		return err
	}
	if off >= info.Size() {
		if err := o.f.Truncate(0); err != nil {
			return err
		}
		off = 0
	}
	return writeFileAtomic(o.offsetPath(), []byte(strconv.FormatInt(off, 10)))
}

func (o *Outbox) acked() int64 {
	data, err := os.ReadFile(o.offsetPath())
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	return n
}

// Append queues an event.
func (o *Outbox) Append(action, actor, subject string, at time.Time, detail map[string]any) error {
	line, err := json.Marshal(Event{ID: hoist.NewID("evt_"), Time: at.UTC(), Action: action, Actor: actor, Subject: subject, Detail: detail})
	if err != nil {
		return err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return errors.New("the audit outbox is closed")
	}
	// The write reaches the kernel now, so a crash of hoistd loses nothing;
	// the fsync that survives a crash of the machine follows within moments,
	// batched, because one per event doubled the cost of every hoist run.
	if _, err := o.f.Write(append(line, '\n')); err != nil {
		return err
	}
	o.dirty = true
	select {
	case o.syncReq <- struct{}{}:
	default:
	}
	return nil
}

// Close syncs and closes the file.
func (o *Outbox) Close() error {
	o.closeOnce.Do(func() {
		o.mu.Lock()
		o.closed = true
		o.mu.Unlock()
		close(o.syncReq)
		<-o.done
		_ = o.f.Sync()
		o.closeErr = o.f.Close()
	})
	return o.closeErr
}

// ReadEvents returns the events queued at path, in order.
func ReadEvents(path string) ([]Event, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var events []Event
	for _, line := range splitLines(data) {
		var ev Event
		if err := json.Unmarshal(line, &ev); err != nil {
			return events, err
		}
		events = append(events, ev)
	}
	return events, nil
}

func splitLines(data []byte) [][]byte {
	var out [][]byte
	start := 0
	for i, b := range data {
		if b == '\n' {
			if i > start {
				out = append(out, data[start:i])
			}
			start = i + 1
		}
	}
	return out
}
