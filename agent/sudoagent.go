package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/localapi"
	"github.com/hoist-jit/hoist/platform"
)

// sudoState is the agent's side of the sudo integration; guarded by
// Agent.sudoMu, except granted, which Agent.mu guards too.
type sudoState struct {
	cfg SudoConfig
	// granted holds the users whose drop-in is in place now.
	granted map[string]bool
	// refused holds the sessions whose user could not be given sudo (no
	// such account), recorded once each.
	refused map[string]bool
	// listed holds the users the PAM step names now, once stepSet: the
	// first sync writes it whatever a previous hoistd left.
	listed  []string
	stepSet bool
	// named is listed as a set, for the hook, which must not wait for a
	// sync (sudoMu) to finish; namedMu guards it.
	namedMu sync.Mutex
	named   map[string]bool
	// elevators are the executables (sudo, pkexec; resolved) whose
	// processes of a user are killed when the user's grant goes.
	elevators []string
	// open holds the sudos whose command.started is recorded and whose
	// command.ended is not yet, by pid: so that each start gets its end
	// once, from the close hook even after the session has ended, or from
	// the session's end for a sudo that was killed before it could close.
	openMu sync.Mutex
	open   map[int]openSudo
}

// openSudo is a sudo running a command in a session.
type openSudo struct {
	session, user, via string
}

// maxOpenSudos bounds the sudos tracked at once; past it a start is still
// recorded, and its end only if its session is active when sudo closes.
const maxOpenSudos = 4096

// opened notes that the sudo of pid started a command in session.
func (st *sudoState) opened(pid int, c openSudo) {
	st.openMu.Lock()
	defer st.openMu.Unlock()
	if len(st.open) < maxOpenSudos {
		st.open[pid] = c
	}
}

// closed takes the sudo of pid out of the open ones, and says whether it
// was there.
func (st *sudoState) closed(pid int) (openSudo, bool) {
	st.openMu.Lock()
	defer st.openMu.Unlock()
	c, ok := st.open[pid]
	delete(st.open, pid)
	return c, ok
}

// closedWith takes out the sudos of session.
func (st *sudoState) closedWith(session string) map[int]openSudo {
	st.openMu.Lock()
	defer st.openMu.Unlock()
	out := map[int]openSudo{}
	for pid, c := range st.open {
		if c.session == session {
			out[pid] = c
			delete(st.open, pid)
		}
	}
	return out
}

// endOpenSudos records the end of the sudos of session that never closed:
// its end killed them (a killed sudo runs no PAM close). Called once the
// session's processes are gone, so no close hook of theirs is to come.
func (a *Agent) endOpenSudos(session string) {
	if a.sudo == nil {
		return
	}
	for pid, c := range a.sudo.closedWith(session) {
		a.audit("command.ended", c.user, c.session, map[string]any{"pid": pid, "via": c.via, "why": "the session ended"})
	}
}

// prepareSudo checks the integration's configuration and copies the hook
// to its stable place, before any session is resumed; New then calls
// syncSudo, which removes the stale drop-ins a dead hoistd left and puts
// the PAM step in only while a drop-in is there.
func prepareSudo(cfg SudoConfig) (*sudoState, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if c.Hook == "" || c.Socket == "" {
		return nil, errors.New("sudo integration: the hook binary and hoistd's socket must be given")
	}
	if err := c.installHook(); err != nil {
		return nil, fmt.Errorf("install the PAM session hook of sudo: %w", err)
	}
	return &sudoState{cfg: c, granted: map[string]bool{}, refused: map[string]bool{}, elevators: elevators(), open: map[int]openSudo{}}, nil
}

func elevators() []string { return Elevators() }

