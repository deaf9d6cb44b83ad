package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/hoist-jit/hoist"
)

// Event is one audit event the agent produced, queued on disk until the
// server has it. ID makes delivery idempotent.
type Event struct {
	ID string `json:"id"`
	// Seq numbers the events of this outbox 1, 2, 3, … in the order they
	// were written, across restarts, so that the server can tell an event
	// that never arrived (zero: a marker, or an older hoistd's event).
	Seq     int64          `json:"seq,omitempty"`
	Time    time.Time      `json:"time"`
	Action  string         `json:"action"`
	Actor   string         `json:"actor"`
	Subject string         `json:"subject,omitempty"`
	Detail  map[string]any `json:"detail,omitempty"`
}

const (
	// MaxEventBytes is the longest line the outbox writes: Append clips an
	// event to fit (see Append). A longer line found in the file (written
	// by an older hoistd, or damaged) is delivered as an unreadable-event
	// marker instead. Readers should ask for batches of at least this much.
	MaxEventBytes = 16 << 10

	// DefaultOutboxMax is the default cap on the bytes awaiting delivery.
	DefaultOutboxMax = 64 << 20
	// DefaultOutboxReserve is the default room beyond the cap kept for
	// critical events.
	DefaultOutboxReserve = 1 << 20
	// defaultCompactBytes is how much acknowledged data may stay at the
	// head of a file that never drains before it is rewritten without it.
	defaultCompactBytes = 1 << 20
)

// The actions of the events the outbox itself produces.
const (
	ActionEventUnreadable = "audit.event_unreadable"
	ActionOutboxFull      = "audit.outbox_full"
	ActionOutboxRecovered = "audit.outbox_recovered"
)

var (
	// ErrOutboxFull is returned by Append while the outbox is full, and by
	// AppendCritical once the reserve is used up too. The event is not
	// recorded; the count of refused events is (see Outbox).
	ErrOutboxFull = errors.New("the audit outbox is full: the server has not taken its events")
	// ErrOutboxClosed is returned by every method after Close.
	ErrOutboxClosed = errors.New("the audit outbox is closed")
)

// OutboxOptions tunes an outbox; the zero value gives the defaults.
type OutboxOptions struct {
	// MaxBytes caps the bytes awaiting delivery (DefaultOutboxMax if 0).
	MaxBytes int64
	// Reserve is the room beyond MaxBytes that only AppendCritical may use
	// (DefaultOutboxReserve if 0).
	Reserve int64
	// CompactBytes is how much acknowledged data a file that never drains
	// keeps at its head before it is rewritten without it (1 MiB if 0).
	CompactBytes int64
	// Now stamps the events the outbox itself makes (time.Now if nil).
	Now func() time.Time
}

