package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/platform"
)

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
	// Signed is the server's signed grant this came from (empty for root's
	// local grants). It is kept with the session, so that a session file
	// edited on disk is caught when hoistd reads it again.
	Signed string
	// Offline is what an offline approval started the session with, in
	// place of Signed.
	Offline *OfflineProof
}

// record is a session as kept on disk.
type record struct {
	ID        string        `json:"id"`
	RequestID string        `json:"request_id,omitempty"`
	User      string        `json:"user"`
	NotBefore time.Time     `json:"not_before"`
	NotAfter  time.Time     `json:"not_after"`
	Grace     time.Duration `json:"grace"`
	State     sessionState  `json:"state"`
	EndReason string        `json:"end_reason,omitempty"`
	EndedAt   time.Time     `json:"ended_at,omitzero"`
	// By is who granted it: "server", or root's local grant.
	By string `json:"by,omitempty"`
	// Grant is the signed grant of a server's session.
	Grant string `json:"grant,omitempty"`
	// Offline is the challenge and response of a session an offline
	// approval started (it has no signed grant).
	Offline *OfflineProof `json:"offline,omitempty"`
	// Unkillable lists what the end could not kill (a process stuck in the
	// kernel); hoistd goes on trying in the background.
	Unkillable []stuckProcess `json:"unkillable,omitempty"`
	// Incomplete says the end failed (unkillable processes or another
	// error) and is being retried.
	Incomplete bool `json:"incomplete,omitempty"`
	// Boot is NotAfter on this boot's own clock, which a wall clock set
	// back while hoistd was down does not move (bootEnd).
	Boot *bootDeadline `json:"boot,omitempty"`
	// EndToRecord is the session.ended event of an end, kept from the
	// moment the end is written until the event is in the outbox: a hoistd
	// stopped or killed in between (a full disk can hold the event back
	// for long) queues it at its start. Its ID is the session's, so an
	// event queued twice is stored once.
	EndToRecord *endNote `json:"end_to_record,omitempty"`
}

// endNote is what a session.ended event says.
type endNote struct {
	Actor  string         `json:"actor"`
	Detail map[string]any `json:"detail"`
}

// bootDeadline is a session's end as the boot clock counts it: ID is the
// boot's id, Deadline the time since it began (CLOCK_BOOTTIME).
type bootDeadline struct {
	ID       string        `json:"id"`
	Deadline time.Duration `json:"deadline"`
}

// bootSlack is how far the wall clock may disagree with the boot clock
// before a resumed session's end follows the boot clock: smaller steps are
// a time service correcting the clock, not a clock set back by hand.
const bootSlack = time.Minute

// stampBoot records rec's end on the boot clock; called where NotAfter is
// set (a new session, an extension), never on a later save, so that a wall
// clock set back since then does not move it.
func (a *Agent) stampBoot(rec *record) {
	rec.Boot = nil
	if id, since, ok := bootClock(); ok {
		rec.Boot = &bootDeadline{ID: id, Deadline: since + rec.NotAfter.Sub(a.cfg.Clock.Now())}
	}
}

// stampExtension moves rec's boot-clock end by as much as an extension
// moved NotAfter from old, so that a wall clock set back during the session
// does not lengthen it through the extension either.
func (a *Agent) stampExtension(rec *record, old time.Time) {
	if id, _, ok := bootClock(); ok && rec.Boot != nil && rec.Boot.ID == id {
		rec.Boot = &bootDeadline{ID: id, Deadline: rec.Boot.Deadline + rec.NotAfter.Sub(old)}
		return
	}
	a.stampBoot(rec)
}

// bootLeft is how long rec has left by the boot clock, when it was stamped
// on this boot and says less than the wall clock by more than bootSlack
// (the wall clock went back while hoistd was down); ok is false otherwise.
func bootLeft(rec record, wallLeft time.Duration) (left time.Duration, ok bool) {
	if rec.Boot == nil {
		return 0, false
	}
	id, since, read := bootClock()
	if !read || id != rec.Boot.ID {
		return 0, false
	}
	left = rec.Boot.Deadline - since
	return left, wallLeft-left > bootSlack
}