// Elevators resolves the executables of sudo and pkexec: the usual paths
// and those on PATH, symlinks followed, as /proc/PID/exe names them.
func Elevators() []string {
	var out []string
	for _, name := range []string{"sudo", "pkexec"} {
		cands := []string{"/usr/bin/" + name}
		if p, err := exec.LookPath(name); err == nil {
			cands = append(cands, p)
		}
		for _, c := range cands {
			if r, err := filepath.EvalSymlinks(c); err == nil && filepath.IsAbs(r) {
				out = append(out, r)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// elevationKillTimeout bounds one user's kill of in-flight elevations.
const elevationKillTimeout = 5 * time.Second

// killElevations kills the sudo and pkexec processes of the drop-in name's
// user still on their way to the PAM session (stopped past sudoers' check,
// say): once the drop-in is gone the hook would let them through, so they
// go before the PAM step stops naming the user.
func (a *Agent) killElevations(name string) {
	uid, err := strconv.Atoi(strings.TrimPrefix(name, a.sudo.cfg.sudoersPrefix()))
	if err != nil || uid <= 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), elevationKillTimeout)
	defer cancel()
	killed, err := platform.KillElevations(ctx, uid, a.sudo.elevators)
	if err != nil {
		a.cfg.Logger.Error("cannot kill every sudo and pkexec in flight", "uid", uid, "err", err)
	}
	if len(killed) > 0 {
		a.audit("sudo.killed", "hoistd", name, map[string]any{"uid": uid, "pids": killed})
	}
}

// closeSudo takes the PAM step, the polkit rule and the hook's copy out
// when hoistd stops and no drop-in of its instance is left: the machine's
// sudo is then as without Hoist. With a drop-in left (a session resumes at
// the next start) they stay, so that its sudo keeps failing closed.
func (a *Agent) closeSudo() {
	if a.sudo == nil {
		return
	}
	a.sudoMu.Lock()
	defer a.sudoMu.Unlock()
	c := a.sudo.cfg
	if onDisk, err := c.sudoersOnDisk(); err != nil || len(onDisk) > 0 {
		return
	}
	if err := errors.Join(c.removePAM(), c.writePolkit(nil), c.removeHook()); err != nil {
		a.cfg.Logger.Error("cannot take the sudo integration out", "err", err)
	}
	a.sudo.listed, a.sudo.stepSet = nil, true
	a.sudo.setNamed(nil)
}

// sudoOn says whether the configuration in force lets sudo elevate
// (Elevate sudo and pkexec; yes unless a group says no).
func (a *Agent) sudoOn() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.pol.bundle.Config.ElevateSudo
	return c == nil || *c
}

// syncSudo makes the drop-ins and the polkit rule say what the sessions
// say: one drop-in per user with an active session (not ending) while the
// configuration allows, none for anyone else. It is idempotent and is
// called whenever that may have changed; errors are logged, and a drop-in
// that cannot be removed is still refused by sudo after its NOTAFTER.
func (a *Agent) syncSudo() {
	if a.sudo == nil {
		return
	}
	a.sudoMu.Lock()
	defer a.sudoMu.Unlock()
	st := a.sudo
	want := map[string]sudoGrant{}
	if a.sudoOn() {
		for _, g := range a.sudoCandidates() {
			want[st.cfg.sudoersName(g.uid)] = g
		}
	}
	// The step first, the drop-ins second, the step's shrinking last: a
	// drop-in is never on disk without the step that puts its sudo in the
	// session.
	if len(want) > 0 {
		if err := st.setStep(union(st.listed, grantUsers(want))); err != nil {
			a.cfg.Logger.Error("cannot add the PAM session step of sudo; no sudo is given", "err", err)
			want = map[string]sudoGrant{}
		}
	}
	onDisk, err := st.cfg.sudoersOnDisk()
	if err != nil {
		a.cfg.Logger.Error("cannot list the sudoers drop-ins", "dir", st.cfg.SudoersDir, "err", err)
	}
	kept := false             // a drop-in that could not be removed
	keep := map[string]bool{} // the drop-ins whose env_file stays
	for name := range want {
		keep[name] = true
	}
	for name := range onDisk {
		if _, ok := want[name]; ok {
			continue
		}
		if err := st.cfg.removeGrant(name); err != nil {
			a.cfg.Logger.Error("cannot remove a sudoers drop-in; sudo refuses it after its NOTAFTER", "file", name, "err", err)
			kept, keep[name] = true, true
			continue
		}
		a.audit("sudo.revoked", "hoistd", name, map[string]any{"file": filepath.Join(st.cfg.SudoersDir, name)})
	}
	// Sudos past sudoers' check while the drop-in was there, not yet in
	// their PAM session: killed now that no new one can start, and before
	// the step's shrinking below lets them skip the hook.
	for name := range onDisk {
		if _, ok := want[name]; !ok {
			a.killElevations(name)
		}
	}
	granted := map[string]bool{}
	var users []string
	for name, g := range want {
		path := filepath.Join(st.cfg.SudoersDir, name)
		if !st.cfg.inPlace(g) {
			if err := st.cfg.writeSudoers(g); err != nil {
				a.cfg.Logger.Error("cannot give the session's user sudo", "session", g.session, "user", g.user, "err", err)
				continue
			}
			a.audit("sudo.granted", g.user, g.session, map[string]any{"file": path, "uid": g.uid, "not_after": g.notAfter.UTC()})
		}
		granted[g.user] = true
		users = append(users, g.user)
	}
	if err == nil {
		if err := st.cfg.staleEnv(keep); err != nil {
			a.cfg.Logger.Error("cannot remove an old env_file of sudo", "dir", st.cfg.EnvDir, "err", err)
		}
	}
	if err := st.cfg.writePolkit(users); err != nil {
		a.cfg.Logger.Error("cannot write the polkit rule", "dir", st.cfg.PolkitDir, "err", err)
	}
	step := union(nil, users)
	if kept || err != nil {
		step = union(st.listed, users) // cannot tell whose drop-in is left
	}
	if err := st.setStep(step); err != nil {
		a.cfg.Logger.Error("cannot update the PAM session step of sudo", "err", err)
	}
	a.mu.Lock()
	st.granted = granted
	a.mu.Unlock()
}

// setStep makes the PAM step name users, and remembers it.
func (st *sudoState) setStep(users []string) error {
	if st.stepSet && slices.Equal(users, st.listed) {
		return nil
	}
	if err := st.cfg.setPAM(users); err != nil {
		return err
	}
	st.listed, st.stepSet = users, true
	st.setNamed(users)
	return nil
}

// setNamed records the users the PAM step names now.
func (st *sudoState) setNamed(users []string) {
	named := make(map[string]bool, len(users))
	for _, u := range users {
		named[u] = true
	}
	st.namedMu.Lock()
	st.named = named
	st.namedMu.Unlock()
}

// isNamed says whether the PAM step names user: sudo runs the hook for
// them, and until the step stops naming them (the last thing an end does)
// their sudo is Hoist's to allow or refuse — even once the drop-in is gone.
func (st *sudoState) isNamed(user string) bool {
	st.namedMu.Lock()
	defer st.namedMu.Unlock()
	return st.named[user]
}

// grantUsers lists the users of grants.
func grantUsers(grants map[string]sudoGrant) []string {
	var out []string
	for _, g := range grants {
		out = append(out, g.user)
	}
	return out
}

// union is the sorted set of the names in a and b.
func union(a, b []string) []string {
	out := slices.Concat(a, b)
	slices.Sort(out)
	return slices.Compact(out)
}

// sudoCandidates lists the active sessions whose user can be given sudo;
// the others are recorded once as refused. Called with sudoMu held.
func (a *Agent) sudoCandidates() []sudoGrant {
	now := a.cfg.Clock.Now()
	var recs []record
	a.mu.Lock()
	for _, s := range a.byUser {
		if s.rec.State == stateActive && !s.ending && now.Before(s.rec.NotAfter) {
			recs = append(recs, s.rec)
		}
	}
	a.mu.Unlock()
	var out []sudoGrant
	for _, rec := range recs {
		uid, err := sudoUID(rec.User)
		if err != nil {
			if !a.sudo.refused[rec.ID] {
				a.sudo.refused[rec.ID] = true
				a.cfg.Logger.Warn("the session's user cannot be given sudo", "session", rec.ID, "user", rec.User, "err", err)
				a.audit("sudo.refused", rec.User, rec.ID, map[string]any{"why": err.Error()})
			}
			continue
		}
		out = append(out, sudoGrant{user: rec.User, uid: uid, session: rec.ID, notAfter: rec.NotAfter})
	}
	return out
}

// sudoUID is the uid of a user who may be named in a drop-in.
func sudoUID(name string) (int, error) {
	if !ValidSudoUser(name) {
		return 0, fmt.Errorf("the user name %q cannot be written in a sudoers file", clip(name, 40))
	}
	u, err := user.Lookup(name)
	if err != nil {
		return 0, fmt.Errorf("no account %s on this machine", name)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil || uid <= 0 {
		return 0, fmt.Errorf("account %s has uid %s", name, u.Uid)
	}
	return uid, nil
}

// hasDropIn says whether uid has a drop-in of this instance on disk: one
// may be written before granted says so, or left by a previous hoistd, and
// its sudo must not run outside a session either way.
func (c SudoConfig) hasDropIn(uid int) bool {
	_, err := os.Lstat(filepath.Join(c.SudoersDir, c.sudoersName(uid)))
	return err == nil
}

// sudoGranted says whether user's drop-in is in place.
func (a *Agent) sudoGranted(user string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.sudo != nil && a.sudo.granted[user]
}

// hookProcess is the sudo or pkexec process whose PAM session step called
// the hook: the hook's parent, as /proc says.
type hookProcess struct {
	pid  int
	ruid int
	exe  string
	argv []string
	cwd  string
}

// hookParent finds the parent of the hook process pid and what it is. The
// hook waits for hoistd's answer, and pam_exec waits for the hook, so the
// parent cannot exit and be replaced meanwhile; a parent that is gone has
// left the hook to a reaper, whose real uid is root's (no session).
func hookParent(pid int) (hookProcess, error) {
	stat, err := readFileLimit(fmt.Sprintf("/proc/%d/stat", pid), 4096)
	if err != nil {
		return hookProcess{}, err
	}
	// The command name may hold anything, parentheses too: fields start
	// after the last ')'.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return hookProcess{}, fmt.Errorf("unreadable /proc/%d/stat", pid)
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 2 {
		return hookProcess{}, fmt.Errorf("unreadable /proc/%d/stat", pid)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil || ppid <= 1 {
		return hookProcess{}, fmt.Errorf("the hook has no parent to adopt")
	}
	p := hookProcess{pid: ppid}
	status, err := readFileLimit(fmt.Sprintf("/proc/%d/status", ppid), 16<<10)
	if err != nil {
		return p, err
	}
	p.ruid = -1
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "Uid:"); ok {
			if uf := strings.Fields(v); len(uf) > 0 {
				p.ruid, _ = strconv.Atoi(uf[0])
			}
		}
	}
	if p.ruid < 0 {
		return p, fmt.Errorf("no real uid in /proc/%d/status", ppid)
	}
	p.exe, _ = os.Readlink(fmt.Sprintf("/proc/%d/exe", ppid))
	p.cwd, _ = os.Readlink(fmt.Sprintf("/proc/%d/cwd", ppid))
	if cmdline, err := readFileLimit(fmt.Sprintf("/proc/%d/cmdline", ppid), 64<<10); err == nil {
		p.argv = clipArgv(strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00"))
	}
	return p, nil
}

// adopter is a group that can take in a running process.
type adopter interface{ Adopt(pid int) error }

// serveHook answers the sudo and pkexec integration's hooks.
func (a *Agent) serveHook(x *exchange) {
	if a.sudo == nil {
		x.fail(hoist.EUnavailable, "the sudo integration is off in this hoistd", 1)
		return
	}
	if x.req.Hook == localapi.HookPolkit {
		a.servePolkitHook(x)
		return
	}
	if x.peer.UID != 0 {
		x.fail(hoist.EForbidden, "only root (sudo's PAM session) may call the session hook", 126)
		return
	}
	p, err := hookParent(x.peer.PID)
	if err != nil {
		x.fail(hoist.EInvalid, "hoistd cannot read the hook's parent: "+err.Error(), 1)
		return
	}
	name, err := lookupUser(p.ruid)
	// A user the step still names is Hoist's even without a drop-in: an
	// end removes the drop-in before it kills the sudos past their check
	// and stops naming the user, and a sudo resumed in between must be
	// refused, not let through unheld.
	if p.ruid == 0 || err != nil || !a.sudoGranted(name) && !a.sudo.cfg.hasDropIn(p.ruid) && !a.sudo.isNamed(name) {
		x.reply(localapi.Reply{Status: &localapi.Status{State: "none", User: name}}) // not Hoist's sudo: nothing to do
		return
	}
	if !slices.Contains(a.sudo.elevators, strings.TrimSuffix(p.exe, " (deleted)")) {
		a.audit("command.refused", name, "", map[string]any{"pid": p.pid, "uid": p.ruid, "path": p.exe, "why": "the hook's parent is not sudo or pkexec"})
		x.fail(hoist.EForbidden, "the hook's parent is not sudo or pkexec", 126)
		return
	}
	s := a.activeFor(name)
	if x.req.Hook == localapi.HookClose {
		// The session the command started in, even if it has ended since
		// (a sudo that got the end's SIGTERM closes after it).
		if c, ok := a.sudo.closed(p.pid); ok {
			a.audit("command.ended", name, c.session, map[string]any{"pid": p.pid, "via": c.via})
		} else if s != nil {
			a.audit("command.ended", name, s.rec.ID, map[string]any{"pid": p.pid, "via": filepath.Base(p.exe)})
		}
		x.reply(localapi.Reply{Status: &localapi.Status{State: "none", User: name}})
		return
	}
	if err := a.adoptInto(s, p); err != nil {
		a.audit("command.refused", name, "", map[string]any{"argv": p.argv, "cwd": p.cwd, "pid": p.pid, "uid": p.ruid, "via": filepath.Base(p.exe), "why": err.Error()})
		x.fail(hoist.EForbidden, err.Error(), 126)
		return
	}
	a.sudo.opened(p.pid, openSudo{session: s.rec.ID, user: name, via: filepath.Base(p.exe)})
	a.audit("command.started", name, s.rec.ID, map[string]any{"argv": p.argv, "path": p.exe, "cwd": p.cwd, "pid": p.pid, "uid": p.ruid, "via": filepath.Base(p.exe)})
	x.reply(localapi.Reply{Status: statusReply(a.Status(name))})
}

// adoptInto moves p into s's cgroup, unless s has begun to end: then the
// command is refused (the drop-in is going, and a command started now
// would outlive the session).
func (a *Agent) adoptInto(s *session, p hookProcess) error {
	if s == nil {
		return fmt.Errorf("JIT elevated access has ended")
	}
	s.startMu.RLock()
	defer s.startMu.RUnlock()
	if !a.stillActive(s) {
		return fmt.Errorf("JIT elevated access has ended")
	}
	g, ok := s.group.(adopter)
	if !ok {
		return fmt.Errorf("this hoistd's process tracker cannot hold sudo's commands")
	}
	if err := g.Adopt(p.pid); err != nil {
		return fmt.Errorf("cannot put sudo in the session: %v", err)
	}
	return nil
}

// servePolkitHook tells polkitd's rule whether the user it asks about has
// an active session with sudo given: exit 0 is yes.
func (a *Agent) servePolkitHook(x *exchange) {
	if x.peer.UID != 0 && x.peer.UID != a.polkitUID() {
		x.fail(hoist.EForbidden, "only polkitd may ask the polkit hook", 126)
		return
	}
	if !a.sudoGranted(x.req.User) || !a.activeNotEnding(x.req.User) {
		x.fail(hoist.ENotFound, "no active session for this user", 1)
		return
	}
	a.audit("polkit.authorised", x.req.User, a.sessionIDOf(x.req.User), map[string]any{"action": x.req.Action})
	x.reply(localapi.Reply{Status: &localapi.Status{State: "active", User: x.req.User, Sudo: true}})
}

// activeNotEnding says whether user has a session that is active and has
// not begun to end: from the moment an end begins, nothing new elevates.
func (a *Agent) activeNotEnding(user string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.byUser[user]
	return s != nil && s.rec.State == stateActive && !s.ending && a.cfg.Clock.Now().Before(s.rec.NotAfter)
}

// sessionIDOf is the id of user's session ("" when none).
func (a *Agent) sessionIDOf(user string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.byUser[user]; s != nil {
		return s.rec.ID
	}
	return ""
}

// polkitUID is the uid polkitd runs its rules' helpers as (-1: none).
func (a *Agent) polkitUID() int {
	u, err := user.Lookup(a.sudo.cfg.PolkitUser)
	if err != nil {
		return -1
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return -1
	}
	return uid
}
