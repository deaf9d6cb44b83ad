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
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
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
	// DesktopDir is where the JIT launcher goes (DefaultDesktopDir when
	// empty).
	DesktopDir string
	// HoistPath is the hoist command desktop entries run ("hoist", found
	// on PATH, when empty).
	HoistPath string
	Clock     func() time.Time
	Logger    *slog.Logger
}

// Grant is an approved window of JIT mode for one user of this machine.
type Grant struct {
	SessionID string
	RequestID string
	User      string
	NotBefore time.Time
	NotAfter  time.Time
	// Grace overrides the default grace period when positive.
	Grace time.Duration
	// By says who granted it, for the audit log.
	By string
}

// record is a session as kept on disk.
type record struct {
	ID        string        `json:"id"`
	RequestID string        `json:"request_id,omitempty"`
	User      string        `json:"user"`
	NotBefore time.Time     `json:"not_before"`
	NotAfter  time.Time     `json:"not_after"`
	Grace     time.Duration `json:"grace"`
	State     string        `json:"state"` // active, ending, ended
	EndReason string        `json:"end_reason,omitempty"`
	EndedAt   time.Time     `json:"ended_at,omitzero"`
	// By is who granted it: "server", or root's local grant.
	By string `json:"by,omitempty"`
}

// localGrantBy marks root's local, break-glass grants: policies do not
// end them.
const localGrantBy = "root (local grant)"

type session struct {
	rec   record
	group platform.Group
	timer *time.Timer
	done  chan struct{} // closed when the end is complete
	end   platform.EndReport
	// watchers are the hoist run clients attached to the session's
	// programs, told when the end begins.
	watchers map[int]func(string)
	nextID   int
	// ending is set, in memory, by the one end() that does the work; a
	// session resumed from disk as "ending" still needs its end run.
	ending bool
	// startMu orders starts before the end: a run holds it shared while it
	// checks the session and starts its program; the end takes it
	// exclusively, so no program is born after the end has begun.
	startMu sync.RWMutex
}

// watch registers fn to hear the end of s; the returned func unregisters.
func (a *Agent) watch(s *session, fn func(string)) func() {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s.watchers == nil {
		s.watchers = map[int]func(string){}
	}
	id := s.nextID
	s.nextID++
	s.watchers[id] = fn
	return func() {
		a.mu.Lock()
		delete(s.watchers, id)
		a.mu.Unlock()
	}
}

// Agent is hoistd's core.
type Agent struct {
	cfg    Config
	outbox *Outbox
	mu     sync.Mutex
	// byUser holds each user's latest session: one session per user at a time.
	byUser map[string]*session
	// pending holds each user's latest request to the server.
	pending  map[string]RequestInfo
	upstream Upstream
	wg       sync.WaitGroup
	closed   bool
	// closing receives descriptors callers passed, to be closed by one
	// goroutine: a close can block (a socket lingering, a FUSE flush), and it
	// must not hold the connection's goroutine — let alone many threads.
	closing chan []*os.File

	refusals *refusalLimiter
	// pol is the policy bundle in force; guarded by mu.
	pol policyState

	connMu    sync.Mutex
	conns     map[int]int // open connections per uid
	connTotal int
}

// closeLater closes files in the background closer.
func (a *Agent) closeLater(files []*os.File) {
	if len(files) > 0 {
		a.closing <- files
	}
}

