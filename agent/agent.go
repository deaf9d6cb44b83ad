// Package agent is the core of hoistd, the root broker on each machine: it
// holds the JIT sessions granted to this machine's users, serves the local
// socket, starts elevated programs inside the session's cgroup, and ends
// every one of them when the session ends — at expiry, at "hoist exit", or
// on revoke — even across a restart of hoistd itself.
//
// What arrives on the socket is untrusted: identity comes only from the
// kernel (SO_PEERCRED, the peer pidfd), never from the message; the
// environment, working directory and limits of elevated programs are built
// here from scratch.
package agent

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/platform"
)

// MaxWindow caps any session on this machine, whatever a server signs: a
// compromised or mistaken server cannot hand out root for a year.
const MaxWindow = 7 * 24 * time.Hour

// DefaultGrace is how long elevated programs have between SIGTERM and the
// kill at the end of a session.
const DefaultGrace = 10 * time.Second

// Config configures an Agent.
type Config struct {
	// StateDir keeps sessions and the audit outbox; created 0700.
	StateDir string
	// Tracker makes the per-session containers: cgroups, or the fork-event
	// tracker where cgroup v2 is missing.
	Tracker platform.Tracker
	// Grace is the default grace period at the end of a session.
	Grace time.Duration
	// EndMargin is how long an end may run past the grace period before
	// what is left is recorded as unkillable (DefaultEndMargin when zero).
	EndMargin time.Duration
	// DesktopDir is where the JIT launcher goes (DefaultDesktopDir when
	// empty). Tests give their own directory: the system's is shared by
	// every hoistd on the machine.
	DesktopDir string
	// AutostartDir is where the quiet JIT helper's autostart entry goes,
	// written once by New; empty: none (hoistd run passes
	// DefaultAutostartDir).
	AutostartDir string
	// HoistPath is the hoist command desktop entries run ("hoist", found
	// on PATH, when empty); InstalledHoist chooses it for hoistd run.
	HoistPath string
	// Clock gives the time and the expiry timers (RealClock when nil).
	Clock  Clock
	Logger *slog.Logger
	// BundleKey is the server's key that signs policy bundles (the grant
	// key); with it the stored bundle is in force from the start, before
	// the link to the server is up. SetBundleKey sets it later.
	BundleKey ed25519.PublicKey
	// VerifyGrant checks a server's signed grant as of at and returns what
	// it grants; set on an enrolled machine, it is how a session file edited
	// on disk is caught when hoistd reads it again.
	VerifyGrant func(signed string, at time.Time) (hoist.Grant, error)
	// Sudo turns on the sudo and pkexec integration (nil: off).
	Sudo *SudoConfig
	// Changes takes the snapshots of the sessions' change reports (nil: no
	// reports); the configuration's change_report turns them off per group.
	Changes Snapshotter
	// ChangesTimeout bounds each snapshot (DefaultChangesTimeout when
	// zero).
	ChangesTimeout time.Duration
	// RecordLimit is the most bytes of terminal recording a session keeps
	// (DefaultRecordLimit when zero); see record.go.
	RecordLimit int64
	// Execs is the kernel's record of the programs started in sessions and
	// policy runs (nil: none is kept); the caller closes it after Close.
	Execs platform.ExecWatcher
	// ExecBudget is how many execs of one session are recorded in full
	// (DefaultExecBudget when zero); the rest are counted and summarised.
	ExecBudget int
}

// Agent is hoistd's core.
type Agent struct {
	cfg    Config
	outbox *Outbox
	mu     sync.Mutex
	// byUser holds each user's latest session: one session per user at a time.
	byUser map[string]*session
	// activating marks users whose session is being made (outside mu).
	activating map[string]bool
	// pending holds each user's latest request to the server.
	pending  map[string]RequestInfo
	upstream Upstream
	// wg counts the ends in progress; Close waits for them.
	wg     sync.WaitGroup
	closed bool
	// stop is closed by Close, for the background work that outlives a
	// call (retrying the kill of stuck processes).
	stop chan struct{}
	// closes are the descriptors callers passed, being closed per user: a
	// close can block (a FUSE flush, a socket Disarm could not reach), and
	// it must hold nothing but that user's own budget.
	closes closeQueue

	// limits bound the writes each user's calls cause.
	limits *windowLimiter
	// pol is the policy bundle in force; guarded by mu.
	pol policyState

	// sudo is the sudo integration (nil: off); sudoMu orders its syncs.
	sudo   *sudoState
	sudoMu sync.Mutex

	connMu    sync.Mutex
	conns     map[int]int // open connections per uid
	connTotal int

	// snapshots holds the one change-report snapshot being taken.
	snapshots chan struct{}
	// recs keeps count of the terminal recordings (record.go).
	recs recordings
	// off is offline approval's key and challenges (offline.go).
	off offline
	// execs records the programs run in sessions (nil: no watcher).
	execs *execLog
}

