package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/user"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/localapi"
	"github.com/hoist-jit/hoist/platform"
)

// Peer is who is on the other end of a connection, as the kernel says.
type Peer struct {
	UID  int
	PID  int
	User string
	// cwd is the peer's working directory, read from /proc through the pid
	// the kernel vouches for; "/" when it cannot be read.
	cwd string
}

// Serve accepts connections on l until it is closed. Each connection is one
// exchange, served on its own goroutine. It does not wait for the runs in
// flight when l closes: elevated programs outlive a stopping hoistd, and the
// next one adopts their session.
func (a *Agent) Serve(l *net.UnixListener) error {
	delay := time.Duration(0)
	for {
		c, err := l.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			// Out of descriptors or memory, perhaps because a user opened
			// many connections: wait and go on. hoistd must not exit, or
			// nobody ends the sessions.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			a.cfg.Logger.Warn("accept failed; retrying", "err", err, "in", delay)
			time.Sleep(delay)
			continue
		}
		delay = 0
		go func() {
			defer c.Close()
			defer func() {
				if p := recover(); p != nil {
					a.cfg.Logger.Error("a connection's handler panicked; hoistd goes on", "panic", p)
				}
			}()
			a.serveConn(c)
		}()
	}
}

func (a *Agent) serveConn(c *net.UnixConn) {
	// Identity is read once, here, from the kernel.
	peer, err := peerOf(c)
	if err != nil {
		a.cfg.Logger.Warn("refusing a connection without credentials", "err", err)
		return
	}
	if !a.admit(peer.UID) {
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_ = localapi.WriteFrame(c, localapi.Reply{Error: &localapi.Error{Code: hoist.ERateLimited,
			Message: "too many connections to hoistd from this user; try again shortly", Exit: 1}})
		return
	}
	defer a.release(peer.UID)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	req, files, err := localapi.ReceiveRequest(c)
	if err != nil {
		if !errors.Is(err, localapi.ErrFrame) {
			return
		}
		_ = localapi.WriteFrame(c, localapi.Reply{Error: &localapi.Error{Code: hoist.EInvalid, Message: "hoistd refused the request: " + err.Error(), Exit: 1}})
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	closeFiles := func() { a.closeLater(files) }
	fail := func(code, msg string, exit int) {
		closeFiles()
		_ = localapi.WriteFrame(c, localapi.Reply{Error: &localapi.Error{Code: code, Message: msg, Exit: exit}})
	}
	if req.V != localapi.Version {
		fail(hoist.EInvalid, fmt.Sprintf("protocol version %d is not spoken here (hoistd speaks %d): update hoist", req.V, localapi.Version), 1)
		return
	}
	if req.Op != localapi.OpRun && len(files) > 0 {
		fail(hoist.EInvalid, "descriptors are only passed with run", 1)
		return
	}
	switch req.Op {
	case localapi.OpStatus:
		st := statusReply(a.Status(peer.User))
		if req.Helper {
			st.Helper = helperReply(a.Helper())
		}
		_ = localapi.WriteFrame(c, localapi.Reply{Status: st})
	case localapi.OpExit:
		rep, id, err := a.EndUser(peer.User, string(hoist.EndExited), peer.User)
		if err != nil {
			fail(hoist.ErrorCode(err), hoist.ErrorMessage(err), 1)
			return
		}
		a.mu.Lock()
		up := a.upstream
		a.mu.Unlock()
		if up != nil {
			up.SessionEnded(id)
		}
		_ = localapi.WriteFrame(c, localapi.Reply{Ended: &localapi.Ended{SessionID: id, Terminated: rep.Terminated}})
	case localapi.OpRequest:
		var d time.Duration
		if req.Duration != "" {
			if d, err = hoist.ParseDuration(req.Duration); err != nil {
				fail(hoist.EInvalid, hoist.ErrorMessage(err), 1)
				return
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		info, err := a.Request(ctx, peer.User, req.Reason, d)
		if err != nil {
			fail(hoist.ErrorCode(err), hoist.ErrorMessage(err), 1)
			return
		}
		st := statusReply(a.Status(peer.User))
		st.AlreadyPending = info.Existing
		_ = localapi.WriteFrame(c, localapi.Reply{Status: st})
	case localapi.OpCancel:
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := a.Cancel(ctx, peer.User); err != nil {
			fail(hoist.ErrorCode(err), hoist.ErrorMessage(err), 1)
			return
		}
		_ = localapi.WriteFrame(c, localapi.Reply{Status: statusReply(a.Status(peer.User))})
	case localapi.OpGrant:
		a.serveGrant(c, peer, req, fail)
	case localapi.OpRun:
		a.serveRun(c, peer, req, files, fail)
	case localapi.OpExplain:
		if err := checkArgv(req.Argv); err != nil {
			fail(hoist.EInvalid, err.Error(), 1)
			return
		}
		path, err := resolve(req.Argv[0], peer.cwd)
		if err != nil {
			fail(hoist.ENotFound, fmt.Sprintf("%s: %v", req.Argv[0], err), exitStatusOf(err))
			return
		}
		b := a.Bundle()
		d := hoist.Decide(b, a.factsFor(b, peer.User, path, req.Argv, a.activeFor(peer.User) != nil, req.Reason))
		_, jit, _ := a.jit()
		why := d.Why
		if d.Action == hoist.ActionNone && d.Policy == "" {
			why = a.notActive(peer.User, path, d.Note)
		}
		_ = localapi.WriteFrame(c, localapi.Reply{Explained: &localapi.Explanation{Path: path, Action: d.Action, Elevate: d.Elevate,
			Policy: d.Policy, Why: why, Session: d.Session, Audited: d.Audited, JIT: jit}})
	default:
		fail(hoist.EInvalid, fmt.Sprintf("unknown request %q", req.Op), 1)
	}
}

func helperReply(h HelperInfo) *localapi.HelperInfo {
	str := func(ds []time.Duration) []string {
		out := make([]string, len(ds))
		for i, d := range ds {
			out[i] = hoist.FormatDuration(d)
		}
		return out
	}
	out := &localapi.HelperInfo{JIT: h.JIT, ReasonRequired: h.ReasonRequired, Durations: str(h.Durations), Reminders: str(h.Reminders)}
	if h.DefaultDuration > 0 {
		out.DefaultDuration = hoist.FormatDuration(h.DefaultDuration)
	}
	if h.MaxDuration > 0 {
		out.MaxDuration = hoist.FormatDuration(h.MaxDuration)
	}
	return out
}

func statusReply(st StatusInfo) *localapi.Status {
	out := &localapi.Status{State: st.State, User: st.User, SessionID: st.SessionID, RequestID: st.RequestID, EndReason: st.EndReason,
		RequestState: st.RequestState, DecisionReason: st.DecisionReason}
	if !st.ExpiresAt.IsZero() {
		at := st.ExpiresAt.UTC().Format(time.RFC3339)
		out.ExpiresAt = &at
	}
	out.RemainingSeconds = int64((st.Remaining + time.Second - 1) / time.Second)
	return out
}

// serveGrant lets the machine's root grant JIT mode locally — a break-glass
// path for machines without a server, loudly audited.
func (a *Agent) serveGrant(c *net.UnixConn, peer Peer, req localapi.Request, fail func(string, string, int)) {
	if peer.UID != 0 {
		fail(hoist.EForbidden, "only root may grant JIT mode locally", 126)
		return
	}
	d, err := hoist.ParseDuration(req.Duration)
	if err == nil {
		err = hoist.DefaultApprovalSettings().CheckDuration(d)
	}
	if err != nil {
		fail(hoist.EInvalid, hoist.ErrorMessage(err), 1)
		return
	}
	if _, err := user.Lookup(req.User); err != nil {
		fail(hoist.EInvalid, fmt.Sprintf("no user %q on this machine", req.User), 1)
		return
	}
	now := a.cfg.Clock()
	g := Grant{SessionID: hoist.NewID(hoist.SessionIDPrefix), User: req.User, NotBefore: now, NotAfter: now.Add(d), By: localGrantBy}
	if err := a.Activate(g); err != nil {
		fail(hoist.ErrorCode(err), hoist.ErrorMessage(err), 1)
		return
	}
	_ = localapi.WriteFrame(c, localapi.Reply{Status: statusReply(a.Status(req.User))})
}

// serveRun starts the program as root if the caller's session allows it,
// relays signals to it, and reports its exit status.
func (a *Agent) serveRun(c *net.UnixConn, peer Peer, req localapi.Request, files []*os.File, fail func(string, string, int)) {
	if len(files) != 3 {
		fail(hoist.EInvalid, "run needs exactly three descriptors: stdin, stdout, stderr", 1)
		return
	}
	if err := checkArgv(req.Argv); err != nil {
		fail(hoist.EInvalid, err.Error(), 1)
		return
	}
	if req.TTY && !isTerminal(files[0]) {
		fail(hoist.EInvalid, "the terminal passed for this run is not a terminal", 1)
		return
	}
	s := a.activeFor(peer.User)
	if s != nil {
		s.startMu.RLock()
		if !a.stillActive(s) {
			s.startMu.RUnlock()
			s = nil
		}
	}
	unlock := func() {
		if s != nil {
			s.startMu.RUnlock()
		}
	}
	refuse := func(why, policy string, exit int) {
		if suppressed, ok := a.refusals.allow(peer.UID, a.cfg.Clock()); ok {
			detail := map[string]any{"argv": clipArgv(req.Argv), "cwd": peer.cwd, "uid": peer.UID, "pid": peer.PID, "why": why}
			if policy != "" {
				detail["policy"] = policy
			}
			if req.Reason != "" {
				detail["reason"] = req.Reason
			}
			if suppressed > 0 {
				detail["suppressed_before"] = suppressed // refusals not recorded one by one in the last window
			}
			a.audit("command.refused", peer.User, "", detail)
		}
		fail(hoist.EForbidden, why, exit)
	}
	bundle := a.Bundle()
	path, err := resolve(req.Argv[0], peer.cwd)
	if err != nil {
		unlock()
		if s == nil && !hasApplicationPolicies(bundle) {
			refuse(a.notActive(peer.User, "", ""), "", 126)
			return
		}
		fail(hoist.ENotFound, fmt.Sprintf("%s: %v", req.Argv[0], err), exitStatusOf(err))
		return
	}
	facts := a.factsFor(bundle, peer.User, path, req.Argv, s != nil, req.Reason)
	d := hoist.Decide(bundle, facts)
	path = execPath(d, facts, path)
	for _, name := range d.Audited {
		a.audit("command.audited", peer.User, "", map[string]any{"argv": clipArgv(req.Argv), "path": path, "cwd": peer.cwd, "uid": peer.UID, "pid": peer.PID, "policy": name})
	}
	var (
		group platform.Group
		sid   string
		runID string // the container of a run elevated by policy, without a session
	)
	switch {
	case d.Elevate && d.Session && s != nil:
		group, sid = s.group, s.rec.ID
	case d.Elevate:
		unlock()
		s = nil
		runID = hoist.NewID(RunIDPrefix)
		if group, err = a.cfg.Tracker.NewGroup(runID); err != nil {
			fail(hoist.EUnavailable, "cannot make a process group for the program: "+err.Error(), 126)
			return
		}
	case d.Action == hoist.ActionNone && d.Policy == "":
		unlock()
		refuse(a.notActive(peer.User, path, d.Note), "", 126)
		return
	default:
		unlock()
		refuse(d.Why, d.Policy, 126)
		return
	}
	marker := sid
	if runID != "" {
		marker = runID
	}
	// Frames to the client come from two places — the end's warning and the
	// exit status — so writes are serialized; the lock is held until the
	// Started frame is out, so that no warning comes before it.
	var writeMu sync.Mutex
	send := func(rep localapi.Reply) {
		writeMu.Lock()
		defer writeMu.Unlock()
		_ = c.SetWriteDeadline(time.Now().Add(5 * time.Second)) // a stuck client must not hold up an end
		_ = localapi.WriteFrame(c, rep)
	}
	writeMu.Lock()
	proc, err := group.Start(platform.Spec{
		Path: path, Argv: req.Argv, Env: Environment(peer.User, marker, req.Term), Dir: peer.cwd,
		Stdin: files[0], Stdout: files[1], Stderr: files[2], TTY: req.TTY,
	})
	if err == nil && s != nil {
		// Watch before the start is released to the end: the program's user
		// hears the end's warning whenever it comes.
		unwatch := a.watch(s, func(msg string) { send(localapi.Reply{Notice: &localapi.Notice{Message: msg}}) })
		defer unwatch()
	}
	unlock()
	if runID != "" {
		// Whatever the program leaves behind ends with it: a program elevated
		// by policy gets no session to outlive it in.
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if rep, err := group.End(ctx, a.cfg.Grace); err != nil || rep.Terminated > 0 {
				a.cfg.Logger.Info("ended what a policy-elevated program left", "run", runID, "terminated", rep.Terminated, "err", err)
			}
		}()
	}
	closeFiles := func() { a.closeLater(files) }
	if err != nil {
		writeMu.Unlock()
		fail(hoist.EInvalid, fmt.Sprintf("%s: %v", req.Argv[0], err), exitStatusOf(err))
		return
	}
	closeFiles() // the program has them; hoistd must not keep the caller's terminal open
	started := a.cfg.Clock()
	startDetail := map[string]any{"argv": clipArgv(req.Argv), "path": path, "cwd": peer.cwd, "pid": proc.Pid(), "uid": peer.UID, "tty": req.TTY}
	if d.Policy != "" {
		startDetail["policy"] = d.Policy
	}
	if req.Reason != "" {
		startDetail["reason"] = req.Reason // the justification a policy asked for
	}
	if runID != "" {
		startDetail["run"] = runID
	}
	a.audit("command.started", peer.User, sid, startDetail)
	_ = localapi.WriteFrame(c, localapi.Reply{Started: &localapi.Started{Pid: proc.Pid(), SessionID: sid}})
	writeMu.Unlock()

	// Relay signals until the program exits or the client goes away.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			var sig localapi.Request
			if err := localapi.ReadFrame(c, nil, &sig); err != nil {
				return
			}
			if sig.Op == localapi.OpSignal && forwardable(sig.Signal) {
				_ = proc.Signal(syscall.Signal(sig.Signal))
			}
		}
	}()
	status := proc.Wait()
	a.audit("command.ended", peer.User, sid, map[string]any{"argv": clipArgv(req.Argv), "pid": proc.Pid(), "status": status,
		"started": started, "ended": a.cfg.Clock()})
	send(localapi.Reply{Exited: &localapi.Exited{Status: status}})
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

// Connection caps: one user cannot hold hoistd's descriptors, and all users
// together cannot exhaust them.
const (
	maxConnsPerUser = 256
	maxConns        = 2048
)

func (a *Agent) admit(uid int) bool {
	a.connMu.Lock()
	defer a.connMu.Unlock()
	if a.conns[uid] >= maxConnsPerUser || a.connTotal >= maxConns {
		return false
	}
	a.conns[uid]++
	a.connTotal++
	return true
}

func (a *Agent) release(uid int) {
	a.connMu.Lock()
	defer a.connMu.Unlock()
	a.conns[uid]--
	if a.conns[uid] == 0 {
		delete(a.conns, uid)
	}
	a.connTotal--
}

// refusalLimiter bounds how many refused runs per user are recorded one by
// one: a user looping on "hoist run" without a session must not fill root's
// disk with audit events. The count of those left out is recorded with the
// next one that is.
type refusalLimiter struct {
	mu     sync.Mutex
	byUID  map[int]*refusalWindow
	limit  int
	window time.Duration
}

type refusalWindow struct {
	start      time.Time
	count      int
	suppressed int
}

func newRefusalLimiter() *refusalLimiter {
	return &refusalLimiter{byUID: map[int]*refusalWindow{}, limit: 30, window: time.Minute}
}

// allow reports whether this refusal is recorded, and how many were left
// out before it.
func (l *refusalLimiter) allow(uid int, now time.Time) (suppressed int, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.byUID[uid]
	if w == nil || now.Sub(w.start) >= l.window {
		prev := 0
		if w != nil {
			prev = w.suppressed
		}
		w = &refusalWindow{start: now, suppressed: 0}
		l.byUID[uid] = w
		w.count = 1
		return prev, true
	}
	if w.count >= l.limit {
		w.suppressed++
		return 0, false
	}
	w.count++
	return 0, true
}
