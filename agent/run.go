package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/localapi"
	"github.com/hoist-jit/hoist/platform"
)

// run is one "hoist run" on its way through hoistd: bound the input,
// decide, start, relay, reap — each step a method with one job.
type run struct {
	a *Agent
	x *exchange
	// s is the caller's active session when the run was decided; it is held
	// (startMu shared) only around the last check and the start, so that no
	// program is born after its session's end has begun, and nothing slow —
	// a lookup on a hung mount, a hash — ever holds the end up.
	s    *session
	held bool
	// path and argv are what is started; argv[0] is the matched file for a
	// program a policy elevates.
	path string
	argv []string
	d    hoist.Decision
	// tty says stdin is the fresh pty the client made: the program leads it.
	tty bool
	// kinds are the kinds of the three descriptors the client passed.
	kinds []localapi.Kind
	// term is the recorded terminal between the program and the client's,
	// when the configuration records it (record.go); nil otherwise.
	term *termRelay
	// group holds the program: the session's, or one of its own for a
	// program a policy elevates without a session (runID).
	group platform.Group
	sid   string
	runID string
	proc  *platform.Process
	// writeMu orders the frames to the client: the end's warning may come
	// from another goroutine at any time after the start.
	writeMu sync.Mutex
	// notice is the end's warning not yet written: the end leaves it here
	// before its first signal, without waiting, and whoever writes to the
	// client next writes it first, so the warning never comes after the
	// exit status that makes the client stop reading.
	notice atomic.Pointer[string]
	// done is closed once the program has been reaped.
	done chan struct{}
}

// serveRun starts the program as root if the caller's session or a policy
// allows it, relays signals to it, and reports its exit status.
func (a *Agent) serveRun(x *exchange) {
	r := &run{a: a, x: x, done: make(chan struct{})}
	defer r.unhold()
	if !r.bound() || !r.decide() || !r.start() {
		return
	}
	r.relay()
}

// bound checks the descriptors before anything is decided.
func (r *run) bound() bool {
	x := r.x
	if len(x.files) != 3 {
		x.fail(hoist.EInvalid, "run needs exactly three descriptors: stdin, stdout, stderr", 1)
		return false
	}
	kinds, err := localapi.CheckRunFiles(x.files, x.req.TTY)
	if err != nil {
		code := hoist.EUnavailable // the check itself could not be made: fail closed
		if errors.Is(err, localapi.ErrInvalid) {
			code = hoist.EInvalid
		}
		x.fail(code, "hoistd refused the descriptors of this run: "+err.Error(), 1)
		return false
	}
	// Only a fresh terminal on stdin becomes the program's controlling one.
	r.tty = kinds[0] == localapi.KindTerminal
	r.kinds = kinds
	return true
}

func (r *run) hold(s *session) {
	s.startMu.RLock()
	if !r.a.stillActive(s) {
		s.startMu.RUnlock()
		return
	}
	r.s, r.held = s, true
}

func (r *run) unhold() {
	if r.held {
		r.s.startMu.RUnlock()
		r.held = false
	}
}

// refuse records a refused run (rate-limited per user) and answers it.
func (r *run) refuse(why, policy string, exit int) {
	a, x := r.a, r.x
	r.unhold()
	if suppressed, ok := a.limits.allow(x.peer.UID, refusedRuns, a.cfg.Clock.Now()); ok {
		detail := map[string]any{"argv": clipArgv(x.req.Argv), "cwd": x.peer.cwd, "uid": x.peer.UID, "pid": x.peer.PID, "why": why}
		if policy != "" {
			detail["policy"] = policy
		}
		if x.req.Reason != "" {
			detail["reason"] = x.req.Reason
		}
		if suppressed > 0 {
			detail["suppressed_before"] = suppressed // refusals not recorded one by one in the last window
		}
		a.audit("command.refused", x.peer.User, "", detail)
	}
	x.fail(hoist.EForbidden, why, exit)
}