// Upstream is the server, as the agent asks it things.
type Upstream interface {
	// Request files a user's request and returns it (the open one, when the
	// user asked before).
	Request(ctx context.Context, user, reason string, d time.Duration) (RequestInfo, error)
	// SessionEnded tells the server that a user ended a session here.
	SessionEnded(sessionID string)
	// Cancel withdraws user's waiting request.
	Cancel(ctx context.Context, user string) (RequestInfo, error)
}

// RequestInfo is a request as the agent knows it.
type RequestInfo struct {
	ID    string `json:"id"`
	State string `json:"state"` // pending, approved, denied, expired
	// Reason is the approver's note on a decision.
	Reason string `json:"reason,omitempty"`
	// Existing is set when the ask found the user's request still waiting.
	Existing bool `json:"-"`
	// Extension marks a request for more time on a session: a new ask
	// for JIT mode does not wait on it.
	Extension bool `json:"extension,omitempty"`
}

// SetUpstream connects the agent to its server.
func (a *Agent) SetUpstream(u Upstream) {
	a.mu.Lock()
	a.upstream = u
	a.mu.Unlock()
}

// Decided records the server's decision on a user's request.
func (a *Agent) Decided(user, requestID, state, reason string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cur, ok := a.pending[user]; ok && cur.ID == requestID {
		a.pending[user] = RequestInfo{ID: requestID, State: state, Reason: reason}
	}
}

// Request asks the server for JIT mode for user.
func (a *Agent) Request(ctx context.Context, user, reason string, d time.Duration) (RequestInfo, error) {
	a.mu.Lock()
	up := a.upstream
	a.mu.Unlock()
	if up == nil {
		return RequestInfo{}, hoist.Errorf(hoist.EUnavailable, "this machine is not enrolled with a hoist-server, so JIT mode cannot be requested here (an administrator runs: hoistd enroll)")
	}
	if a.activeFor(user) != nil {
		return RequestInfo{}, hoist.Errorf(hoist.EConflict, "JIT elevated access is already active for %s", user)
	}
	a.mu.Lock()
	waiting := a.pending[user]
	a.mu.Unlock()
	if waiting.State == "pending" && !waiting.Extension {
		waiting.Existing = true // asking again makes no second request
		return waiting, nil
	}
	j, ok, _ := a.jit()
	if !ok {
		return RequestInfo{}, hoist.Errorf(hoist.EForbidden, "JIT mode is not enabled for this machine: ask your administrator to activate the JIT policies for its computer group")
	}
	d, err := a.Bundle().StartupRules(j).MayRequest(user, unixGroups(user), d, reason)
	if err != nil {
		return RequestInfo{}, err
	}
	info, err := up.Request(ctx, user, reason, d)
	if err != nil {
		return info, err
	}
	a.mu.Lock()
	a.pending[user] = info
	a.mu.Unlock()
	return info, nil
}

// Cancel withdraws user's waiting request: the user no longer needs it.
func (a *Agent) Cancel(ctx context.Context, user string) (RequestInfo, error) {
	a.mu.Lock()
	up, waiting := a.upstream, a.pending[user]
	a.mu.Unlock()
	if up == nil || waiting.State != "pending" {
		return RequestInfo{}, hoist.Errorf(hoist.ENotFound, "you have no request waiting for approval")
	}
	info, err := up.Cancel(ctx, user)
	if err != nil {
		return info, err
	}
	a.mu.Lock()
	if cur := a.pending[user]; cur.ID == waiting.ID {
		a.pending[user] = RequestInfo{ID: waiting.ID, State: info.State}
	}
	a.mu.Unlock()
	return info, nil
}

