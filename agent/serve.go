package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/localapi"
)

// Peer is who is on the other end of a connection, as the kernel says.
type Peer struct {
	UID int
	GID int
	// Groups are the caller's supplementary groups, from the kernel.
	Groups []uint32
	PID    int
	User   string
	// cwd is the peer's working directory, read from /proc through the pid
	// the kernel vouches for; "/" when it cannot be read.
	cwd string
}

// permit is who may call an op.
type permit int

const (
	// anyUser: every local user, for their own JIT state and programs.
	anyUser permit = iota
	// rootOnly: the machine's root, for its local grants.
	rootOnly
)

// op is one call of the local API: who may make it, whether descriptors
// come with it, and its handler, which runs only once both are checked.
type op struct {
	permit permit
	fds    bool
	handle func(a *Agent, x *exchange)
}

// ops is the local API. An op not listed is refused before anything else.
var ops = map[string]op{
	localapi.OpStatus:  {anyUser, false, (*Agent).serveStatus},
	localapi.OpRequest: {anyUser, false, (*Agent).serveRequest},
	localapi.OpCancel:  {anyUser, false, (*Agent).serveCancel},
	localapi.OpExtend:  {anyUser, false, (*Agent).serveExtend},
	localapi.OpExit:    {anyUser, false, (*Agent).serveExit},
	localapi.OpExplain: {anyUser, false, (*Agent).serveExplain},
	localapi.OpRun:     {anyUser, true, (*Agent).serveRun},
	localapi.OpGrant:   {rootOnly, false, (*Agent).serveGrant},
	// Root's PAM step or polkitd: serveHook checks which.
	localapi.OpHook: {anyUser, false, (*Agent).serveHook},
	// Offline approval (offline.go).
	localapi.OpOffline: {anyUser, false, (*Agent).serveOffline},
	localapi.OpRespond: {anyUser, false, (*Agent).serveRespond},
}

// exchange is one connection's request on its way through hoistd.
type exchange struct {
	c     *net.UnixConn
	peer  Peer
	req   localapi.Request
	files []*os.File
	a     *Agent
}

// replyTimeout bounds every write to a client: a client that stops reading
// holds up nothing but its own connection.
const replyTimeout = 5 * time.Second

// reply writes one frame to the client, within replyTimeout.
func (x *exchange) reply(r localapi.Reply) {
	_ = x.c.SetWriteDeadline(time.Now().Add(replyTimeout))
	_ = localapi.WriteFrame(x.c, r)
}

// fail closes what the caller passed and refuses the request.
func (x *exchange) fail(code, msg string, exit int) {
	x.releaseFiles()
	x.reply(localapi.Reply{Error: &localapi.Error{Code: code, Message: msg, Exit: exit}})
}

// failWith refuses with a hoist error's code and safe message.
func (x *exchange) failWith(err error, exit int) {
	x.fail(hoist.ErrorCode(err), hoist.ErrorMessage(err), exit)
}

// releaseFiles hands the caller's descriptors to the closers, once.
func (x *exchange) releaseFiles() {
	x.a.closeLater(x.peer.UID, x.files)
	x.files = nil
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
			defer func() {
				if p := recover(); p != nil {
					a.cfg.Logger.Error("a connection's handler panicked; hoistd goes on", "panic", p)
				}
			}()
			a.serveConn(c)
		}()
	}
}