// decide finds the program with the caller's own rights and asks the
// policies; it answers the caller itself when the run is refused.
func (r *run) decide() bool {
	a, x := r.a, r.x
	r.s = a.activeFor(x.peer.User)
	bundle := a.Bundle()
	path, err := resolveAs(x.peer, x.req.Argv[0], x.peer.cwd)
	if err != nil {
		if r.s == nil && !hasApplicationPolicies(bundle) {
			r.refuse(a.notActive(x.peer.User, "", ""), "", 126)
			return false
		}
		x.fail(hoist.ENotFound, fmt.Sprintf("%s: %v", x.req.Argv[0], err), exitStatusOf(err))
		return false
	}
	facts := a.factsFor(bundle, x.peer.User, path, x.req.Argv, r.s != nil, x.req.Reason)
	r.d = hoist.Decide(bundle, facts)
	r.path, r.argv = execPath(r.d, facts, path), execArgv(r.d, facts, x.req.Argv)
	r.audited()
	switch {
	case r.d.Elevate && r.d.Session && r.s != nil:
		r.group, r.sid = r.s.group, r.s.rec.ID
		return true
	case r.d.Elevate:
		r.s = nil
		return r.policyGroup()
	case r.d.Action == hoist.ActionNone && r.d.Policy == "":
		r.refuse(a.notActive(x.peer.User, path, r.d.Note), "", 126)
	default:
		r.refuse(r.d.Why, r.d.Policy, 126)
	}
	return false
}

// audited records the audit policies that matched; a user looping on runs
// that no session elevates gets a bounded number of records and a count.
func (r *run) audited() {
	a, x := r.a, r.x
	for _, name := range r.d.Audited {
		detail := map[string]any{"argv": clipArgv(x.req.Argv), "path": r.path, "cwd": x.peer.cwd, "uid": x.peer.UID, "pid": x.peer.PID, "policy": name}
		if !r.d.Session {
			suppressed, ok := a.limits.allow(x.peer.UID, auditedRuns, a.cfg.Clock.Now())
			if !ok {
				continue
			}
			if suppressed > 0 {
				detail["suppressed_before"] = suppressed
			}
		}
		a.audit("command.audited", x.peer.User, "", detail)
	}
}

// policyGroup makes the container of a program a policy elevates without
// a session, within the user's limit of such programs.
func (r *run) policyGroup() bool {
	a, x := r.a, r.x
	suppressed, ok := a.limits.allow(x.peer.UID, policyRuns, a.cfg.Clock.Now())
	if suppressed > 0 {
		a.audit("command.rate_limited", x.peer.User, "", map[string]any{"uid": x.peer.UID, "refused": suppressed, "window": policyRuns.window.String()})
	}
	if !ok {
		x.fail(hoist.ERateLimited, fmt.Sprintf("too many programs elevated by policy for %s in the last %s; try again shortly", x.peer.User, policyRuns.window), 126)
		return false
	}
	r.runID = hoist.NewID(RunIDPrefix)
	var err error
	if r.group, err = a.cfg.Tracker.NewGroup(r.runID); err != nil {
		x.fail(hoist.EUnavailable, "cannot make a process group for the program: "+err.Error(), 126)
		return false
	}
	a.execs.watch(r.runID, r.runID, x.peer.User, r.group)
	return true
}

// send writes a frame to the client in order with the others.
func (r *run) send(rep localapi.Reply) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	r.writeNotice()
	r.x.reply(rep)
}

// warn leaves the end's warning for the client and returns at once (the
// end calls it before its first signal and never waits on a client); a
// goroutine writes it unless the exit status, written first, takes it.
func (r *run) warn(msg string) {
	r.notice.Store(&msg)
	go func() {
		r.writeMu.Lock()
		defer r.writeMu.Unlock()
		r.writeNotice()
	}()
}

// writeNotice writes the warning left by warn, once; writeMu is held.
func (r *run) writeNotice() {
	if msg := r.notice.Swap(nil); msg != nil {
		r.x.reply(localapi.Reply{Notice: &localapi.Notice{Message: *msg}})
	}
}

