package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/localapi"
)

// Terminal recording. When the configuration records terminals and an
// elevated program runs on one, hoistd does not give the program the
// terminal the client made: it makes its own pseudo-terminal, gives the
// program its follower, and relays between its leader and the client's
// terminal, writing what passes in asciicast v2 to the state directory.
// The client, which the user controls, never sees the recording. Finished
// recordings wait there, each with a small description beside it, until
// the link has uploaded them (PendingRecordings, RecordingUploaded).

// DefaultRecordLimit is the most bytes of recording a session keeps, all
// its recordings together; past it a recording ends with a "recording
// truncated" marker, and the audit says so.
const DefaultRecordLimit = 64 << 20

// relayQueue is how many chunks of output (up to 32 KiB each) wait for a
// client that is slow to read; past it output to that client is dropped,
// never the program held up and never the recording.
const relayQueue = 64

// flushTimeout bounds how long the end of a run waits for the client to
// take the last output.
const flushTimeout = 2 * time.Second

// lingerTimeout is how long the relay goes on after the program's exit
// while something it left in the background still holds the terminal.
const lingerTimeout = 500 * time.Millisecond

// RecordingMeta describes one finished recording waiting for upload.
type RecordingMeta struct {
	ID string `json:"id"`
	// Session is the JIT session, or the policy run's id (run_…).
	Session   string    `json:"session"`
	User      string    `json:"user"`
	Argv      []string  `json:"argv"`
	Started   time.Time `json:"started"`
	Ended     time.Time `json:"ended"`
	Bytes     int64     `json:"bytes"`
	Truncated bool      `json:"truncated,omitempty"`
	Input     bool      `json:"input,omitempty"`
}

// recordings is the agent's bookkeeping of recordings.
type recordings struct {
	mu sync.Mutex
	// used is the bytes recorded so far per session by the recordings
	// that ended, for the record.
	used map[string]int64
	// budgets are the bytes of events left per session, one counter that
	// all its recordings, concurrent ones too, charge as they write.
	budgets map[string]*recordBudget
	// active are the recordings still being written.
	active map[string]bool
}

func (a *Agent) recordingDir() string { return filepath.Join(a.cfg.StateDir, "recordings") }

// recordMode is the configuration in force's record_terminal.
func (a *Agent) recordMode() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pol.bundle.Config.RecordMode()
}

func (a *Agent) recordLimit() int64 {
	if a.cfg.RecordLimit > 0 {
		return a.cfg.RecordLimit
	}
	return DefaultRecordLimit
}

// termRelay is one recorded terminal: hoistd's pseudo-terminal between the
// program and the client's.
type termRelay struct {
	a      *Agent
	meta   RecordingMeta
	leader *os.File
	// follower is the program's terminal until it has started.
	follower *os.File
	// caller is hoistd's own non-blocking duplicate of the client's
	// terminal; keys says the user types into it (it was stdin).
	caller *os.File
	keys   bool
	cast   *castWriter
	// out carries output to the client; the reader drops what does not fit.
	out     chan []byte
	dropped atomic.Int64
	// readDone is closed when the leader's reader ends; sent when the
	// writer has given the client what it will get.
	readDone, sent chan struct{}
	finishOnce     sync.Once
}

// newTermRelay makes the recorded terminal for a run whose files[i] are
// terminals where kinds says so; it returns the files the program gets
// (the follower in place of each terminal). Nothing is started yet.
func (a *Agent) newTermRelay(r *run, kinds []localapi.Kind, mode string) (*termRelay, []*os.File, error) {
	var term *os.File
	for i, k := range kinds {
		if k == localapi.KindTerminal {
			term = r.x.files[i]
			break
		}
	}
	if term == nil {
		return nil, nil, errors.New("no terminal among the descriptors")
	}
	caller, err := pollable(term)
	if err != nil {
		return nil, nil, err
	}
	leader, follower, err := openPTY()
	if err != nil {
		caller.Close()
		return nil, nil, err
	}
	cols, rows := winSize(caller)
	_ = setWinSize(leader, cols, rows)
	if err := takeOverTerminal(caller, leader); err != nil {
		for _, f := range []*os.File{caller, leader, follower} {
			f.Close()
		}
		return nil, nil, err
	}
	t := &termRelay{a: a, leader: leader, follower: follower, caller: caller, keys: kinds[0] == localapi.KindTerminal,
		out: make(chan []byte, relayQueue), readDone: make(chan struct{}), sent: make(chan struct{})}
	t.meta = RecordingMeta{ID: hoist.NewID("rec_"), Session: r.sid, User: r.x.peer.User, Argv: clipArgv(r.argv),
		Started: a.cfg.Clock.Now(), Input: mode == hoist.RecordOutputAndInput}
	if t.meta.Session == "" {
		t.meta.Session = r.runID
	}
	if err := t.open(cols, rows, r.x.req.Term); err != nil {
		t.closeFiles()
		return nil, nil, err
	}
	files := slices.Clone(r.x.files)
	for i, k := range kinds {
		if k == localapi.KindTerminal {
			files[i] = follower
		}
	}
	return t, files, nil
}