func (a *Agent) closer() {
	for files := range a.closing {
		for _, f := range files {
			f.Close()
		}
	}
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
	if waiting.State == "pending" {
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
		cfg.Clock = time.Now
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
	outbox, err := OpenOutbox(filepath.Join(cfg.StateDir, "outbox.jsonl"))
	if err != nil {
		return nil, err
	}
	a := &Agent{cfg: cfg, outbox: outbox, byUser: map[string]*session{}, pending: map[string]RequestInfo{}, closing: make(chan []*os.File, 4096), conns: map[int]int{}, refusals: newRefusalLimiter()}
	go a.closer()
	a.loadPolicy()
	if err := a.resume(); err != nil {
		outbox.Close()
		return nil, err
	}
	a.sweepRuns()
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

func (a *Agent) sessionPath(id string) string {
	return filepath.Join(a.cfg.StateDir, "sessions", id+".json")
}

// resume loads the stored sessions and adopts the active ones.
func (a *Agent) resume() error {
	paths, err := filepath.Glob(filepath.Join(a.cfg.StateDir, "sessions", "*.json"))
	if err != nil {
		return err
	}
	var recs []record
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var rec record
		if err := json.Unmarshal(data, &rec); err != nil || !hoist.ValidID(hoist.SessionIDPrefix, rec.ID) {
			a.cfg.Logger.Warn("skipping an unreadable session file", "path", p, "err", err)
			continue
		}
		recs = append(recs, rec)
	}
	sort.Slice(recs, func(i, j int) bool { return recs[i].NotBefore.Before(recs[j].NotBefore) })
	// Held while timers are armed: a timer that fires at once must find its
	// session complete.
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, rec := range recs {
		s := &session{rec: rec, done: make(chan struct{})}
		if rec.State == "ended" {
			close(s.done)
			a.byUser[rec.User] = s
			continue
		}
		// Active, or interrupted while ending: adopt the cgroup and finish the
		// job on time.
		g, err := a.cfg.Tracker.OpenGroup(rec.ID)
		if err != nil {
			// After a reboot the cgroup is gone (and so are its processes):
			// make it again, so that the session has its container.
			g, err = a.cfg.Tracker.NewGroup(rec.ID)
		}
		if err != nil {
			a.cfg.Logger.Error("cannot restore a session's cgroup; ending the session", "session", rec.ID, "err", err)
			rec.State = "ending"
			s.rec.State = "ending"
		}
		s.group = g
		a.byUser[rec.User] = s
		a.cfg.Logger.Info("resumed session", "session", rec.ID, "user", rec.User, "not_after", rec.NotAfter)
		a.schedule(s)
	}
	return nil
}

// schedule arms the expiry of s; a window already over ends it now. The
// caller holds a.mu.
func (a *Agent) schedule(s *session) {
	left := s.rec.NotAfter.Sub(a.cfg.Clock())
	if s.rec.State == "ending" {
		left = 0
	}
	s.timer = time.AfterFunc(max(left, 0), func() {
		_, _ = a.end(s, string(hoist.EndExpired), "hoistd")
	})
}

// Activate starts a session for g.User, replacing none: a user with an
// active session keeps it (EConflict).
func (a *Agent) Activate(g Grant) error {
	now := a.cfg.Clock()
	switch {
	case !hoist.ValidID(hoist.SessionIDPrefix, g.SessionID):
		return hoist.Errorf(hoist.EInvalid, "invalid session id")
	case g.User == "" || g.User == "root":
		return hoist.Errorf(hoist.EInvalid, "a grant needs a non-root user")
	case g.NotAfter.Sub(now) > MaxWindow:
		return hoist.Errorf(hoist.EInvalid, "the grant's window is longer than %s", MaxWindow)
	case !g.NotAfter.After(now):
		return hoist.Errorf(hoist.EInvalid, "the grant's window is already over")
	}
	grace := a.cfg.Grace
	if p := a.sessionGrace(); p > 0 {
		grace = p
	}
	if g.Grace > 0 {
		grace = g.Grace
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return hoist.Errorf(hoist.EUnavailable, "hoistd is shutting down")
	}
	if cur := a.byUser[g.User]; cur != nil && cur.rec.State != "ended" {
		if cur.rec.ID == g.SessionID {
			return nil // the same grant again: nothing to do
		}
		return hoist.Errorf(hoist.EConflict, "%s already has an active session", g.User)
	}
	// A session that was here once never starts again: a replayed grant after
	// a revoke or an exit is refused.
	if _, err := os.Stat(a.sessionPath(g.SessionID)); err == nil {
		return hoist.Errorf(hoist.EConflict, "session %s has already been used on this machine", g.SessionID)
	}
	group, err := a.cfg.Tracker.NewGroup(g.SessionID)
	if err != nil {
		return hoist.WrapError(hoist.EUnavailable, "cannot create the session's process group", err)
	}
	s := &session{
		rec: record{ID: g.SessionID, RequestID: g.RequestID, User: g.User, NotBefore: g.NotBefore, NotAfter: g.NotAfter,
			Grace: grace, State: "active", By: g.By},
		group: group,
		done:  make(chan struct{}),
	}
	if err := a.save(s.rec); err != nil {
		_, _ = group.End(context.Background(), 0)
		return err
	}
	a.byUser[g.User] = s
	if p, ok := a.pending[g.User]; ok && (p.ID == g.RequestID || g.RequestID == "") {
		a.pending[g.User] = RequestInfo{ID: p.ID, State: "approved"}
	}
	a.schedule(s)
	a.audit("session.started", g.User, s.rec.ID, map[string]any{"request_id": g.RequestID, "not_after": g.NotAfter, "by": g.By})
	a.cfg.Logger.Info("session started", "session", s.rec.ID, "user", g.User, "not_after", g.NotAfter)
	return nil
}

// save writes rec atomically.
func (a *Agent) save(rec record) error {
	data, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	return writeFileAtomic(a.sessionPath(rec.ID), data)
}

// activeFor returns the user's active session, or nil.
func (a *Agent) activeFor(user string) *session {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.byUser[user]
	if s == nil || s.rec.State != "active" || !a.cfg.Clock().Before(s.rec.NotAfter) {
		return nil
	}
	return s
}

// stillActive reports whether s has not begun to end; callers hold
// s.startMu shared.
func (a *Agent) stillActive(s *session) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !s.ending && s.rec.State == "active" && a.cfg.Clock().Before(s.rec.NotAfter) && s.group != nil
}