// stuckProcess is an elevated process that did not die when killed.
type stuckProcess struct {
	Pid   int    `json:"pid"`
	State string `json:"state"` // from /proc/PID/stat: D is uninterruptible sleep
	Comm  string `json:"comm,omitempty"`
}

func (r record) status() sessionStatus {
	return sessionStatus{State: r.State, EndReason: r.EndReason, EndedAt: r.EndedAt}
}

func (r *record) setStatus(st sessionStatus) {
	r.State, r.EndReason, r.EndedAt = st.State, st.EndReason, st.EndedAt
}

// localGrantBy marks root's local, break-glass grants: policies do not
// end them.
const localGrantBy = "root (local grant)"

// DefaultEndMargin is how long an end may take beyond the grace period
// before the processes still there are recorded as unkillable: a kill of a
// process in uninterruptible sleep (hard NFS, FUSE) never completes, and
// the session must end on time all the same.
const DefaultEndMargin = 10 * time.Second

// retryUnkillableEvery is how often the end of a stuck process is tried
// again in the background.
const retryUnkillableEvery = 30 * time.Second

type session struct {
	rec   record // guarded by Agent.mu
	group platform.Group
	timer Timer
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
	// changes is the snapshot at the start, for the change report (nil:
	// none, or kept on disk only, after a restart).
	changes *baseline
}

// watch registers fn to hear the end of s; the returned func unregisters.
// The end calls fn before its first signal and waits for it: fn must not
// block (run.warn only leaves the notice for its client's writer).
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

func (a *Agent) sessionPath(id string) string {
	return filepath.Join(a.cfg.StateDir, "sessions", id+".json")
}

// maxSessionFile bounds a session file read at start.
const maxSessionFile = 64 << 10

// readRecord reads and checks one session file: it must be a session of a
// known state whose window is no wider than the signed grant it came from.
func (a *Agent) readRecord(path string) (record, error) {
	var rec record
	data, err := readFileLimit(path, maxSessionFile)
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(data, &rec); err != nil {
		return rec, err
	}
	if !hoist.ValidID(hoist.SessionIDPrefix, rec.ID) || filepath.Base(path) != rec.ID+".json" {
		return rec, fmt.Errorf("not a session file of this name")
	}
	if !rec.State.valid() || rec.User == "" || rec.User == "root" {
		return rec, fmt.Errorf("session %s has state %q and user %q", rec.ID, rec.State, rec.User)
	}
	// The grace period is not signed: it is held to what a policy may set.
	rec.Grace = min(max(rec.Grace, 0), maxSessionGrace)
	if rec.State == stateEnded {
		return rec, nil // terminal: nothing in it can give root again
	}
	if w := rec.NotAfter.Sub(rec.NotBefore); w <= 0 || w > MaxWindow || rec.NotAfter.Sub(a.cfg.Clock.Now()) > MaxWindow {
		return rec, errTampered{fmt.Sprintf("its window (%s to %s) is not one hoistd grants", rec.NotBefore.UTC().Format(time.RFC3339), rec.NotAfter.UTC().Format(time.RFC3339))}
	}
	return rec, a.checkAgainstGrant(rec)
}

// maxSessionGrace bounds a session's grace period, as the JIT Mode (Child
// Processes) policy does.
const maxSessionGrace = 10 * time.Minute

// errTampered marks a session file that disagrees with its signed grant.
type errTampered struct{ why string }

func (e errTampered) Error() string {
	return "the session file disagrees with its signed grant: " + e.why
}