// New opens the state directory, resumes the sessions it holds — ending at
// once those whose window closed while hoistd was down — and returns the
// agent.
func New(cfg Config) (*Agent, error) {
	if cfg.StateDir == "" {
		return nil, errors.New("a state directory is required")
	}
	if cfg.Grace <= 0 {
		cfg.Grace = DefaultGrace
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.EndMargin <= 0 {
		cfg.EndMargin = DefaultEndMargin
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := platform.SealInheritedFDs(); err != nil {
		return nil, fmt.Errorf("seal inherited descriptors: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "sessions"), 0o700); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	if err := os.Chmod(cfg.StateDir, 0o700); err != nil {
		return nil, err
	}
	outbox, err := OpenOutboxWith(filepath.Join(cfg.StateDir, "outbox.jsonl"), OutboxOptions{Now: cfg.Clock.Now})
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, outbox: outbox, byUser: map[string]*session{}, activating: map[string]bool{}, pending: map[string]RequestInfo{},
		stop: make(chan struct{}), closes: closeQueue{byUID: map[int]*userCloses{}}, conns: map[int]int{}, limits: newWindowLimiter(),
		snapshots: make(chan struct{}, 1), recs: recordings{used: map[string]int64{}, active: map[string]bool{}}}
	if cfg.Execs != nil {
		a.execs = newExecLog(cfg.Execs, cfg.ExecBudget, a.auditAt, cfg.Logger)
	}
	if cfg.BundleKey != nil {
		a.pol.key = cfg.BundleKey
		a.loadPolicy()
	}
	// Before resume: an offline session is checked against the key.
	a.loadOffline()
	if cfg.Sudo != nil {
		if a.sudo, err = prepareSudo(*cfg.Sudo); err != nil {
			a.execs.close()
			outbox.Close()
			return nil, err
		}
	}
	if err := a.resume(); err != nil {
		a.execs.close()
		outbox.Close()
		return nil, err
	}
	a.sweepRuns()
	a.syncSudo()
	if cfg.AutostartDir != "" {
		if err := InstallAutostart(cfg.AutostartDir, cfg.HoistPath); err != nil {
			cfg.Logger.Warn("cannot install the JIT helper's autostart entry", "dir", cfg.AutostartDir, "err", err)
		}
	}
	return a, nil
}

// sweepRuns removes the process groups of policy-elevated programs that a
// previous hoistd left empty. A group still in use is left to run: its
// program may be an upgrade halfway through, and killing it would do more
// harm than the leftover does.
func (a *Agent) sweepRuns() {
	lister, ok := a.cfg.Tracker.(interface{ Groups() ([]string, error) })
	if !ok {
		return
	}
	names, err := lister.Groups()
	if err != nil {
		a.cfg.Logger.Warn("cannot list process groups", "err", err)
		return
	}
	for _, name := range names {
		if !strings.HasPrefix(name, RunIDPrefix) {
			continue
		}
		g, err := a.cfg.Tracker.OpenGroup(name)
		if err != nil {
			continue
		}
		if pids, err := g.Pids(); err == nil && len(pids) == 0 {
			_, _ = g.End(context.Background(), 0)
		} else {
			a.cfg.Logger.Warn("a policy-elevated program from before the restart still runs; its group stays", "run", name, "pids", pids)
		}
	}
}

// HelperInfo is what the JIT helper needs besides the state: whether JIT
// mode is available here, the rules of a request, and when to remind.
type HelperInfo struct {
	JIT             bool
	ReasonRequired  bool
	Durations       []time.Duration
	DefaultDuration time.Duration
	MaxDuration     time.Duration
	Reminders       []time.Duration
	// ReminderEvery is the period of the reminders before Reminders (0:
	// none).
	ReminderEvery time.Duration
}

// Helper returns the JIT helper's facts for this machine.
func (a *Agent) Helper() HelperInfo {
	b := a.Bundle()
	j, ok := b.JIT()
	info := HelperInfo{JIT: ok, Reminders: durations(hoist.DefaultReminders), ReminderEvery: hoist.DefaultReminderEvery}
	if !ok {
		_, _, received := a.jit()
		info.JIT = !received // a machine without a server has root's local grants
	} else {
		r := b.StartupRules(j)
		info.ReasonRequired, info.Durations = r.ReasonRequired, durations(r.Durations)
		info.DefaultDuration, info.MaxDuration = r.DefaultDuration.D(), r.MaxDuration.D()
		if info.DefaultDuration == 0 {
			info.DefaultDuration = hoist.DefaultOneTimeDuration
		}
		if info.MaxDuration == 0 {
			info.MaxDuration = hoist.DefaultMaxDuration
		}
	}
	// The child-processes policy's schedule, else the configuration's.
	if ok && j.Children.Children != nil && len(j.Children.Children.Reminders) > 0 {
		info.Reminders = durations(j.Children.Children.Reminders)
	} else if len(b.Config.Reminders) > 0 {
		info.Reminders = durations(b.Config.Reminders)
	}
	// The period likewise, each source deciding on its own: a policy that
	// sets only the final marks keeps the configuration's period.
	if ok && j.Children.Children != nil && j.Children.Children.ReminderEvery != nil {
		info.ReminderEvery = j.Children.Children.ReminderEvery.D()
	} else if b.Config.ReminderEvery != nil {
		info.ReminderEvery = b.Config.ReminderEvery.D()
	}
	return info
}

func durations(ds []hoist.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.D()
	}
	return out
}

// Outbox is the agent's queue of audit events for the server.
func (a *Agent) Outbox() *Outbox { return a.outbox }

// Close stops the expiry timers and waits for ends in progress. Sessions
// stay on disk, and their processes run on: the next hoistd adopts them.
// With no sudoers drop-in left, the sudo integration's PAM step, polkit
// rule and hook copy are taken out (docs/sudo.md).
func (a *Agent) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	close(a.stop)
	for _, s := range a.byUser {
		if s.timer != nil {
			s.timer.Stop()
		}
	}
	a.mu.Unlock()
	a.wg.Wait() // ends have deadlines: this returns
	a.closeSudo()
	a.execs.close()
	return a.outbox.Close()
}