// serveConn is one exchange: who is calling (from the kernel), the request
// read and bounded, the op and its permit checked, then the handler.
func (a *Agent) serveConn(c *net.UnixConn) {
	peer, err := peerOf(c)
	if err != nil {
		a.cfg.Logger.Warn("refusing a connection without credentials", "err", err)
		closeConn(c)
		return
	}
	x := &exchange{c: c, peer: peer, a: a}
	if !a.admit(peer.UID) {
		x.fail(hoist.ERateLimited, "too many connections to hoistd from this user; try again shortly", 1)
		closeConn(c)
		return
	}
	// The connection's slot is given back only once it is closed: its
	// close is part of what one user may make hoistd do at once.
	defer a.release(peer.UID)
	defer closeConn(c)
	if a.closesPending(peer.UID) {
		x.fail(hoist.ERateLimited, "hoistd is still closing descriptors this user passed earlier; try again shortly", 1)
		return
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	req, files, err := localapi.ReceiveRequest(c)
	if err != nil {
		if errors.Is(err, localapi.ErrFrame) {
			x.fail(hoist.EInvalid, "hoistd refused the request: "+err.Error(), 1)
		}
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	x.req, x.files = req, files
	defer x.releaseFiles() // whatever a handler did not hand on
	if req.V != localapi.Version {
		x.fail(hoist.EInvalid, fmt.Sprintf("protocol version %d is not spoken here (hoistd speaks %d): update hoist", req.V, localapi.Version), 1)
		return
	}
	o, ok := ops[req.Op]
	switch {
	case !ok:
		x.fail(hoist.EInvalid, fmt.Sprintf("unknown request %q", clip(req.Op, 32)), 1)
		return
	case !o.fds && len(files) > 0:
		x.fail(hoist.EInvalid, "descriptors are only passed with run", 1)
		return
	case o.permit == rootOnly && peer.UID != 0:
		x.fail(hoist.EForbidden, fmt.Sprintf("only root may %s", req.Op), 126)
		return
	}
	// Every field bounded, printable where people or logs will see it, and
	// only the fields the op takes (argv: a command, no NUL, within limits).
	if err := req.Check(); err != nil {
		x.fail(hoist.EInvalid, "hoistd refused the request: "+err.Error(), 1)
		return
	}
	o.handle(a, x)
}

// clip cuts s to n bytes for a message.
func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

func (a *Agent) serveStatus(x *exchange) {
	st := statusReply(a.Status(x.peer.User))
	if x.req.Helper {
		st.Helper = helperReply(a.Helper())
	}
	x.reply(localapi.Reply{Status: st})
}

func (a *Agent) serveExit(x *exchange) {
	rep, id, err := a.EndUser(x.peer.User, string(hoist.EndExited), x.peer.User)
	if err != nil && id == "" {
		x.failWith(err, 1)
		return
	}
	a.mu.Lock()
	up := a.upstream
	a.mu.Unlock()
	if up != nil {
		up.SessionEnded(id)
	}
	x.reply(localapi.Reply{Ended: &localapi.Ended{SessionID: id, Terminated: rep.Terminated}})
}

// askAllowed bounds the requests and withdrawals one user sends the
// server, recording once per window that the limit was reached.
func (a *Agent) askAllowed(x *exchange) bool {
	suppressed, ok := a.limits.allow(x.peer.UID, asks, a.cfg.Clock.Now())
	if suppressed > 0 {
		a.audit("request.rate_limited", x.peer.User, "", map[string]any{"uid": x.peer.UID, "refused": suppressed, "window": asks.window.String()})
	}
	if !ok {
		x.fail(hoist.ERateLimited, fmt.Sprintf("too many requests from %s in the last %s; try again shortly", x.peer.User, asks.window), 1)
	}
	return ok
}

func (a *Agent) serveRequest(x *exchange) {
	var d time.Duration
	if x.req.Duration != "" {
		var err error
		if d, err = hoist.ParseDuration(x.req.Duration); err != nil {
			x.failWith(err, 1)
			return
		}
	}
	if !a.askAllowed(x) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := a.Request(ctx, x.peer.User, x.req.Reason, d)
	if err != nil {
		x.failWith(err, 1)
		return
	}
	st := statusReply(a.Status(x.peer.User))
	st.AlreadyPending = info.Existing
	if info.State == "approved" {
		// Approved as it was asked (a rule of the policy), whether or not
		// the session has started yet: the caller says so, in the
		// server's words.
		st.RequestID, st.RequestState, st.DecisionReason = info.ID, info.State, info.Reason
	}
	x.reply(localapi.Reply{Status: st})
}

// serveExtend files the caller's request for more time on their active
// session.
func (a *Agent) serveExtend(x *exchange) {
	d, err := hoist.ParseDuration(x.req.Duration)
	if err != nil {
		x.failWith(err, 1)
		return
	}
	if !a.askAllowed(x) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	info, err := a.RequestExtension(ctx, x.peer.User, x.req.Reason, d)
	if err != nil {
		x.failWith(err, 1)
		return
	}
	st := statusReply(a.Status(x.peer.User))
	st.AlreadyPending = info.Existing
	x.reply(localapi.Reply{Status: st})
}

func (a *Agent) serveCancel(x *exchange) {
	if !a.askAllowed(x) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := a.Cancel(ctx, x.peer.User); err != nil {
		x.failWith(err, 1)
		return
	}
	x.reply(localapi.Reply{Status: statusReply(a.Status(x.peer.User))})
}

func (a *Agent) serveExplain(x *exchange) {
	path, err := resolveAs(x.peer, x.req.Argv[0], x.peer.cwd)
	if err != nil {
		x.fail(hoist.ENotFound, fmt.Sprintf("%s: %v", x.req.Argv[0], err), exitStatusOf(err))
		return
	}
	b := a.Bundle()
	d := hoist.Decide(b, a.factsFor(b, x.peer.User, path, x.req.Argv, a.activeFor(x.peer.User) != nil, x.req.Reason))
	_, jit, _ := a.jit()
	why := d.Why
	if d.Action == hoist.ActionNone && d.Policy == "" {
		why = a.notActive(x.peer.User, path, d.Note)
	}
	x.reply(localapi.Reply{Explained: &localapi.Explanation{Path: path, Action: d.Action, Elevate: d.Elevate,
		Policy: d.Policy, Why: why, Session: d.Session, Audited: d.Audited, JIT: jit, Argv: d.Argv, ArgvMisses: d.ArgvMisses}})
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
	if h.ReminderEvery > 0 {
		out.ReminderEvery = hoist.FormatDuration(h.ReminderEvery)
	}
	return out
}

func statusReply(st StatusInfo) *localapi.Status {
	out := &localapi.Status{State: st.State, User: st.User, SessionID: st.SessionID, RequestID: st.RequestID, EndReason: st.EndReason,
		RequestState: st.RequestState, DecisionReason: st.DecisionReason, Closing: st.Closing, Unkillable: st.Unkillable, Sudo: st.Sudo,
		Emergency: st.Emergency}
	if !st.ExpiresAt.IsZero() {
		at := st.ExpiresAt.UTC().Format(time.RFC3339)
		out.ExpiresAt = &at
	}
	out.RemainingSeconds = int64((st.Remaining + time.Second - 1) / time.Second)
	return out
}

// serveGrant lets the machine's root grant JIT mode locally — a break-glass
// path for machines without a server, loudly audited. The op table lets
// only root here.
func (a *Agent) serveGrant(x *exchange) {
	if a.cfg.VerifyGrant != nil {
		// On an enrolled machine JIT mode is the server's to grant: a local
		// grant there would be root (say, a session's own root shell)
		// granting itself more time that no approver saw.
		x.fail(hoist.EForbidden, "this machine is enrolled with a hoist-server: JIT mode is requested there (hoist request), not granted locally", 126)
		return
	}
	d, err := hoist.ParseDuration(x.req.Duration)
	if err == nil {
		err = hoist.DefaultApprovalSettings().CheckDuration(d)
	}
	if err != nil {
		x.failWith(err, 1)
		return
	}
	if _, err := lookupUserName(x.req.User); err != nil {
		x.fail(hoist.EInvalid, fmt.Sprintf("no user %q on this machine", x.req.User), 1)
		return
	}
	now := a.cfg.Clock.Now()
	g := Grant{SessionID: hoist.NewID(hoist.SessionIDPrefix), User: x.req.User, NotBefore: now, NotAfter: now.Add(d), By: localGrantBy}
	if err := a.Activate(g); err != nil {
		x.failWith(err, 1)
		return
	}
	x.reply(localapi.Reply{Status: statusReply(a.Status(x.req.User))})
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

// serveOffline makes an offline challenge for the caller.
func (a *Agent) serveOffline(x *exchange) {
	var d time.Duration
	if x.req.Duration != "" {
		var err error
		if d, err = hoist.ParseDuration(x.req.Duration); err != nil {
			x.failWith(err, 1)
			return
		}
	}
	if !a.askAllowed(x) {
		return
	}
	c, err := a.OfflineChallenge(x.peer.User, x.req.Reason, d)
	if err != nil {
		x.failWith(err, 1)
		return
	}
	x.reply(localapi.Reply{Challenge: &localapi.Challenge{Code: c.Code, Duration: hoist.FormatDuration(c.Duration),
		ExpiresAt: c.ExpiresAt.UTC().Format(time.RFC3339)}})
}

// serveRespond checks the caller's response (or emergency code) and
// answers with the caller's state: active once it started the session.
func (a *Agent) serveRespond(x *exchange) {
	if !a.askAllowed(x) {
		return
	}
	if err := a.Respond(x.peer.User, x.req.Code); err != nil {
		x.failWith(err, 1)
		return
	}
	x.reply(localapi.Reply{Status: statusReply(a.Status(x.peer.User))})
}