// checkAgainstGrant compares a session with the grant the server signed
// for it. On an enrolled machine (VerifyGrant set) every session has one:
// root's local grants are refused there, so a session file claiming to be
// one was written by hand (or before enrolment). On a machine without a
// server, root's local grants carry no signature: root can write what it
// likes there, and their start is audited.
func (a *Agent) checkAgainstGrant(rec record) error {
	if rec.Offline != nil {
		return a.checkOfflineProof(rec)
	}
	if a.cfg.VerifyGrant == nil {
		if rec.By != localGrantBy {
			return nil // a server's session on a machine no longer enrolled: its own window holds
		}
		if err := hoist.DefaultApprovalSettings().CheckDuration(rec.NotAfter.Sub(rec.NotBefore)); err != nil {
			return errTampered{"a local grant longer than hoistd grants"}
		}
		return nil
	}
	if rec.Grant == "" {
		return errTampered{"it has no signed grant (a session file edited by hand, or written by an older hoistd)"}
	}
	g, err := a.cfg.VerifyGrant(rec.Grant, rec.NotBefore)
	switch {
	case err != nil:
		return errTampered{hoist.ErrorMessage(err)}
	case g.Session != rec.ID || g.User != rec.User || g.Request != rec.RequestID:
		return errTampered{"another session, user or request"}
	case rec.NotAfter.After(g.NotAfter):
		return errTampered{fmt.Sprintf("its end %s is later than the grant's %s", rec.NotAfter.UTC().Format(time.RFC3339), g.NotAfter.UTC().Format(time.RFC3339))}
	}
	return nil
}