// Outbox is the agent's durable queue of audit events for the server.
//
// The file is JSON lines, one event per line, appended to. Each line is
// handed to the kernel before Append returns, so a crash of hoistd loses
// nothing; a background fsync follows within moments (batched: one per
// event doubled the cost of every hoist run), so a crash of the machine can
// lose only the last moments. What the server acknowledged is marked by an
// offset in a file beside it ("<path>.acked"); once everything is
// acknowledged the file is emptied, and a file that never drains is
// rewritten without its acknowledged head once that is over CompactBytes
// and at least half the file.
//
// Reading is line-safe: Pending delivers every line that is not one valid
// event (too long, not JSON, not an event the server would take, NUL
// blocks, blank lines) as a marker event, ActionEventUnreadable, in its
// place, with its offset, size and an escaped prefix, and goes on with the
// next line; consecutive bad lines share one marker. A last line without
// its newline is never delivered; on open it is ended with one, so a line
// torn by a crash is delivered as a marker (or as the event, when only the
// newline was missing), and the next event starts on a line of its own.
//
// The outbox is bounded: when the bytes awaiting delivery would pass
// MaxBytes, Append refuses events with ErrOutboxFull, and Full reports
// true, until the server has taken the queue down to half the cap. The
// oldest events are never dropped. AppendCritical may still use a reserve
// beyond the cap (for the events that must not be lost, such as session
// ends). Becoming full writes one ActionOutboxFull event; leaving it writes
// one ActionOutboxRecovered event with the count of refused events. hoistd
// should refuse new elevated programs while Full, since it cannot record
// them.
//
// All methods are safe for concurrent use. Append waits only for other
// appends' write(2) and for the ftruncate or rename (with a bounded copy of
// what arrived during a rewrite) that empties or rewrites the file, never
// for an fsync or a read. Pending and Ack are serialised
// with each other; the offsets Pending returns are positions in this
// Outbox's stream, valid until Close, and an Ack of an old position is a
// no-op.
type Outbox struct {
	path         string
	max, reserve int64
	compactBytes int64
	now          func() time.Time
	syncReq      chan struct{}
	done         chan struct{}
	closeOnce    sync.Once
	closeErr     error
	synced       uint64 // writes covered by the last fsync; syncLoop's own

	// deliverMu serialises Pending, Ack and Close; it guards markerIDs,
	// the IDs of the markers returned and not yet acknowledged, by position.
	deliverMu sync.Mutex
	markerIDs map[int64]string

	// Guarded by mu. The file holds the stream's bytes [base, base+size);
	// acked of them are acknowledged.
	mu          sync.Mutex
	seq         int64 // the Seq of the last event written
	f           *os.File
	base        int64
	size        int64
	acked       int64
	writes      uint64 // count of changes to f that want an fsync
	syncErr     error
	needNewline bool // a failed write left part of a line
	full        bool
	fullSince   time.Time
	refused     int
	closed      bool
}

// OpenOutbox opens (creating, 0600) the outbox file at path with the
// default options.
func OpenOutbox(path string) (*Outbox, error) { return OpenOutboxWith(path, OutboxOptions{}) }

// OpenOutboxWith opens (creating, 0600) the outbox file at path. A torn
// last line is ended with a newline (see Outbox); an unreadable offset file
// means everything is delivered again (events carry IDs, so the server
// records each once).
func OpenOutboxWith(path string, opt OutboxOptions) (*Outbox, error) {
	o := &Outbox{
		path: path, max: opt.MaxBytes, reserve: opt.Reserve, compactBytes: opt.CompactBytes, now: opt.Now,
		syncReq: make(chan struct{}, 1), done: make(chan struct{}), markerIDs: map[int64]string{},
	}
	if o.max <= 0 {
		o.max = DefaultOutboxMax
	}
	if o.reserve <= 0 {
		o.reserve = DefaultOutboxReserve
	}
	if o.compactBytes <= 0 {
		o.compactBytes = defaultCompactBytes
	}
	if o.now == nil {
		o.now = time.Now
	}
	// A rewrite cut short by a crash: the outbox itself is still whole.
	_ = os.Remove(o.compactPath())
	f, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	info, err := f.Stat()
	if err == nil && !info.Mode().IsRegular() {
		err = fmt.Errorf("the audit outbox %s is not a regular file", path)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	o.f, o.size = f, info.Size()
	o.acked = readOffset(o.offsetPath(), o.size)
	o.seq = max(readSeq(o.seqPath()), lastSeq(f, o.size))
	if err := o.tidy(); err != nil {
		f.Close()
		return nil, err
	}
	if o.size-o.acked > o.max {
		o.becomeFullLocked(true)
	}
	go o.syncLoop()
	o.requestSync()
	return o, nil
}

func (o *Outbox) offsetPath() string  { return o.path + ".acked" }
func (o *Outbox) compactPath() string { return o.path + ".compact" }
func (o *Outbox) seqPath() string     { return o.path + ".seq" }

// readSeq reads the last sequence number kept at path when the file was
// emptied; 0 when there is none.
func readSeq(path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil || len(data) > 32 {
		return 0
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(data)), 10, 64)
	if err != nil || n < 0 {
		return 0
	}
	return n
}

// writeSeq durably keeps the last sequence number written, before a file
// that holds it is emptied or rewritten.
func (o *Outbox) writeSeq() error {
	o.mu.Lock()
	seq := o.seq
	o.mu.Unlock()
	return writeFileAtomic(o.seqPath(), []byte(strconv.FormatInt(seq, 10)))
}

