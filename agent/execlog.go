package agent

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/platform"
)

// ActionSessionCommands is the audit action of a batch of exec records: the
// programs that ran in a session (subject: the session id) or in a
// policy-elevated run (subject: the run id). See docs/session-audit.md.
const ActionSessionCommands = "session.commands"

// Defaults of the exec record's bounds.
const (
	// DefaultExecBudget is how many execs of one session are recorded in
	// full; beyond it they are counted, and summarised.
	DefaultExecBudget = 1000
	// execBatchBytes bounds one batch's JSON, well under MaxEventBytes.
	execBatchBytes = 12 << 10
	// execFlushEvery is how often pending records go to the outbox.
	execFlushEvery = time.Second
	// execQuiet is how many quiet flushes after a group's end its final
	// batch waits for the kernel's last events (its processes are dead by
	// then, so their events are queued already).
	execQuiet = 2
	// execMaxFinalWait bounds that wait, in flushes, during a storm.
	execMaxFinalWait = 10
	// maxProgramNames bounds the distinct programs counted past the budget.
	maxProgramNames = 4096
	// maxHashBytes is the largest executable hashed; hashes are cached by
	// file identity, so a storm of one program hashes it once.
	maxHashBytes = 64 << 20
)

// ExecRecord is one program started, as the server receives it in an
// ActionSessionCommands batch.
type ExecRecord struct {
	// N numbers the group's recorded execs from 1; an exit reported in a
	// later batch names its exec by N.
	N    int       `json:"n"`
	At   time.Time `json:"at"`
	Pid  int       `json:"pid"`
	Ppid int       `json:"ppid"`
	UID  int       `json:"uid"`
	// Path is the file the exec named; Exe the executable it resolved to.
	Path      string   `json:"path,omitempty"`
	Exe       string   `json:"exe,omitempty"`
	SHA256    string   `json:"exe_sha256,omitempty"`
	Argv      []string `json:"argv"`
	Truncated bool     `json:"truncated,omitempty"`
	Cwd       string   `json:"cwd,omitempty"`
	// Gone is set when the process had exited before hoistd could read its
	// cwd and executable: those are then unknown.
	Gone bool `json:"gone,omitempty"`
	// ExitStatus is the shell's number (128+n for signal n); nil while
	// the program runs.
	ExitStatus *int `json:"exit_status,omitempty"`
}

// execExit is the end of a program recorded in an earlier batch.
type execExit struct {
	N          int       `json:"n"`
	At         time.Time `json:"at"`
	ExitStatus int       `json:"exit_status"`
}

// execGroup is the record of one session or run.
type execGroup struct {
	// stream names this hoistd's record of the group: after a restart the
	// numbering starts again, in a new stream.
	id, user, run, stream string
	recorded              int                 // execs recorded in full
	open                  map[int]int         // pid -> N of a recorded exec still running
	pending               []*ExecRecord       // not yet sent
	byN                   map[int]*ExecRecord // pending, by N
	exits                 []execExit
	size                  int // estimated JSON bytes of pending and exits
	omitted               int // execs past the budget
	sentOmitted           int // omitted as of the last batch
	programs              map[string]bool
	ending                bool
	quiet, waited         int
	busy                  bool // events arrived since the last flush
}

// execLog turns an ExecWatcher's events into bounded, batched audit
// records. One goroutine reads the events; a session's start and end only
// take a short lock, so neither waits on the kernel or on the outbox.
type execLog struct {
	w      platform.ExecWatcher
	budget int
	emit   func(action, actor, subject string, at time.Time, detail map[string]any)
	log    *slog.Logger
	hashes *exeHasher

	mu     sync.Mutex
	groups map[string]*execGroup
	done   chan struct{}
	stop   chan struct{}
}

func newExecLog(w platform.ExecWatcher, budget int, emit func(string, string, string, time.Time, map[string]any), log *slog.Logger) *execLog {
	if budget <= 0 {
		budget = DefaultExecBudget
	}
	l := &execLog{w: w, budget: budget, emit: emit, log: log, hashes: newExeHasher(exeHashWait),
		groups: map[string]*execGroup{}, done: make(chan struct{}), stop: make(chan struct{})}
	go l.run()
	return l
}

// watch starts the record of group g, of session id (run: the run id of a
// policy-elevated program, "" for a session) for user.
func (l *execLog) watch(id, run, user string, g platform.Group) {
	if l == nil || g == nil {
		return
	}
	l.mu.Lock()
	if _, ok := l.groups[id]; !ok {
		l.groups[id] = &execGroup{id: id, user: user, run: run, stream: hoist.NewID(""), open: map[int]int{}, byN: map[int]*ExecRecord{}, programs: map[string]bool{}}
	}
	l.mu.Unlock()
	if err := l.w.Watch(id, g); err != nil {
		l.log.Warn("cannot record the programs of a session", "session", id, "err", err)
	}
}

// finish marks the group ended: its processes are dead, and the final
// batch, with the summary of what was left out, follows once the kernel's
// last events are read. It never waits for that.
func (l *execLog) finish(id string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	if g, ok := l.groups[id]; ok {
		g.ending = true
	}
	l.mu.Unlock()
}

// close stops the log; what is pending is sent as it stands.
func (l *execLog) close() {
	if l == nil {
		return
	}
	close(l.stop)
	<-l.done
}

func (l *execLog) run() {
	defer close(l.done)
	tick := time.NewTicker(execFlushEvery)
	defer tick.Stop()
	for {
		select {
		case ev, ok := <-l.w.Events():
			if !ok {
				l.flushAll(true)
				return
			}
			l.add(ev)
		case <-tick.C:
			l.flushAll(false)
		case <-l.stop:
			l.flushAll(false)
			return
		}
	}
}