// resume loads the stored sessions and adopts the active ones. A session
// file that was edited against its grant is not trusted: its session ends
// now, loudly.
func (a *Agent) resume() error {
	paths, err := filepath.Glob(filepath.Join(a.cfg.StateDir, "sessions", "*.json"))
	if err != nil {
		return err
	}
	var recs []record
	for _, p := range paths {
		rec, err := a.readRecord(p)
		if te, ok := err.(errTampered); ok {
			a.cfg.Logger.Error("a session file was changed on disk; ending the session", "path", p, "err", err)
			a.auditCritical("session.tampered", "hoistd", rec.ID, map[string]any{"user": rec.User, "why": te.why, "not_after": rec.NotAfter})
			if rec.State != stateEnded {
				rec.State, rec.EndReason = stateEnding, string(hoist.EndFailed)
			}
		} else if err != nil {
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
		if rec.State == stateEnded {
			close(s.done)
			a.byUser[rec.User] = s
			if rec.EndToRecord != nil {
				// Its end's event never reached the outbox: queued now,
				// once this start has the lock no more.
				a.cfg.Clock.AfterFunc(0, func() { a.recordEnd(s, true) })
			}
			// An end a restart interrupted before its change report: the
			// start snapshot is still on disk (none: nothing to report).
			a.reportLater(rec, nil)
			if len(rec.Unkillable) > 0 || rec.Incomplete {
				if g, err := a.cfg.Tracker.OpenGroup(rec.ID); err == nil {
					s.group = g
					a.retryUnkillable(s)
				}
			}
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
			s.rec.State, s.rec.EndReason = stateEnding, string(hoist.EndFailed)
		}
		s.group = g
		a.execs.watch(rec.ID, "", rec.User, g)
		a.byUser[rec.User] = s
		a.cfg.Logger.Info("resumed session", "session", rec.ID, "user", rec.User, "not_after", rec.NotAfter, "state", s.rec.State)
		a.schedule(s)
	}
	return nil
}

// schedule arms the expiry of s; a window already over, or an end begun
// before a restart, ends it now. The caller holds a.mu.
func (a *Agent) schedule(s *session) {
	left := s.rec.NotAfter.Sub(a.cfg.Clock.Now())
	if boot, ok := bootLeft(s.rec, left); ok {
		// The wall clock was set back: the window is what was approved,
		// counted on a clock nobody sets.
		a.cfg.Logger.Warn("the wall clock is behind the session's boot-clock end: ending it by the boot clock", "session", s.rec.ID, "wall_left", left, "boot_left", boot)
		left = boot
	}
	if s.rec.State == stateEnding {
		left = 0
	}
	until := s.rec.NotAfter
	s.timer = a.cfg.Clock.AfterFunc(max(left, 0), func() {
		if a.extendedSince(s, until) {
			return // an extension moved the end and armed a new timer
		}
		_, _ = a.end(s, string(hoist.EndExpired), "hoistd")
	})
}

// extendedSince reports whether s is active with an end other than until,
// the end its timer was armed for: that timer, which an extension
// replaced, has nothing to do. It does not ask the wall clock: the timer
// runs on the monotonic clock, and a wall clock set back by hours must not
// keep the session past its window.
func (a *Agent) extendedSince(s *session, until time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return s.rec.State == stateActive && !s.ending && !s.rec.NotAfter.Equal(until)
}

// Activate starts a session for g.User, replacing none: a user with an
// active session keeps it (EConflict). The checks are made under the
// agent's lock and the user's slot is reserved there; the disk and the
// cgroup are written outside it, so no other user's status waits on them.
func (a *Agent) Activate(g Grant) error {
	now := a.cfg.Clock.Now()
	switch {
	case !hoist.ValidID(hoist.SessionIDPrefix, g.SessionID):
		return hoist.Errorf(hoist.EInvalid, "invalid session id")
	case g.User == "" || g.User == "root":
		return hoist.Errorf(hoist.EInvalid, "a grant needs a non-root user")
	case g.NotAfter.Sub(now) > MaxWindow:
		return hoist.Errorf(hoist.EInvalid, "the grant's window is longer than %s", MaxWindow)
	case !g.NotAfter.After(now):
		return hoist.Errorf(hoist.EInvalid, "the grant's window is already over")
	case a.cfg.Sudo != nil && !ValidSudoUser(g.User):
		// The name goes into sudo's and polkit's files: one that would
		// break a line there is no account's name anyway.
		return hoist.Errorf(hoist.EInvalid, "a grant needs a user name of letters, digits and ._- (at most 32)")
	}
	grace := a.cfg.Grace
	if p := a.sessionGrace(); p > 0 {
		grace = p
	}
	if g.Grace > 0 {
		grace = g.Grace
	}
	release, err := a.reserve(g)
	if err != nil || release == nil {
		return err
	}
	defer release()
	// A session that was here once never starts again: a replayed grant after
	// a revoke or an exit is refused.
	if _, err := os.Stat(a.sessionPath(g.SessionID)); err == nil {
		return hoist.Errorf(hoist.EConflict, "session %s has already been used on this machine", g.SessionID)
	}
	group, err := a.cfg.Tracker.NewGroup(g.SessionID)
	if err != nil {
		return hoist.WrapError(hoist.EUnavailable, "cannot create the session's process group", err)
	}
	// The change report's first snapshot comes before the session is
	// anyone's to use: nothing elevated has run yet.
	base, changesFailed := a.startChanges(g.SessionID)
	// Recorded from before its first program: the kernel's filter is in
	// place before anything can start in the group.
	a.execs.watch(g.SessionID, "", g.User, group)
	s := &session{
		rec: record{ID: g.SessionID, RequestID: g.RequestID, User: g.User, NotBefore: g.NotBefore, NotAfter: g.NotAfter,
			Grace: grace, State: stateActive, By: g.By, Grant: g.Signed, Offline: g.Offline},
		group:   group,
		done:    make(chan struct{}),
		changes: base,
	}
	a.stampBoot(&s.rec)
	if err := a.save(s.rec); err != nil {
		_, _ = group.End(context.Background(), 0)
		return notRecorded(err)
	}
	if base != nil {
		a.saveBaseline(g.SessionID, base)
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		// On disk already: the next hoistd adopts it.
		return hoist.Errorf(hoist.EUnavailable, "hoistd is shutting down")
	}
	a.byUser[g.User] = s
	if p, ok := a.pending[g.User]; ok && (p.ID == g.RequestID || g.RequestID == "") {
		a.pending[g.User] = RequestInfo{ID: p.ID, State: "approved"}
	}
	a.schedule(s)
	a.mu.Unlock()
	a.syncSudo()
	a.auditCritical("session.started", g.User, s.rec.ID, map[string]any{"request_id": g.RequestID, "not_after": g.NotAfter, "by": g.By})
	if changesFailed != "" {
		a.changesFailed(s.rec, changesFailed)
	}
	a.cfg.Logger.Info("session started", "session", s.rec.ID, "user", g.User, "not_after", g.NotAfter)
	return nil
}

// reserve claims g.User's slot for a session being made. It returns nil
// and no error for a grant already in force (nothing to do), and the
// release to call once the session is in place or has failed.
func (a *Agent) reserve(g Grant) (release func(), err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return nil, hoist.Errorf(hoist.EUnavailable, "hoistd is shutting down")
	}
	if cur := a.byUser[g.User]; cur != nil && cur.rec.State != stateEnded {
		if cur.rec.ID == g.SessionID {
			return nil, nil // the same grant again: nothing to do
		}
		if !a.cfg.Clock.Now().Before(cur.rec.NotAfter) {
			// Its window is over and its end is under way: the next grant
			// (asked for the moment the window closed) can start soon.
			return nil, hoist.WrapError(hoist.EConflict, g.User+"'s previous session is still ending", ErrPreviousEnding)
		}
		return nil, hoist.Errorf(hoist.EConflict, "%s already has an active session", g.User)
	}
	if a.activating[g.User] {
		return nil, hoist.Errorf(hoist.EConflict, "a session for %s is being started", g.User)
	}
	a.activating[g.User] = true
	return func() {
		a.mu.Lock()
		delete(a.activating, g.User)
		a.mu.Unlock()
	}, nil
}