// lastSeq returns the highest Seq of the events in the file's last
// scanBuf bytes, or of the whole file when those hold none.
func lastSeq(f *os.File, size int64) int64 {
	tail := max(0, size-scanBuf)
	if n := scanSeq(f, tail, size, tail > 0); n > 0 || tail == 0 {
		return n
	}
	return scanSeq(f, 0, size, false)
}

// scanSeq returns the highest Seq of the events in [from, end) of f;
// partial says the first line may be the end of one and is passed over.
func scanSeq(f *os.File, from, end int64, partial bool) int64 {
	s := lineScanner{r: f, pos: from, end: end}
	var top int64
	for first := true; ; first = false {
		ln, ok, err := s.next()
		if err != nil || !ok {
			return top
		}
		if first && partial {
			continue
		}
		if ev, why := decodeLine(ln); why == "" {
			top = max(top, ev.Seq)
		}
	}
}

// tidy leaves the file as a running outbox would: emptied when all of it
// is acknowledged (a crash came between the offset and the truncation),
// else with a last line that has no newline ended, so that it is read as
// one line and the next event starts afresh. Only OpenOutbox calls it.
func (o *Outbox) tidy() error {
	if o.size == 0 {
		return nil
	}
	if o.acked == o.size {
		return o.empty(o.size)
	}
	last := make([]byte, 1)
	if _, err := o.f.ReadAt(last, o.size-1); err != nil {
		return err
	}
	if last[0] == '\n' {
		return nil
	}
	return o.writeLocked([]byte{'\n'})
}

// readOffset reads the acknowledged offset kept at path. A missing,
// garbled or impossible one (past the end: the file was emptied after it
// was written, by an older hoistd) means nothing is acknowledged.
func readOffset(path string, size int64) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	buf := make([]byte, 32)
	n, _ := io.ReadFull(f, buf)
	off, err := strconv.ParseInt(string(bytes.TrimSpace(buf[:n])), 10, 64)
	if err != nil || off < 0 || off > size {
		return 0
	}
	return off
}

// writeOffset durably records that the file's first off bytes are
// acknowledged.
func (o *Outbox) writeOffset(off int64) error {
	return writeFileAtomic(o.offsetPath(), []byte(strconv.FormatInt(off, 10)))
}

// syncLoop makes appended events durable in batches: one fsync covers all
// that arrived meanwhile. It holds mu only to read which file and how many
// writes, so appends never wait for the disk.
func (o *Outbox) syncLoop() {
	defer close(o.done)
	for range o.syncReq {
		o.mu.Lock()
		f, writes := o.f, o.writes
		o.mu.Unlock()
		if writes == o.synced {
			continue
		}
		// A write after the snapshot sends another request, so it is
		// covered by the next round.
		err := f.Sync()
		o.mu.Lock()
		if err == nil {
			o.synced = writes
		} else if f == o.f {
			o.syncErr = err // a replaced file's error does not matter: its data was copied and synced
		}
		o.mu.Unlock()
	}
}

func (o *Outbox) requestSync() {
	select {
	case o.syncReq <- struct{}{}:
	default:
	}
}

// writeLocked appends line (which ends in a newline) to the file. A write
// cut short is taken back, or else the next line starts on a line of its
// own, so that a failed write never spoils a good event.
func (o *Outbox) writeLocked(line []byte) error {
	if o.needNewline {
		if _, err := o.f.Write([]byte{'\n'}); err != nil {
			return err
		}
		o.size++
		o.needNewline = false
	}
	n, err := o.f.Write(line)
	if err != nil && n > 0 {
		if o.f.Truncate(o.size) != nil {
			o.size += int64(n)
			o.needNewline = true
		}
	} else {
		o.size += int64(n)
	}
	if n > 0 {
		o.writes++
		o.requestSync()
	}
	return err
}