// audit queues an event for the server. While the outbox is full an event
// is refused; the outbox counts those and records the count itself, so
// each one is not logged here too.
func (a *Agent) audit(action, actor, subject string, detail map[string]any) {
	a.auditAt(action, actor, subject, a.cfg.Clock.Now(), detail)
}

// auditAt queues an event that happened at at.
func (a *Agent) auditAt(action, actor, subject string, at time.Time, detail map[string]any) {
	err := a.outbox.Append(action, actor, subject, at, detail)
	if err != nil && !errors.Is(err, ErrOutboxFull) {
		a.cfg.Logger.Error("cannot queue an audit event", "action", action, "err", err)
	}
}

// auditCritical queues an event that must not be lost even when the
// outbox is full (it may use the outbox's reserve): the end of a session
// and what it found.
func (a *Agent) auditCritical(action, actor, subject string, detail map[string]any) {
	if err := a.outbox.AppendCritical(action, actor, subject, a.cfg.Clock.Now(), detail); err != nil {
		a.cfg.Logger.Error("cannot queue an audit event", "action", action, "err", err)
	}
}

// auditOnce queues, as auditCritical, an event for a fact that happens
// once, keyed by key (see Outbox.AppendCriticalOnce): recorded again, it
// is stored once. It returns the outbox's error, logged already.
func (a *Agent) auditOnce(key, action, actor, subject string, detail map[string]any) error {
	err := a.outbox.AppendCriticalOnce(key, action, actor, subject, a.cfg.Clock.Now(), detail)
	if err != nil {
		a.cfg.Logger.Error("cannot queue an audit event", "action", action, "err", err)
	}
	return err
}

// readFileLimit reads at most limit bytes of path, refusing a larger file.
func readFileLimit(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}

// writeFileAtomic replaces path with data, durably.
func writeFileAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// The rename is durable only once the directory is.
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}

// WriteFileAtomic replaces path with data, durably: for other packages of
// hoistd (the link's cursor).
func WriteFileAtomic(path string, data []byte) error { return writeFileAtomic(path, data) }