// start starts the program in its group and tells the client; the
// caller's descriptors are the program's from here, and hoistd lets go of
// its copies.
func (r *run) start() bool {
	a, x := r.a, r.x
	if a.outbox.Full() {
		r.endRunGroup() // a policy run's group, made for nothing
		x.fail(hoist.EUnavailable, "hoistd cannot record elevated programs now (its audit queue is full); nothing was started", 126)
		return false
	}
	if r.sid != "" {
		if r.hold(r.s); !r.held {
			x.fail(hoist.EForbidden, a.notActive(x.peer.User, "", ""), 126) // it ended meanwhile
			return false
		}
	}
	marker := r.sid
	if r.runID != "" {
		marker = r.runID
	}
	// The Started frame goes out before any warning of the end.
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	// The record says when the program started, not when it was written:
	// stamped after the start, a busy machine could date a program started
	// in a session after that session's end.
	startedAt := a.cfg.Clock.Now()
	files, ok := r.recordTerminal()
	if !ok {
		r.unhold()
		r.endRunGroup()
		x.fail(hoist.EUnavailable, "hoistd cannot record this terminal, and its configuration records terminals; nothing was started", 126)
		return false
	}
	proc, err := r.group.Start(platform.Spec{
		Path: r.path, Argv: r.argv, Env: Environment(x.peer.User, marker, x.req.Term), Dir: x.peer.cwd,
		Stdin: files[0], Stdout: files[1], Stderr: files[2], TTY: r.tty,
	})
	if err == nil && r.held {
		// Watch before the start is released to the end: the program's user
		// hears the end's warning whenever it comes.
		s := r.s
		unwatch := a.watch(s, r.warn)
		go func() { <-r.done; unwatch() }()
	}
	r.unhold()
	x.releaseFiles() // the program has them; hoistd must not keep the caller's terminal open
	if err != nil {
		if r.term != nil {
			r.term.abandon()
		}
		r.endRunGroup()
		x.reply(localapi.Reply{Error: &localapi.Error{Code: hoist.EInvalid, Message: fmt.Sprintf("%s: %v", x.req.Argv[0], err), Exit: exitStatusOf(err)}})
		return false
	}
	r.proc = proc
	detail := map[string]any{"argv": clipArgv(r.argv), "path": r.path, "cwd": x.peer.cwd, "pid": proc.Pid(), "uid": x.peer.UID, "tty": r.tty}
	if r.d.Policy != "" {
		detail["policy"] = r.d.Policy
	}
	if x.req.Reason != "" {
		detail["reason"] = x.req.Reason // the justification a policy asked for
	}
	if r.runID != "" {
		detail["run"] = r.runID
	}
	if r.term != nil {
		detail["recording"] = r.term.meta.ID
		r.term.start()
	}
	a.auditAt("command.started", x.peer.User, r.sid, startedAt, detail)
	x.reply(localapi.Reply{Started: &localapi.Started{Pid: proc.Pid(), SessionID: r.sid, Recording: r.term != nil}})
	return true
}

// relay forwards the client's signals until the program exits, then
// reports its status. The relay stops before the program is reaped (the
// platform's Process refuses signals after that), so no signal reaches a
// recycled pid.
func (r *run) relay() {
	a, x := r.a, r.x
	started := a.cfg.Clock.Now()
	go func() {
		for {
			var sig localapi.Request
			// Reader refuses (and disarms) descriptors sent with a later frame.
			if err := localapi.ReadFrame(localapi.Reader(x.c), nil, &sig); err != nil {
				return
			}
			if sig.Check() != nil {
				continue
			}
			switch {
			case sig.Op == localapi.OpSignal && forwardable(sig.Signal):
				_ = r.proc.Signal(syscall.Signal(sig.Signal))
			case sig.Op == localapi.OpResize && r.term != nil:
				r.term.resize(sig.Cols, sig.Rows)
			}
		}
	}()
	status := r.proc.Wait()
	if r.term != nil {
		r.term.finish() // the last output reaches the client before the status
	}
	close(r.done)
	a.audit("command.ended", x.peer.User, r.sid, map[string]any{"argv": clipArgv(r.argv), "pid": r.proc.Pid(), "status": status,
		"started": started, "ended": a.cfg.Clock.Now()})
	r.endRunGroup()
	r.send(localapi.Reply{Exited: &localapi.Exited{Status: status}})
	// The signal reader ends when the client closes, or with the connection.
}

// recordTerminal makes the recorded terminal when the program runs on a
// terminal and the configuration records terminals, and returns the
// descriptors the program gets; ok is false when it should have been made
// and could not be (the run is refused: fail closed). Without recording,
// the program gets the client's terminal as before, with no relay.
func (r *run) recordTerminal() (files []*os.File, ok bool) {
	mode := r.a.recordMode()
	if mode == hoist.RecordOff || !slices.Contains(r.kinds, localapi.KindTerminal) {
		return r.x.files, true
	}
	t, files, err := r.a.newTermRelay(r, r.kinds, mode)
	if err != nil {
		r.a.cfg.Logger.Error("cannot make the recorded terminal of a run", "user", r.x.peer.User, "err", err)
		r.a.audit("recording.failed", r.x.peer.User, r.sid, map[string]any{"argv": clipArgv(r.argv), "error": err.Error(), "started": false})
		return nil, false
	}
	r.term = t
	return files, true
}