// Append queues an event. An event whose line would be longer than
// MaxEventBytes is clipped: its strings shortened to 1 KiB, or failing
// that its detail replaced by a prefix of its JSON, with detail
// "clipped_from_bytes" saying how long it was. An actor or subject the
// server would refuse (over 256 bytes, or control characters) is replaced
// by its quoted, clipped form; a detail that cannot be encoded is replaced
// by the error. So an event is never lost for its content.
//
// It returns ErrOutboxFull while the outbox is full, ErrOutboxClosed after
// Close, or the write's error.
func (o *Outbox) Append(action, actor, subject string, at time.Time, detail map[string]any) error {
	return o.append(false, Event{ID: hoist.NewID("evt_"), Time: at.UTC(), Action: action, Actor: actor, Subject: subject, Detail: detail})
}

// AppendCritical is Append for an event that must not be lost (a session's
// end, say): while the outbox is full it may still use the reserve beyond
// the cap. It returns ErrOutboxFull only once that is used up too.
func (o *Outbox) AppendCritical(action, actor, subject string, at time.Time, detail map[string]any) error {
	return o.append(true, Event{ID: hoist.NewID("evt_"), Time: at.UTC(), Action: action, Actor: actor, Subject: subject, Detail: detail})
}

// AppendCriticalOnce is AppendCritical for a fact that happens once (a
// session's end): the event's ID is OnceID(key), so recording the fact
// again — after a restart that found no note that it was recorded, say —
// gives the same ID, and the server, which keeps each agent's event IDs
// once, stores it once. The first event to arrive is the one kept.
func (o *Outbox) AppendCriticalOnce(key, action, actor, subject string, at time.Time, detail map[string]any) error {
	return o.append(true, Event{ID: OnceID(key), Time: at.UTC(), Action: action, Actor: actor, Subject: subject, Detail: detail})
}

// OnceID returns the event ID of the fact named key: the same for the same
// key, and not one a random ID (hoist.NewID) can be.
func OnceID(key string) string {
	sum := sha256.Sum256([]byte("hoist outbox once\x00" + key))
	return "evt_once_" + hex.EncodeToString(sum[:16])
}

func (o *Outbox) append(critical bool, ev Event) error {
	line := encodeLine(ev)
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrOutboxClosed
	}
	n := int64(len(line))
	if !o.full && o.size-o.acked+n > o.max {
		o.becomeFullLocked(false)
	}
	limit := o.max
	if critical {
		limit += o.reserve
	}
	if (o.full && !critical) || o.size-o.acked+n > limit {
		o.refused++
		return ErrOutboxFull
	}
	return o.writeEventLocked(line)
}

// seqRoom is what numbering adds to a line at most: `"seq":N,` with the
// longest N.
const seqRoom = len(`"seq":9223372036854775807,`)

// writeEventLocked numbers the encoded event line (which has no seq yet)
// and appends it. A write that left nothing in the file gives its number
// back, so that numbers in the file have no gap the server would report;
// a write that left part of a line keeps it (the torn line is delivered
// as an unreadable marker, and its number missing is the truth).
func (o *Outbox) writeEventLocked(line []byte) error {
	o.seq++
	numbered := make([]byte, 0, len(line)+seqRoom)
	numbered = append(numbered, `{"seq":`...)
	numbered = strconv.AppendInt(numbered, o.seq, 10)
	numbered = append(numbered, ',')
	numbered = append(numbered, line[1:]...)
	err := o.writeLocked(numbered)
	if err != nil && !o.needNewline {
		o.seq--
	}
	return err
}

// becomeFullLocked enters the full state and records it, once. The marker
// is written beyond the cap and the reserve: it is small, and one per
// episode.
func (o *Outbox) becomeFullLocked(atOpen bool) {
	o.full, o.fullSince, o.refused = true, o.now().UTC(), 0
	detail := map[string]any{"max_bytes": o.max, "reserve_bytes": o.reserve, "pending_bytes": o.size - o.acked}
	if atOpen {
		detail["at_open"] = true
	}
	_ = o.writeEventLocked(encodeLine(o.ownEvent(ActionOutboxFull, detail)))
}

// recoverLocked leaves the full state once the queue is down to half the
// cap, recording how many events were refused meanwhile.
func (o *Outbox) recoverLocked() {
	if !o.full || o.size-o.acked > o.max/2 {
		return
	}
	ev := o.ownEvent(ActionOutboxRecovered, map[string]any{"refused": o.refused, "full_since": o.fullSince, "pending_bytes": o.size - o.acked})
	if o.writeEventLocked(encodeLine(ev)) == nil {
		o.full, o.refused = false, 0
	}
}