// recordBudget is the bytes of events a session's recordings may still
// write, shared by them all.
type recordBudget struct {
	mu   sync.Mutex
	left int64
}

// take charges n bytes and reports true or, when fewer are left, spends
// what is left and reports false: once one recording of the session is
// cut, every later one is too.
func (b *recordBudget) take(n int64) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if n > b.left {
		b.left = 0
		return false
	}
	b.left -= n
	return true
}

// open creates the recording's file within the session's budget.
func (t *termRelay) open(cols, rows int, term string) error {
	a := t.a
	if err := os.MkdirAll(a.recordingDir(), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(a.recordingDir(), t.meta.ID+".cast"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	a.recs.mu.Lock()
	budget := a.recs.budgets[t.meta.Session]
	if budget == nil {
		if a.recs.budgets == nil {
			a.recs.budgets = map[string]*recordBudget{}
		}
		budget = &recordBudget{left: a.recordLimit()}
		a.recs.budgets[t.meta.Session] = budget
	}
	a.recs.active[t.meta.ID] = true
	a.recs.mu.Unlock()
	if term == "" {
		term = "xterm"
	}
	t.cast, err = newCastWriter(f, cols, rows, t.meta.Started, term, budget)
	if err == nil {
		// Described at once too, for a hoistd killed before the end: its
		// next start uploads what was written, under the right session.
		err = t.describe(".start")
	}
	if err != nil {
		f.Close()
		t.forget()
	}
	return err
}

// start relays once the program has its terminal; hoistd lets go of its
// copy of the follower, so the leader's reader ends when the program and
// whatever it left in the background have all closed theirs.
func (t *termRelay) start() {
	t.follower.Close()
	t.follower = nil
	go t.readProgram()
	go t.writeCaller()
	if t.keys {
		go t.readKeys()
	}
}

// readProgram records the program's output and queues it for the client;
// it never waits for the client.
func (t *termRelay) readProgram() {
	defer close(t.readDone)
	defer close(t.out)
	buf := make([]byte, 32<<10)
	for {
		n, err := t.leader.Read(buf)
		if n > 0 {
			chunk := slices.Clone(buf[:n])
			t.cast.output(chunk)
			select {
			case t.out <- chunk:
			default:
				t.dropped.Add(int64(n)) // the client is not reading
			}
		}
		if err != nil {
			return // EIO once every holder of the follower closed it; or closed
		}
	}
}

// writeCaller gives the client the program's output.
func (t *termRelay) writeCaller() {
	defer close(t.sent)
	for chunk := range t.out {
		if _, err := t.caller.Write(chunk); err != nil {
			for range t.out { // keep the reader from ever waiting
			}
			return
		}
	}
}

// readKeys passes what the user types to the program, recorded when the
// configuration says so.
func (t *termRelay) readKeys() {
	buf := make([]byte, 4<<10)
	for {
		n, err := t.caller.Read(buf)
		if n > 0 {
			if t.meta.Input {
				t.cast.input(buf[:n])
			}
			if _, werr := t.leader.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// resize applies the client's new terminal size and records it.
func (t *termRelay) resize(cols, rows int) {
	if setWinSize(t.leader, cols, rows) == nil {
		t.cast.resize(cols, rows)
	}
}

// finish ends the relay once the program has exited: the last output is
// read (something left in the background gets lingerTimeout), handed to
// the client within flushTimeout, the recording closed, described for the
// upload and audited. Safe to call more than once.
func (t *termRelay) finish() {
	t.finishOnce.Do(func() {
		select {
		case <-t.readDone:
		case <-time.After(lingerTimeout):
		}
		t.leader.Close() // hangs up what is left on the terminal, as a closing terminal window does
		<-t.readDone
		_ = t.caller.SetWriteDeadline(time.Now().Add(flushTimeout))
		<-t.sent
		t.caller.Close() // ends readKeys
		t.done()
	})
}

// done closes the recording, writes its description and audits it.
func (t *termRelay) done() {
	a := t.a
	truncated, size, err := t.cast.close()
	t.meta.Ended, t.meta.Bytes, t.meta.Truncated = a.cfg.Clock.Now(), size, truncated
	a.recs.mu.Lock()
	a.recs.used[t.meta.Session] += size
	a.recs.mu.Unlock()
	if err == nil {
		err = t.describe(".json")
	}
	t.forget()
	if err != nil {
		a.cfg.Logger.Error("cannot keep a terminal recording", "recording", t.meta.ID, "err", err)
		a.audit("recording.failed", t.meta.User, t.meta.Session, map[string]any{"recording": t.meta.ID, "error": err.Error()})
		return
	}
	detail := map[string]any{"recording": t.meta.ID, "bytes": size, "input": t.meta.Input, "argv": t.meta.Argv}
	if d := t.dropped.Load(); d > 0 {
		detail["not_shown_bytes"] = d // output the client did not read in time: recorded, not shown
	}
	if truncated {
		detail["truncated"] = true
		a.audit("recording.truncated", t.meta.User, t.meta.Session, map[string]any{"recording": t.meta.ID, "limit_bytes": a.recordLimit()})
	}
	a.audit("recording.finished", t.meta.User, t.meta.Session, detail)
}

// describe writes the recording's description: ext ".start" when it
// begins, ".json" (which marks it finished) at its end.
func (t *termRelay) describe(ext string) error {
	data, err := json.Marshal(t.meta)
	if err != nil {
		return err
	}
	return WriteFileAtomic(filepath.Join(t.a.recordingDir(), t.meta.ID+ext), data)
}

func (t *termRelay) forget() {
	t.a.recs.mu.Lock()
	delete(t.a.recs.active, t.meta.ID)
	t.a.recs.mu.Unlock()
}

// abandon undoes a relay whose program did not start.
func (t *termRelay) abandon() {
	t.closeFiles()
	if t.cast != nil {
		t.cast.close()
		_ = t.a.RecordingUploaded(t.meta.ID) // nothing to keep: removes its files
	}
	t.forget()
}

func (t *termRelay) closeFiles() {
	for _, f := range []*os.File{t.leader, t.follower, t.caller} {
		if f != nil {
			f.Close()
		}
	}
}

// maxPendingRecordings bounds one listing of PendingRecordings.
const maxPendingRecordings = 100

// PendingRecordings lists finished recordings not yet uploaded, oldest
// first, at most maxPendingRecordings. A recording hoistd stopped writing
// without finishing (it was killed) is described and listed as it is.
func (a *Agent) PendingRecordings() ([]RecordingMeta, error) {
	names, err := filepath.Glob(filepath.Join(a.recordingDir(), "rec_*.cast"))
	if err != nil || len(names) == 0 {
		return nil, err
	}
	var out []RecordingMeta
	for _, name := range names {
		id := strings.TrimSuffix(filepath.Base(name), ".cast")
		a.recs.mu.Lock()
		active := a.recs.active[id]
		a.recs.mu.Unlock()
		if active {
			continue
		}
		m, err := a.recordingMeta(id, name)
		if err != nil {
			a.cfg.Logger.Warn("a terminal recording cannot be described; leaving it", "recording", id, "err", err)
			continue
		}
		out = append(out, m)
	}
	slices.SortFunc(out, func(x, y RecordingMeta) int { return x.Started.Compare(y.Started) })
	if len(out) > maxPendingRecordings {
		out = out[:maxPendingRecordings]
	}
	return out, nil
}

func (a *Agent) recordingMeta(id, cast string) (RecordingMeta, error) {
	var m RecordingMeta
	data, err := os.ReadFile(filepath.Join(a.recordingDir(), id+".json"))
	if errors.Is(err, os.ErrNotExist) {
		// Left by a hoistd that stopped mid-run: what was written is kept,
		// described as it began.
		st, serr := os.Stat(cast)
		if serr != nil {
			return m, serr
		}
		start, serr := os.ReadFile(filepath.Join(a.recordingDir(), id+".start"))
		if serr != nil || len(start) > 64<<10 || json.Unmarshal(start, &m) != nil || m.ID != id {
			return m, fmt.Errorf("no description of how it began")
		}
		m.Ended, m.Bytes = st.ModTime(), st.Size()
		data, _ = json.Marshal(m)
		return m, WriteFileAtomic(filepath.Join(a.recordingDir(), id+".json"), data)
	}
	if err != nil {
		return m, err
	}
	if len(data) > 64<<10 {
		return m, fmt.Errorf("description of %d bytes", len(data))
	}
	err = json.Unmarshal(data, &m)
	return m, err
}

// RecordingPath is the file of the recording id.
func (a *Agent) RecordingPath(id string) string {
	return filepath.Join(a.recordingDir(), filepath.Base(id)+".cast")
}

// RecordingUploaded removes a recording the server has stored whole.
func (a *Agent) RecordingUploaded(id string) error {
	id = filepath.Base(id)
	for _, ext := range []string{".cast", ".start"} {
		if err := os.Remove(filepath.Join(a.recordingDir(), id+ext)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	return os.Remove(filepath.Join(a.recordingDir(), id+".json"))
}