// EndUser ends user's active session for reason; it returns when every
// elevated process is gone.
func (a *Agent) EndUser(user, reason, actor string) (platform.EndReport, string, error) {
	a.mu.Lock()
	s := a.byUser[user]
	a.mu.Unlock()
	if s == nil || s.rec.State == "ended" {
		return platform.EndReport{}, "", hoist.Errorf(hoist.ENotFound, "JIT elevated access is not active for %s", user)
	}
	rep, err := a.end(s, reason, actor)
	return rep, s.rec.ID, err
}

// EndSession ends the session with id (a revoke from the server).
func (a *Agent) EndSession(id, reason, actor string) (platform.EndReport, error) {
	a.mu.Lock()
	var s *session
	for _, cand := range a.byUser {
		if cand.rec.ID == id {
			s = cand
		}
	}
	a.mu.Unlock()
	if s == nil {
		return platform.EndReport{}, hoist.Errorf(hoist.ENotFound, "no session %s on this machine", id)
	}
	return a.end(s, reason, actor)
}

// end ends s once; later callers wait for the first end to finish and get
// its report.
func (a *Agent) end(s *session, reason, actor string) (platform.EndReport, error) {
	a.mu.Lock()
	if s.ending || s.rec.State == "ended" {
		a.mu.Unlock()
		<-s.done
		return s.end, nil
	}
	s.ending = true
	if s.timer != nil {
		s.timer.Stop()
	}
	if s.rec.EndReason != "" && s.rec.State == "ending" {
		reason = s.rec.EndReason // an end interrupted by a crash keeps its reason
	}
	s.rec.State, s.rec.EndReason = "ending", reason
	rec := s.rec
	watchers := make([]func(string), 0, len(s.watchers))
	for _, w := range s.watchers {
		watchers = append(watchers, w)
	}
	a.wg.Add(1)
	a.mu.Unlock()
	// Warn before the first signal: the person at each elevated program's
	// terminal learns why it is about to close.
	msg := fmt.Sprintf("JIT elevated access has ended (%s): elevated programs are being closed now; unsaved work in them is lost", reason)
	for _, w := range watchers {
		w(msg)
	}
	defer a.wg.Done()
	// Ending is on disk before the first signal: a crash from here on
	// resumes the end, never the session.
	if err := a.save(rec); err != nil {
		// Ending goes on regardless: killing is the safe side.
		a.cfg.Logger.Error("cannot save the session's end", "session", rec.ID, "err", err)
	}
	// No program starts from here on; runs already past their check finish
	// starting first, so the end sees them.
	s.startMu.Lock()
	defer s.startMu.Unlock()
	var rep platform.EndReport
	var err error
	if s.group != nil {
		rep, err = s.group.End(context.Background(), rec.Grace)
	}
	// Root can leave a cgroup; it rarely thinks to drop its environment.
	if escaped := platform.KillMarked("HOIST_SESSION=" + rec.ID); len(escaped) > 0 {
		a.cfg.Logger.Warn("killed elevated processes that had left the session's cgroup", "session", rec.ID, "pids", escaped)
		a.audit("session.escapees_killed", "hoistd", rec.ID, map[string]any{"user": rec.User, "pids": escaped})
		rep.Killed += len(escaped)
		rep.Pids = append(rep.Pids, escaped...)
	}
	a.mu.Lock()
	s.end = rep
	s.rec.State, s.rec.EndedAt = "ended", a.cfg.Clock()
	rec = s.rec
	a.mu.Unlock()
	if serr := a.save(rec); serr != nil {
		a.cfg.Logger.Error("cannot save the session's end", "session", rec.ID, "err", serr)
	}
	a.audit("session.ended", actor, rec.ID, map[string]any{
		"user": rec.User, "reason": reason, "terminated": rep.Terminated, "killed": rep.Killed,
		"pids": rep.Pids, "took_ms": rep.Took.Milliseconds(),
	})
	a.cfg.Logger.Info("session ended", "session", rec.ID, "user", rec.User, "reason", reason,
		"terminated", rep.Terminated, "killed", rep.Killed, "took", rep.Took, "err", err)
	close(s.done)
	return rep, err
}