// Full reports whether the outbox refuses ordinary events (see Outbox).
func (o *Outbox) Full() bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.full
}

func (o *Outbox) ownEvent(action string, detail map[string]any) Event {
	return Event{ID: hoist.NewID("evt_"), Time: o.now().UTC(), Action: action, Actor: "hoistd", Detail: detail}
}

// Pending returns up to max events not yet acknowledged, at most maxBytes
// of them (but always one), and for each the position to acknowledge once
// the server has it. Unreadable lines come as markers (see Outbox); a
// marker's ID is the same each time until it is acknowledged.
func (o *Outbox) Pending(max, maxBytes int) ([]Event, []int64, error) {
	o.deliverMu.Lock()
	defer o.deliverMu.Unlock()
	o.mu.Lock()
	f, base, start, end, closed := o.f, o.base, o.acked, o.size, o.closed
	o.mu.Unlock()
	if closed {
		return nil, nil, ErrOutboxClosed
	}
	// The file can only grow meanwhile: emptying and rewriting it happen in
	// Ack, which waits for deliverMu.
	b := batch{max: max, maxBytes: maxBytes}
	s := lineScanner{r: f, pos: start, end: end}
	var bad *badRun
	for {
		ln, ok, err := s.next()
		if err != nil {
			return nil, nil, err
		}
		if !ok {
			break
		}
		ev, why := decodeLine(ln)
		if why != "" {
			if bad == nil {
				bad = newBadRun(ln, why)
			} else {
				bad.add(ln)
			}
			if bad.bytes < maxBadRun {
				continue
			}
			// A marker per few MiB keeps each call short on any file.
			if !b.add(o.marker(bad, base), base+bad.off+bad.bytes, -1) {
				return b.events, b.ends, nil
			}
			bad = nil
			continue
		}
		if bad != nil {
			if !b.add(o.marker(bad, base), base+bad.off+bad.bytes, -1) {
				return b.events, b.ends, nil
			}
			bad = nil
		}
		if !b.add(ev, base+ln.off+ln.n+1, int(ln.n)) {
			break
		}
	}
	if bad != nil {
		b.add(o.marker(bad, base), base+bad.off+bad.bytes, -1)
	}
	return b.events, b.ends, nil
}

// batch collects what one Pending call returns within its limits.
type batch struct {
	max, maxBytes int
	size          int
	events        []Event
	ends          []int64
}

// add takes ev, of n bytes (or -1: measure it), unless the batch is full;
// the first event is always taken.
func (b *batch) add(ev Event, end int64, n int) bool {
	if n < 0 {
		n = len(encodeLine(ev))
	}
	if len(b.events) >= b.max || (len(b.events) > 0 && b.size+n > b.maxBytes) {
		return false
	}
	b.size += n
	b.events = append(b.events, ev)
	b.ends = append(b.ends, end)
	return true
}

// maxBadRun bounds the bytes one unreadable-event marker stands for.
const maxBadRun = 4 << 20

// badRun is a stretch of consecutive lines that are not events.
type badRun struct {
	off    int64 // offset of its first byte in the file
	bytes  int64 // its length, newlines included
	lines  int
	why    string // why its first line is unreadable
	prefix string // its first bytes, quoted
}

// markerPrefix bounds how much of an unreadable line a marker shows.
const markerPrefix = 160

func newBadRun(ln rawLine, why string) *badRun {
	p := ln.data[:min(len(ln.data), markerPrefix)]
	return &badRun{off: ln.off, bytes: ln.n + 1, lines: 1, why: why, prefix: strconv.QuoteToASCII(string(p))}
}

func (r *badRun) add(ln rawLine) {
	r.bytes = ln.off + ln.n + 1 - r.off
	r.lines++
}

// marker is the event delivered in place of r. Its ID stays the same until
// it is acknowledged, so a batch sent again is recorded once.
func (o *Outbox) marker(r *badRun, base int64) Event {
	id, ok := o.markerIDs[base+r.off]
	if !ok {
		id = hoist.NewID("evt_")
		o.markerIDs[base+r.off] = id
	}
	ev := o.ownEvent(ActionEventUnreadable, map[string]any{
		"offset": r.off, "bytes": r.bytes, "lines": r.lines, "reason": r.why, "prefix": r.prefix,
	})
	ev.ID = id
	return ev
}