// ErrPreviousEnding is in the chain of Activate's error when the user's
// previous session is past its window but not yet ended: the grant may be
// given again in a moment.
var ErrPreviousEnding = errors.New("the previous session is still ending")

// ErrNotRecorded is in the chain of Activate's error when hoistd could not
// save the session to its state directory (a full disk, most often):
// nothing was started, and the same grant may be given again later.
var ErrNotRecorded = errors.New("the session could not be saved")

// notRecorded is the error of a grant whose session could not be saved,
// with a message that tells the user why.
func notRecorded(err error) error {
	msg := "hoistd cannot save the session in its state directory"
	if errors.Is(err, syscall.ENOSPC) {
		msg += " (its disk is full)"
	}
	return hoist.WrapError(hoist.EUnavailable, msg+", so it has not started; it starts once an administrator has made room, if its window is still open", errors.Join(ErrNotRecorded, err))
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
	if s == nil || s.rec.State != stateActive || !a.cfg.Clock.Now().Before(s.rec.NotAfter) {
		return nil
	}
	return s
}

// stillActive reports whether s has not begun to end; callers hold
// s.startMu shared.
func (a *Agent) stillActive(s *session) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !s.ending && s.rec.State == stateActive && a.cfg.Clock.Now().Before(s.rec.NotAfter) && s.group != nil
}