// Status returns user's JIT state.
func (a *Agent) Status(user string) StatusInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.byUser[user]
	req := a.pending[user]
	now := a.cfg.Clock()
	// A newer request than the last session's speaks for the user: its
	// state, not the old session's end.
	newer := s != nil && req.ID != "" && req.ID != s.rec.RequestID && req.State != "approved" &&
		(s.rec.State != "active" || !now.Before(s.rec.NotAfter))
	if s == nil || newer {
		st := StatusInfo{State: "none", User: user, RequestID: req.ID, RequestState: req.State, DecisionReason: req.Reason}
		if req.State == "pending" {
			st.State = "pending"
		}
		return st
	}
	st := StatusInfo{State: "active", User: user, SessionID: s.rec.ID, RequestID: s.rec.RequestID, ExpiresAt: s.rec.NotAfter}
	if req.ID != "" && req.ID != s.rec.RequestID {
		st.RequestID, st.RequestState, st.DecisionReason = req.ID, req.State, req.Reason
	}
	if s.rec.State != "active" || !now.Before(s.rec.NotAfter) {
		st.State, st.EndReason = "ended", s.rec.EndReason
		if st.EndReason == "" {
			st.EndReason = string(hoist.EndExpired)
		}
		return st
	}
	st.Remaining = s.rec.NotAfter.Sub(now)
	return st
}

// StatusInfo is a user's JIT state.
type StatusInfo struct {
	State     string
	User      string
	SessionID string
	RequestID string
	ExpiresAt time.Time
	Remaining time.Duration
	EndReason string
	// RequestState is the state of RequestID when it is not the session's:
	// pending, denied or expired.
	RequestState string
	// DecisionReason is the approver's note on a denied request.
	DecisionReason string
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
}

// Helper returns the JIT helper's facts for this machine.
func (a *Agent) Helper() HelperInfo {
	b := a.Bundle()
	j, ok := b.JIT()
	info := HelperInfo{JIT: ok, Reminders: durations(hoist.DefaultReminders)}
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
func (a *Agent) Close() error {
	a.mu.Lock()
	a.closed = true
	for _, s := range a.byUser {
		if s.timer != nil {
			s.timer.Stop()
		}
	}
	a.mu.Unlock()
	a.wg.Wait()
	return a.outbox.Close()
}

func (a *Agent) audit(action, actor, subject string, detail map[string]any) {
	if err := a.outbox.Append(action, actor, subject, a.cfg.Clock(), detail); err != nil {
		a.cfg.Logger.Error("cannot queue an audit event", "action", action, "err", err)
	}
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