// decodeLine returns the event on ln, or why it is not one the server
// would take.
func decodeLine(ln rawLine) (Event, string) {
	if ln.n > MaxEventBytes {
		return Event{}, "longer than " + strconv.Itoa(MaxEventBytes) + " bytes"
	}
	var ev Event
	if err := json.Unmarshal(ln.data, &ev); err != nil {
		return Event{}, "not a JSON event"
	}
	if !validEvent(ev) {
		return Event{}, "not a valid event"
	}
	return ev, ""
}

// validEvent applies the server's checks on an agent event (see
// control.AgentAudit), so that what Pending returns is never refused.
func validEvent(ev Event) bool {
	return len(ev.ID) > len("evt_") && strings.HasPrefix(ev.ID, "evt_") && len(ev.ID) <= 64 &&
		strings.Contains(ev.Action, ".") && len(ev.Action) <= 64 &&
		len(ev.Actor) <= maxHeader && len(ev.Subject) <= maxHeader &&
		hoist.Printable(ev.ID+ev.Action+ev.Actor+ev.Subject)
}

// Ack marks every event before position off delivered. It returns nil for
// a position already acknowledged, an error for one past the end.
//
// Crash safety: the offset file is written durably before the outbox file
// is emptied or rewritten, and it is set to 0 before either; a crash in
// between delivers the acknowledged events once more (the server records
// each ID once), and never loses one that was not acknowledged.
func (o *Outbox) Ack(off int64) error {
	o.deliverMu.Lock()
	defer o.deliverMu.Unlock()
	o.mu.Lock()
	base, acked, size, closed := o.base, o.acked, o.size, o.closed
	o.mu.Unlock()
	if closed {
		return ErrOutboxClosed
	}
	at := off - base
	if at <= acked {
		return nil
	}
	if at > size {
		return fmt.Errorf("outbox: acknowledging position %d past the end (%d)", off, base+size)
	}
	var err error
	switch {
	case at == size:
		err = o.empty(at)
	case at >= o.compactBytes && at >= size-at:
		err = o.compact(at)
	default:
		err = o.advance(at)
	}
	for k := range o.markerIDs {
		if k < off {
			delete(o.markerIDs, k)
		}
	}
	o.mu.Lock()
	o.recoverLocked()
	o.mu.Unlock()
	return err
}

// advance records that the first at bytes of the file are acknowledged.
func (o *Outbox) advance(at int64) error {
	if err := o.writeOffset(at); err != nil {
		return err
	}
	o.mu.Lock()
	o.acked = at
	o.mu.Unlock()
	return nil
}

// empty truncates a file whose every byte (at of them) is acknowledged, or
// only advances when an event arrived meanwhile.
func (o *Outbox) empty(at int64) error {
	if err := o.writeSeq(); err != nil {
		return o.advance(at)
	}
	if err := o.writeOffset(0); err != nil {
		return err
	}
	o.mu.Lock()
	if o.size == at && o.f.Truncate(0) == nil {
		o.base += at
		o.size, o.acked = 0, 0
		o.writes++
		o.requestSync()
		o.mu.Unlock()
		return nil
	}
	o.mu.Unlock()
	return o.advance(at)
}