// endRunGroup ends whatever a program elevated by policy left behind: it
// gets no session to outlive it in.
func (r *run) endRunGroup() {
	if r.runID == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.a.cfg.Grace+r.a.cfg.EndMargin)
	defer cancel()
	rep, err := r.group.End(ctx, r.a.cfg.Grace)
	r.a.execs.finish(r.runID)
	if err != nil || rep.Terminated > 0 {
		r.a.cfg.Logger.Info("ended what a policy-elevated program left", "run", r.runID, "terminated", rep.Terminated, "unkillable", len(rep.Unkillable), "err", err)
	}
}

// execArgv is the argument vector to start: for a program an application
// policy elevates, argv[0] is the file the policy matched, so that the
// name a user typed — a symlink to a multi-call binary such as kmod or
// busybox — cannot choose which of its tools runs as root. A session's
// programs get argv as typed: the session elevates any program anyway.
func execArgv(d hoist.Decision, f hoist.ProcessFacts, argv []string) []string {
	if !d.Elevate || d.Session || f.Path == "" {
		return argv
	}
	out := append([]string{f.Path}, argv[1:]...)
	return out
}

// RunIDPrefix marks the container of a program elevated by policy without
// a session.
const RunIDPrefix = "run_"

// notActive is the refusal of a run of path (when known) with no session
// and no policy for it.
func (a *Agent) notActive(user, path, note string) string {
	msg := fmt.Sprintf("JIT elevated access is not active for %s", user)
	if path != "" && hasApplicationPolicies(a.Bundle()) {
		msg += ", and no policy elevates " + path
	}
	if note != "" {
		msg += " (" + note + ")"
	}
	if _, ok, received := a.jit(); received && !ok {
		return msg + "; JIT mode is not enabled for this machine"
	}
	return msg + "; ask for it with: hoist request"
}

func hasApplicationPolicies(b hoist.Bundle) bool {
	for _, p := range b.Policies {
		if p.Kind == hoist.KindApplication {
			return true
		}
	}
	return false
}

// factsFor gathers the facts about a program that the bundle's policies
// need: the checks that touch the disk are skipped when no application
// policy could use them, which keeps a session's runs fast.
func (a *Agent) factsFor(b hoist.Bundle, user, path string, argv []string, session bool, reason string) hoist.ProcessFacts {
	if !hasApplicationPolicies(b) {
		return hoist.ProcessFacts{User: user, Path: path, Session: session, Reason: reason}
	}
	return processFacts(user, path, argv, session, reason)
}

// execPath is the file to start: an application policy starts the real
// file it decided on (symlinks resolved, its directories checked), so that
// no link can be swapped between the decision and the start; a session
// starts what the user named.
func execPath(d hoist.Decision, f hoist.ProcessFacts, typed string) string {
	if d.Elevate && !d.Session && f.Path != "" {
		return f.Path
	}
	return typed
}

// forwardable lists the signals a caller may send its elevated program: the
// ones a terminal or a shell would deliver.
func forwardable(sig int) bool {
	switch syscall.Signal(sig) {
	case syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT:
		return true
	}
	return false
}

func lookupUserName(name string) (*user.User, error) { return user.Lookup(name) }

func lookupUser(uid int) (string, error) {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return "", err
	}
	return u.Username, nil
}

// clipArgv keeps an audited command line to a size the audit log can carry
// (4 KiB), marking what was cut, so that a huge command line cannot clog
// the delivery of every event after it.
func clipArgv(argv []string) []string {
	const total, each = 4096, 1024
	out := make([]string, 0, len(argv))
	used := 0
	for i, a := range argv {
		if len(a) > each {
			a = a[:each] + "…[cut]"
		}
		if used+len(a) > total {
			return append(out, fmt.Sprintf("…[%d more arguments cut]", len(argv)-i))
		}
		used += len(a)
		out = append(out, a)
	}
	return out
}