// add takes one event into its group's record.
func (l *execLog) add(ev platform.ExecEvent) {
	l.mu.Lock()
	g, ok := l.groups[ev.Group]
	l.mu.Unlock()
	if !ok {
		return
	}
	g.busy = true
	if ev.Exit {
		l.addExit(g, ev)
		return
	}
	if g.recorded >= l.budget {
		g.omitted++
		if len(g.programs) < maxProgramNames {
			g.programs[filepath.Base(ev.Path)] = true
		}
		return
	}
	g.recorded++
	r := &ExecRecord{N: g.recorded, At: ev.At.UTC(), Pid: ev.Pid, Ppid: ev.Ppid, UID: ev.UID, Path: ev.Path, Argv: clipArgv(ev.Argv), Truncated: ev.Truncated}
	if r.Argv == nil {
		r.Argv = []string{}
	}
	l.enrich(r)
	size := boundRecord(r)
	if g.size+size > execBatchBytes {
		l.flush(g, false)
	}
	g.open[ev.Pid] = r.N
	g.byN[r.N] = r
	g.pending = append(g.pending, r)
	g.size += size
}

// boundRecord keeps one record well inside a batch: an argv of many
// escaped bytes is cut further. It returns the record's estimated size.
func boundRecord(r *ExecRecord) int {
	const most = 6 << 10
	size := recordSize(r)
	for _, each := range []int{256, 32} {
		if size <= most {
			break
		}
		for i, a := range r.Argv {
			r.Argv[i] = clipTo(a, each)
		}
		if len(r.Argv) > 16 {
			r.Argv = append(r.Argv[:16], fmt.Sprintf("…[%d more arguments cut]", len(r.Argv)-16))
		}
		r.Truncated = true
		size = recordSize(r)
	}
	return size
}

func (l *execLog) addExit(g *execGroup, ev platform.ExecEvent) {
	n, ok := g.open[ev.Pid]
	if !ok {
		return // a process recorded past the budget, or one that never exec'd
	}
	delete(g.open, ev.Pid)
	code := platform.ExitCode(ev.ExitStatus)
	if r, ok := g.byN[n]; ok {
		r.ExitStatus = &code
		return
	}
	if g.size+64 > execBatchBytes {
		l.flush(g, false)
	}
	g.exits = append(g.exits, execExit{N: n, At: ev.At.UTC(), ExitStatus: code})
	g.size += 64
}

// enrich adds what /proc still tells about the process: its cwd and
// executable (hashed when cheap). A process already gone is marked so;
// nothing here waits on the process.
func (l *execLog) enrich(r *ExecRecord) {
	dir := "/proc/" + strconv.Itoa(r.Pid)
	cwd, err := os.Readlink(dir + "/cwd")
	exe, err2 := os.Readlink(dir + "/exe")
	if err != nil || err2 != nil {
		r.Gone = true
		return
	}
	r.Cwd, r.Exe = clipTo(cwd, 1024), clipTo(exe, 1024)
	r.SHA256 = l.hashes.sum(dir + "/exe")
}

// flushAll sends each group's pending records, and the final batch of the
// groups that ended and went quiet.
func (l *execLog) flushAll(final bool) {
	type entry struct {
		g      *execGroup
		ending bool
	}
	l.mu.Lock()
	groups := make([]entry, 0, len(l.groups))
	for _, g := range l.groups {
		groups = append(groups, entry{g, g.ending}) // ending is set under mu by finish
	}
	l.mu.Unlock()
	for _, e := range groups {
		g := e.g
		last := final
		if e.ending {
			if g.busy {
				g.quiet = 0
			} else {
				g.quiet++
			}
			g.waited++
			last = last || g.quiet >= execQuiet || g.waited >= execMaxFinalWait
		}
		g.busy = false
		l.flush(g, last)
		if last {
			l.w.Unwatch(g.id)
			l.mu.Lock()
			delete(l.groups, g.id)
			l.mu.Unlock()
		}
	}
}

// flush writes one batch of g, if there is anything to say; the final one
// always, with the summary.
func (l *execLog) flush(g *execGroup, final bool) {
	if len(g.pending) == 0 && len(g.exits) == 0 && g.omitted == g.sentOmitted && !final {
		return
	}
	detail := map[string]any{"source": l.w.Source(), "stream": g.stream, "commands": g.pending}
	if len(g.exits) > 0 {
		detail["exits"] = g.exits
	}
	if g.run != "" {
		detail["run"] = g.run
	}
	if g.omitted > 0 {
		detail["omitted"] = g.omitted
		detail["omitted_since_last"] = g.omitted - g.sentOmitted
		detail["omitted_programs"] = len(g.programs)
	}
	if final {
		detail["final"] = true
		detail["recorded"] = g.recorded
		if lost := l.w.Lost(); lost > 0 {
			detail["lost_by_source"] = lost // the watcher's count, all groups
		}
		if g.omitted > 0 {
			detail["summary"] = fmt.Sprintf("%d more execs of %d distinct programs omitted (the first %d are recorded)", g.omitted, len(g.programs), l.budget)
		}
	}
	subject := g.id
	l.emit(ActionSessionCommands, g.user, subject, time.Now(), detail)
	g.pending, g.exits, g.size, g.sentOmitted = nil, nil, 0, g.omitted
	clear(g.byN)
}

// recordSize estimates r's JSON size.
func recordSize(r *ExecRecord) int {
	b, err := json.Marshal(r)
	if err != nil {
		return 256
	}
	return len(b)
}

func clipTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return clipUTF8(s, n)
}