// compact rewrites the file without its acknowledged first at bytes: a new
// file gets the rest and is synced, then replaces the old one by rename.
// The bulk is copied and synced without mu, in rounds that catch up on
// events arriving meanwhile; only what arrived during the last round (at
// most maxRemainder, else it gives up this time) is copied under mu, and
// the background fsync that follows makes it durable, as for any append.
// When anything fails it only advances.
func (o *Outbox) compact(at int64) error {
	nf, err := os.OpenFile(o.compactPath(), os.O_CREATE|os.O_TRUNC|os.O_APPEND|os.O_RDWR, 0o600)
	if err != nil {
		return o.advance(at)
	}
	fail := func() error {
		nf.Close()
		os.Remove(o.compactPath())
		return o.advance(at)
	}
	if o.writeSeq() != nil {
		return fail()
	}
	o.mu.Lock()
	old, size := o.f, o.size
	o.mu.Unlock()
	copied := at
	for range 3 {
		if copied == size {
			break
		}
		if copyRange(nf, old, copied, size) != nil || nf.Sync() != nil {
			return fail()
		}
		copied = size
		o.mu.Lock()
		size = o.size
		o.mu.Unlock()
	}
	if o.writeOffset(0) != nil {
		return fail()
	}
	o.mu.Lock()
	if o.size-copied > maxRemainder || copyRange(nf, old, copied, o.size) != nil {
		o.mu.Unlock()
		return fail()
	}
	if os.Rename(o.compactPath(), o.path) != nil {
		o.mu.Unlock()
		return fail()
	}
	o.f = nf
	o.base += at
	o.size -= at
	o.acked = 0
	o.writes++
	o.requestSync()
	o.mu.Unlock()
	old.Close()
	return syncDir(o.path)
}

// maxRemainder bounds the copy a rewrite makes while appends wait.
const maxRemainder = 256 << 10