// EndUser ends user's active session for reason; it returns when every
// elevated process is gone, or the ones that cannot be killed are listed.
func (a *Agent) EndUser(user, reason, actor string) (platform.EndReport, string, error) {
	a.mu.Lock()
	s := a.byUser[user]
	over := s == nil || s.rec.State == stateEnded
	a.mu.Unlock()
	if over {
		return platform.EndReport{}, "", hoist.Errorf(hoist.ENotFound, "JIT elevated access is not active for %s", user)
	}
	rep, err := a.end(s, reason, actor)
	return rep, s.rec.ID, err // the id never changes
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
// its report. The end always finishes: it has a deadline of the grace
// period and a margin, after which what is still running is recorded as
// unkillable and retried in the background.
func (a *Agent) end(s *session, reason, actor string) (platform.EndReport, error) {
	a.mu.Lock()
	if s.ending || s.rec.State == stateEnded {
		a.mu.Unlock()
		<-s.done
		return s.end, nil
	}
	if a.closed {
		// The session stays on disk as it is; the next hoistd ends it.
		a.mu.Unlock()
		return platform.EndReport{}, hoist.Errorf(hoist.EUnavailable, "hoistd is shutting down; the session ends when it is back")
	}
	next, _, err := step(s.rec.status(), endEvent(reason), a.cfg.Clock.Now())
	if err != nil {
		a.mu.Unlock()
		return platform.EndReport{}, err
	}
	s.ending = true
	if s.timer != nil {
		s.timer.Stop()
	}
	s.rec.setStatus(next) // an end a crash interrupted keeps its reason
	reason = s.rec.EndReason
	rec := s.rec
	// Added under the lock that Close takes before it waits: no end begins
	// after Close has started waiting.
	a.wg.Add(1)
	a.mu.Unlock()
	defer a.wg.Done()
	// sudo and polkit stop elevating before the first signal: nothing new
	// starts through them while the end runs.
	a.syncSudo()
	// Ending is on disk before the first signal: a crash from here on
	// resumes the end, never the session.
	if err := a.save(rec); err != nil {
		// Ending goes on regardless: killing is the safe side.
		a.cfg.Logger.Error("cannot save the session's end", "session", rec.ID, "err", err)
	}
	// No program starts from here on; runs already past their check finish
	// starting first, so the end sees them.
	// A start stuck in the kernel (a program on a hung NFS mount) must not
	// hold the end: past the margin it goes on without the lock, and the
	// cgroup, which the program is born into, is ended all the same.
	locked := lockWithin(&s.startMu, a.cfg.EndMargin)
	if !locked {
		a.cfg.Logger.Warn("a program's start did not finish; ending the session anyway", "session", rec.ID)
	}
	// Warn before the first signal: the person at each elevated program's
	// terminal learns why it is about to close. A watcher only leaves the
	// notice with its client's writer (run.warn), which writes it before
	// the program's exit status, with a deadline: the end never waits on a
	// client.
	// The watchers are read once the starts in flight have finished: a
	// program started just before the end began is watched by then.
	a.mu.Lock()
	watchers := make([]func(string), 0, len(s.watchers))
	for _, w := range s.watchers {
		watchers = append(watchers, w)
	}
	a.mu.Unlock()
	msg := fmt.Sprintf("JIT elevated access has ended (%s): elevated programs are being closed now; unsaved work in them is lost", reason)
	for _, w := range watchers {
		w(msg)
	}
	rep, endErr := a.endGroup(s.group, rec)
	if locked {
		s.startMu.Unlock()
	}
	stuck := unkillable(rep)
	// Any failure of the end — not only a process that would not die — is
	// retried until the group is gone: a session never ends with its
	// programs left alive and nobody trying.
	incomplete := endErr != nil
	detail := map[string]any{
		"user": rec.User, "reason": reason, "terminated": rep.Terminated, "killed": rep.Killed,
		"pids": rep.Pids, "took_ms": rep.Took.Milliseconds(),
	}
	if len(stuck) > 0 {
		detail["unkillable"] = stuck
	}
	if endErr != nil {
		detail["error"] = endErr.Error()
	}
	a.mu.Lock()
	done, _, _ := step(s.rec.status(), ended, a.cfg.Clock.Now())
	s.rec.setStatus(done)
	s.rec.Unkillable = stuck
	s.rec.Incomplete = incomplete
	s.rec.EndToRecord = &endNote{Actor: actor, Detail: detail}
	s.end = rep
	rec = s.rec
	a.mu.Unlock()
	saved := a.save(rec)
	if saved != nil {
		a.cfg.Logger.Error("cannot save the session's end", "session", rec.ID, "err", saved)
	}
	a.endOpenSudos(rec.ID)
	a.recordEnd(s, saved == nil)
	a.cfg.Logger.Info("session ended", "session", rec.ID, "user", rec.User, "reason", reason,
		"terminated", rep.Terminated, "killed", rep.Killed, "took", rep.Took, "unkillable", len(stuck), "err", endErr)
	if incomplete {
		a.cfg.Logger.Error("the session's end is incomplete; retrying in the background", "session", rec.ID, "unkillable", stuck, "err", endErr)
		a.auditCritical("session.unkillable", "hoistd", rec.ID, map[string]any{"user": rec.User, "unkillable": stuck, "error": endErr.Error()})
		a.mu.Lock()
		a.retryUnkillable(s)
		a.mu.Unlock()
	}
	// Every process has ended (or is recorded as unkillable): the snapshot
	// at the end sees what the session left, and the end does not wait
	// for it.
	a.reportLater(rec, s.changes)
	s.changes = nil
	close(s.done)
	return rep, endErr
}

// endGroup terminates the session's processes within the end's deadline,
// then sweeps for the ones root moved out of its cgroup.
func (a *Agent) endGroup(g platform.Group, rec record) (platform.EndReport, error) {
	ctx, cancel := context.WithTimeout(context.Background(), rec.Grace+a.cfg.EndMargin)
	defer cancel()
	var rep platform.EndReport
	var err error
	if g != nil {
		rep, err = g.End(ctx, rec.Grace)
	}
	a.execs.finish(rec.ID) // its final record follows the kernel's last events
	// Root can leave a cgroup; it rarely thinks to drop its environment.
	sweep, cancelSweep := context.WithTimeout(context.Background(), a.cfg.EndMargin)
	defer cancelSweep()
	escaped, serr := platform.KillMarked(sweep, "HOIST_SESSION="+rec.ID)
	if serr != nil {
		a.cfg.Logger.Warn("the sweep for escaped processes stopped early", "session", rec.ID, "err", serr)
	}
	if len(escaped) > 0 {
		a.cfg.Logger.Warn("killed elevated processes that had left the session's cgroup", "session", rec.ID, "pids", escaped)
		a.auditCritical("session.escapees_killed", "hoistd", rec.ID, map[string]any{"user": rec.User, "pids": escaped})
		rep.Killed += len(escaped)
		rep.Pids = append(rep.Pids, escaped...)
	}
	return rep, err
}

// unkillable lists what an end report says could not be killed.
func unkillable(rep platform.EndReport) []stuckProcess {
	var out []stuckProcess
	for _, p := range rep.Unkillable {
		out = append(out, stuckProcess{Pid: p.Pid, State: p.State, Comm: p.Comm})
	}
	return out
}

// saveRetryEvery is how often a session record that could not be written,
// or an end event that could not be queued (a full disk), is tried again.
const saveRetryEvery = 2 * time.Second

// endKey is the key of a session's end event (see Agent.auditOnce).
func endKey(sessionID string) string { return "session.ended/" + sessionID }

// recordEnd queues s's session.ended event (rec.EndToRecord) and then
// clears the note of it on disk; what fails is tried again in the
// background (recordEndWhenPossible). saved says s's record, note
// included, is on disk already.
func (a *Agent) recordEnd(s *session, saved bool) {
	a.mu.Lock()
	rec := s.rec
	a.mu.Unlock()
	if rec.EndToRecord == nil {
		return
	}
	// The end is recorded once whatever happens to the disk: its event's
	// ID is the session's, so the end a restarted hoistd queues again (its
	// note said it was not queued yet, or the end itself was not written)
	// is stored once by the server.
	ev := rec.EndToRecord
	queue := func() error {
		if err := a.auditOnce(endKey(rec.ID), "session.ended", ev.Actor, rec.ID, ev.Detail); err != nil {
			return err
		}
		a.mu.Lock()
		s.rec.EndToRecord = nil
		a.mu.Unlock()
		return nil
	}
	if queue() == nil {
		queue = nil
		saved = false // the note is cleared: written again below
	}
	if !saved {
		a.mu.Lock()
		rec = s.rec
		a.mu.Unlock()
		saved = a.save(rec) == nil
	}
	if !saved || queue != nil {
		a.recordEndWhenPossible(s, saved, queue)
	}
}

// recordEndWhenPossible writes s's record again (unless saved) and calls
// queue, the end's event, again (unless nil) every saveRetryEvery on the
// agent's clock until both are done or hoistd stops: an end left
// unwritten would be done again by the next hoistd (its event is then
// stored once, being keyed by the session), and an end event never
// queued would be missing from the audit.
func (a *Agent) recordEndWhenPossible(s *session, saved bool, queue func() error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	stop := a.stop
	var attempt func()
	attempt = func() {
		select {
		case <-stop:
			return
		default:
		}
		if !saved {
			a.mu.Lock()
			rec := s.rec
			a.mu.Unlock()
			saved = a.save(rec) == nil
		}
		if queue != nil && queue() == nil {
			queue = nil
			saved = false // the note of the event is cleared: write it
		}
		if !saved {
			a.mu.Lock()
			rec := s.rec
			a.mu.Unlock()
			saved = a.save(rec) == nil
		}
		if saved && queue == nil {
			return
		}
		a.mu.Lock()
		if !a.closed {
			a.cfg.Clock.AfterFunc(saveRetryEvery, attempt)
		}
		a.mu.Unlock()
	}
	a.cfg.Clock.AfterFunc(saveRetryEvery, attempt)
}

// retryUnkillable keeps trying to end what s left behind, every
// retryUnkillableEvery on the agent's clock, until its group is empty or
// hoistd stops; the caller holds a.mu.
func (a *Agent) retryUnkillable(s *session) {
	if s.group == nil || a.closed {
		return
	}
	stop := a.stop
	var attempt func()
	attempt = func() {
		select {
		case <-stop:
			return
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), a.cfg.EndMargin)
		rep, err := s.group.End(ctx, 0)
		cancel()
		if err != nil {
			if !errors.Is(err, platform.ErrUnkillable) {
				a.cfg.Logger.Warn("retrying the end of a session failed", "session", s.rec.ID, "err", err)
			}
			a.mu.Lock()
			if !a.closed {
				a.cfg.Clock.AfterFunc(retryUnkillableEvery, attempt)
			}
			a.mu.Unlock()
			return
		}
		a.mu.Lock()
		s.rec.Unkillable, s.rec.Incomplete = nil, false
		rec := s.rec
		a.mu.Unlock()
		if err := a.save(rec); err != nil {
			a.cfg.Logger.Error("cannot save the session", "session", rec.ID, "err", err)
		}
		a.auditCritical("session.unkillable_gone", "hoistd", rec.ID, map[string]any{"user": rec.User, "killed": rep.Killed})
		a.cfg.Logger.Info("the stuck processes of an ended session are gone", "session", rec.ID)
	}
	a.cfg.Clock.AfterFunc(retryUnkillableEvery, attempt)
}

// Status returns user's JIT state.
func (a *Agent) Status(user string) StatusInfo {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.byUser[user]
	req := a.pending[user]
	now := a.cfg.Clock.Now()
	var state string
	if s != nil {
		state, _, _ = userView(s.rec.status(), s.rec.NotAfter, now)
	}
	// A newer request than the last session's speaks for the user: its
	// state, not the old session's end.
	newer := s != nil && req.ID != "" && req.ID != s.rec.RequestID && req.State != "approved" && state != "active"
	if s == nil || newer {
		st := StatusInfo{State: "none", User: user, RequestID: req.ID, RequestState: req.State, DecisionReason: req.Reason}
		if req.State == "pending" {
			st.State = "pending"
		}
		return st
	}
	st := StatusInfo{User: user, SessionID: s.rec.ID, RequestID: s.rec.RequestID, ExpiresAt: s.rec.NotAfter, Emergency: s.rec.By == EmergencyBy}
	if req.ID != "" && req.ID != s.rec.RequestID {
		st.RequestID, st.RequestState, st.DecisionReason = req.ID, req.State, req.Reason
	}
	st.State, st.EndReason, st.Closing = userView(s.rec.status(), s.rec.NotAfter, now)
	if s.rec.Incomplete && len(s.rec.Unkillable) == 0 {
		st.Closing = true // still being ended, by the retry
	}
	if st.State == "active" {
		st.Remaining = s.rec.NotAfter.Sub(now)
		st.Sudo = a.sudo != nil && a.sudo.granted[user]
	}
	for _, p := range s.rec.Unkillable {
		st.Unkillable = append(st.Unkillable, p.Pid)
	}
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
	// Closing says the session has ended but its elevated programs are
	// still being closed.
	Closing bool
	// Unkillable lists the elevated processes the end could not kill.
	Unkillable []int
	// Sudo says sudo and pkexec elevate the user during this session.
	Sudo bool
	// Emergency says an emergency code started the session.
	Emergency bool
	// RequestState is the state of RequestID when it is not the session's:
	// pending, denied or expired.
	RequestState string
	// DecisionReason is the approver's note on a denied request.
	DecisionReason string
}

// lockWithin takes mu exclusively, trying until d has passed; it reports
// whether it holds the lock.
func lockWithin(mu *sync.RWMutex, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for !mu.TryLock() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
	return true
}