// copyRange appends bytes [from, to) of src to dst.
func copyRange(dst, src *os.File, from, to int64) error {
	n, err := io.Copy(dst, io.NewSectionReader(src, from, to-from))
	if err == nil && n != to-from {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// syncDir makes a rename in path's directory durable.
func syncDir(path string) error {
	d, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Close syncs and closes the file, after any Pending or Ack under way. It
// reports a failed background fsync, too.
func (o *Outbox) Close() error {
	o.closeOnce.Do(func() {
		o.deliverMu.Lock()
		defer o.deliverMu.Unlock()
		o.mu.Lock()
		o.closed = true
		o.mu.Unlock()
		close(o.syncReq)
		<-o.done
		err := o.f.Sync()
		o.closeErr = errors.Join(o.syncErr, err, o.f.Close())
	})
	return o.closeErr
}

// ReadEvents returns the events in the outbox file at path, acknowledged
// or not, in order, with markers for unreadable lines as Pending gives
// them (with fresh IDs) and without a last line that has no newline yet.
func ReadEvents(path string) ([]Event, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, err
	}
	o := &Outbox{now: time.Now, markerIDs: map[int64]string{}}
	s := lineScanner{r: f, end: info.Size()}
	var (
		events []Event
		bad    *badRun
	)
	for {
		ln, ok, err := s.next()
		if err != nil {
			return events, err
		}
		if !ok {
			break
		}
		ev, why := decodeLine(ln)
		switch {
		case why != "" && bad == nil:
			bad = newBadRun(ln, why)
		case why != "":
			bad.add(ln)
		default:
			if bad != nil {
				events = append(events, o.marker(bad, 0))
				bad = nil
			}
			events = append(events, ev)
		}
	}
	if bad != nil {
		events = append(events, o.marker(bad, 0))
	}
	return events, nil
}

// maxHeader is the server's limit on an event's actor and subject.
const maxHeader = 256

// clipString is what Append shortens each string to in an event too long.
const clipString = 1 << 10

// encodeLine returns ev as one line of at most lineBudget and its
// newline (see Append for how it is made to fit).
func encodeLine(ev Event) []byte {
	ev.Actor, ev.Subject = header(ev.Actor), header(ev.Subject)
	if len(ev.Action) > 64 {
		ev.Action = clipUTF8(ev.Action, 64)
	}
	line, err := json.Marshal(ev)
	if err != nil {
		ev.Detail = map[string]any{"detail_error": err.Error()}
		line, _ = json.Marshal(ev)
	}
	if len(line) <= lineBudget {
		return append(line, '\n')
	}
	n := len(line)
	detail, _ := clipValue(ev.Detail, 0).(map[string]any)
	if detail == nil {
		detail = map[string]any{}
	}
	detail["clipped_from_bytes"] = n
	ev.Detail = detail
	if line, err = json.Marshal(ev); err == nil && len(line) <= lineBudget {
		return append(line, '\n')
	}
	// Too many strings, or too deep: keep the start of the detail as text.
	whole, _ := json.Marshal(detail)
	ev.Detail = map[string]any{"clipped_from_bytes": n, "detail_prefix": clipUTF8(string(whole), 4<<10)}
	if line, err = json.Marshal(ev); err != nil || len(line) > lineBudget {
		ev.Detail = map[string]any{"clipped_from_bytes": n}
		line, _ = json.Marshal(ev)
	}
	return append(line, '\n')
}

// lineBudget is the longest line encodeLine makes: room is left for the
// sequence number writeEventLocked puts in.
const lineBudget = MaxEventBytes - seqRoom

// header returns s if the server takes it as an actor or subject, else its
// quoted form, clipped.
func header(s string) string {
	if len(s) <= maxHeader && hoist.Printable(s) {
		return s
	}
	return clipUTF8(strconv.QuoteToASCII(s), maxHeader)
}

// clipValue returns v with every string in it shortened to clipString
// bytes, copying maps and slices rather than changing the caller's.
func clipValue(v any, depth int) any {
	if depth > 16 {
		return nil
	}
	switch v := v.(type) {
	case string:
		return clipUTF8(v, clipString)
	case []string:
		out := make([]string, len(v))
		for i, s := range v {
			out[i] = clipUTF8(s, clipString)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = clipValue(e, depth+1)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[clipUTF8(k, clipString)] = clipValue(e, depth+1)
		}
		return out
	}
	return v
}

// clipUTF8 returns the longest prefix of s of at most n bytes that does not
// split a character.
func clipUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// scanBuf is how much of the file a lineScanner holds at once; it must be
// more than MaxEventBytes so a line that fits is seen whole.
const scanBuf = 64 << 10

// rawLine is one complete line of the file.
type rawLine struct {
	off  int64  // offset of its first byte
	n    int64  // its length without the newline
	data []byte // the line if n <= MaxEventBytes, else its first bytes; valid until the next call
}

// lineScanner reads the complete lines of the file in [pos, end) through
// one bounded buffer, so no line, however long, is held whole.
type lineScanner struct {
	r        io.ReaderAt
	pos, end int64
	buf      []byte // file bytes [bufOff, bufOff+len(buf))
	bufOff   int64
}

// next returns the next complete line, or false at the end or before a
// last line without a newline.
func (s *lineScanner) next() (rawLine, bool, error) {
	if s.pos >= s.end {
		return rawLine{}, false, nil
	}
	data, err := s.window(s.pos)
	if err != nil {
		return rawLine{}, false, err
	}
	if i := bytes.IndexByte(data, '\n'); i >= 0 {
		ln := rawLine{off: s.pos, n: int64(i), data: data[:i]}
		s.pos += int64(i) + 1
		return ln, true, nil
	}
	// No newline in a full window: a line too long, read on for its end.
	prefix := bytes.Clone(data[:min(len(data), markerPrefix)])
	for p := s.pos + int64(len(data)); p < s.end; {
		chunk, err := s.window(p)
		if err != nil {
			return rawLine{}, false, err
		}
		if i := bytes.IndexByte(chunk, '\n'); i >= 0 {
			ln := rawLine{off: s.pos, n: p + int64(i) - s.pos, data: prefix}
			s.pos = p + int64(i) + 1
			return ln, true, nil
		}
		p += int64(len(chunk))
	}
	return rawLine{}, false, nil
}

// window returns the file's bytes from off: more than MaxEventBytes of
// them, or all up to the end.
func (s *lineScanner) window(off int64) ([]byte, error) {
	have := s.bufOff + int64(len(s.buf))
	if off >= s.bufOff && off <= have && (have-off > MaxEventBytes || have >= s.end) {
		return s.buf[off-s.bufOff:], nil
	}
	if s.buf == nil {
		s.buf = make([]byte, scanBuf)
	}
	s.buf = s.buf[:min(int64(scanBuf), s.end-off)]
	n, err := s.r.ReadAt(s.buf, off)
	if n < len(s.buf) {
		if err != nil && err != io.EOF {
			return nil, err
		}
		s.end = off + int64(n) // shorter than it was: read what there is
	}
	s.buf, s.bufOff = s.buf[:n], off
	return s.buf, nil
}
