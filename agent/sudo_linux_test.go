package agent_test

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/platform"
	"github.com/hoist-jit/hoist/testenv"
	"golang.org/x/sys/unix"
)

// newSudoRig is a rig whose hoistd has the sudo integration on, under an
// instance name of its own: its drop-ins, PAM lines and polkit rule are
// its own, and are all gone when the test ends, the PAM services exactly
// as they were.
func newSudoRig(t *testing.T) *rig { t.Helper(); return newSudoRigWith(t, nil) }

// rigSudo is what a test may change in newSudoRig's integration.
type rigSudo struct {
	// services are the PAM services that get the step.
	services []string
	// polkit turns on the polkit rule.
	polkit bool
}

// newSudoRigWith is newSudoRig with change applied to its integration.
func newSudoRigWith(t *testing.T, change func(*rigSudo)) *rig {
	t.Helper()
	testenv.RequireRoot(t)
	_, err := exec.LookPath("sudo")
	testenv.Require(t, err == nil, "needs sudo (scripts/test installs it)")
	_, err = exec.LookPath("visudo")
	testenv.Require(t, err == nil, "needs visudo")
	mount, err := platform.FindCgroup2()
	testenv.Require(t, err == nil, "needs cgroup v2")
	bin := testenv.Binaries(t)
	r := &rig{t: t, user: testenv.NewUser(t), hoist: filepath.Join(bin, "hoist"), clock: testenv.NewClock(time.Now())}
	pub := testenv.PublicDir(t)
	r.socket = filepath.Join(pub, "hoistd.sock")
	r.state = t.TempDir()
	r.cgs = platform.Cgroups{Root: filepath.Join(mount, "hoist-test-"+filepath.Base(pub))}
	t.Cleanup(func() { removeCgroups(r.cgs.Root) })
	r.tracker = r.cgs
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	opt := rigSudo{services: []string{"sudo", "sudo-i"}}
	if change != nil {
		change(&opt)
	}
	r.sudo = &agent.SudoConfig{Instance: "t" + hex.EncodeToString(b), Hook: filepath.Join(bin, "hoistd"), Socket: r.socket,
		PAMServices: opt.services}
	if opt.polkit {
		r.sudo.PolkitDir = agent.DefaultPolkitDir
	}
	before := pamFiles(t)
	_, err = os.Stat("/etc/pam.d/polkit-1")
	hadPolkit := err == nil
	t.Cleanup(func() {
		// Removed as "hoistd end-sessions" removes it, with no hoistd
		// running: neither the hook binary nor the socket is known then.
		removal := agent.SudoConfig{Instance: r.sudo.Instance, PolkitDir: r.sudo.PolkitDir, PAMServices: r.sudo.PAMServices}
		if err := agent.UninstallSudo(removal); err != nil {
			t.Errorf("uninstall: %v", err)
		}
		if left := dropIns(t, r.sudo.Instance); len(left) > 0 {
			t.Errorf("drop-ins left after uninstall: %v", left)
		}
		if left := sudoEnvFiles(t, r.sudo.Instance); len(left) > 0 {
			t.Errorf("env_files of sudo left after uninstall: %v", left)
		}
		samePAMOf(t, r.sudo.Instance, "after uninstall", before)
		if _, err := os.Stat(filepath.Join(agent.DefaultHookDir, "hoistd-hook-"+r.sudo.Instance)); err == nil {
			t.Errorf("the hook's copy is left after uninstall")
		}
		if _, err := os.Stat("/etc/pam.d/polkit-1"); err == nil && !hadPolkit {
			t.Errorf("/etc/pam.d/polkit-1, copied for the step, is left after uninstall")
		}
	})
	r.start()
	return r
}

// pamFiles reads sudo's PAM services.
func pamFiles(t *testing.T) map[string]string {
	out := map[string]string{}
	for _, svc := range []string{"sudo", "sudo-i"} {
		data, err := os.ReadFile(filepath.Join("/etc/pam.d", svc))
		if err != nil {
			t.Fatal(err)
		}
		out[svc] = string(data)
	}
	return out
}

// withoutOthers is a PAM service without the steps of hoistd instances
// other than ours, which tests of other packages running at the same time
// may add and remove: hoistd lines and the guard line before each.
func withoutOthers(file, instance string) string {
	lines := strings.SplitAfter(file, "\n")
	var out []string
	for _, l := range lines {
		if !strings.Contains(l, " sudo-hook ") || strings.Contains(l, "--instance="+instance+" ") {
			out = append(out, l)
			continue
		}
		if n := len(out); n > 0 && strings.Contains(out[n-1], "pam_succeed_if.so quiet ruser notin ") {
			out = out[:n-1]
		}
	}
	return strings.Join(out, "")
}

// samePAM fails unless sudo's PAM services are byte for byte as in
// before, other instances' steps aside.
func (r *rig) samePAM(when string, before map[string]string) {
	r.t.Helper()
	samePAMOf(r.t, r.sudo.Instance, when, before)
}

func samePAMOf(t *testing.T, instance, when string, before map[string]string) {
	t.Helper()
	for name, got := range pamFiles(t) {
		got, want := withoutOthers(got, instance), withoutOthers(before[name], instance)
		if got != want {
			t.Errorf("%s: /etc/pam.d/%s is not as before:\n%s\nwant:\n%s", when, name, got, want)
		}
	}
}

// hasStep says whether our instance's step is in /etc/pam.d/sudo.
func (r *rig) hasStep() bool {
	return strings.Contains(pamFiles(r.t)["sudo"], "--instance="+r.sudo.Instance+" ")
}

// dropIns lists the sudoers drop-ins of instance.
func dropIns(t *testing.T, instance string) []string {
	m, err := filepath.Glob("/etc/sudoers.d/hoist-" + instance + "-*")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// sudo runs "sudo -n ARGS" as the rig's user.
func (r *rig) sudoAs(args string) outcome {
	r.t.Helper()
	return r.sh("", "exec sudo -n "+args)
}

// pidOf parses the last line of out as a pid.
func pidOf(t *testing.T, out outcome) int {
	t.Helper()
	lines := strings.Fields(out.stdout)
	if len(lines) == 0 {
		t.Fatalf("no pid printed: %+v", out)
	}
	pid, err := strconv.Atoi(lines[len(lines)-1])
	if err != nil {
		t.Fatalf("no pid printed: %+v", out)
	}
	return pid
}

func TestSudoDuringTheSessionOnly(t *testing.T) {
	r := newSudoRig(t)
	if got := r.sudoAs("true"); got.code == 0 {
		t.Fatalf("sudo worked before the session: %+v", got)
	}
	id := r.grant(30 * time.Minute)
	if got := r.agent.Status(r.user.Name); !got.Sudo {
		t.Errorf("status during the session: Sudo = false, want true")
	}
	if got := r.sh("", "hoist status"); !strings.Contains(got.stdout, "sudo and pkexec work too") {
		t.Errorf("hoist status during the session does not say sudo works: %+v", got)
	}
	got := r.sudoAs("id -u")
	if got.code != 0 || strings.TrimSpace(got.stdout) != "0" {
		t.Fatalf("sudo -n id -u during the session: %+v, want 0", got)
	}
	other := testenv.NewUser(t)
	if got := r.sudoAs("-u " + other.Name + " id -u"); got.code != 0 || strings.TrimSpace(got.stdout) != strconv.Itoa(int(other.UID)) {
		t.Errorf("sudo -n -u %s id -u during the session: %+v, want %d", other.Name, got, other.UID)
	}
	if got := r.sh("", "SHELL=/bin/sh exec sudo -n -s id -u"); got.code != 0 || strings.TrimSpace(got.stdout) != "0" {
		t.Errorf("sudo -n -s id -u during the session: %+v, want 0", got)
	}
	// A daemon started through sudo, a double fork under sudo -i, a
	// nohup under sudo -s, and a program run as another user.
	daemon := pidOf(t, r.sudoAs(`sh -c 'setsid sleep 1000 >/dev/null 2>&1 & echo $!'`))
	forked := pidOf(t, r.sudoAs(`-i sh -c '(sh -c "sleep 1001 >/dev/null 2>&1 & echo \$!" &) ; sleep 0.1'`))
	shelled := pidOf(t, r.sh("", `SHELL=/bin/sh exec sudo -n -s sh -c 'nohup sleep 1002 >/dev/null 2>&1 & echo $!'`))
	asOther := pidOf(t, r.sudoAs("-u "+other.Name+` sh -c 'setsid sleep 1003 >/dev/null 2>&1 & echo $!'`))
	for _, pid := range []int{daemon, forked, shelled, asOther} {
		if !testenv.Alive(pid) {
			t.Fatalf("pid %d is not running", pid)
		}
		g, err := r.cgs.OpenGroup(id)
		if err != nil {
			t.Fatal(err)
		}
		pids, _ := g.Pids()
		if !slices.Contains(pids, pid) {
			t.Errorf("pid %d started through sudo is not in the session's cgroup (%v)", pid, pids)
		}
	}
	r.clock.Add(31 * time.Minute)
	testenv.WaitUntil(t, "the end to complete", func() bool { return len(r.events("session.ended")) == 1 })
	for _, pid := range []int{daemon, forked, shelled, asOther} {
		testenv.WaitUntil(t, fmt.Sprintf("pid %d to be gone", pid), func() bool { return !testenv.Alive(pid) })
	}
	if got := r.sudoAs("true"); got.code == 0 {
		t.Fatalf("sudo worked after the session: %+v", got)
	}
	if left := dropIns(t, r.sudo.Instance); len(left) > 0 {
		t.Errorf("drop-ins after the end: %v", left)
	}
	// Every command through sudo is in the audit, with its argv.
	var argvs []string
	for _, ev := range r.events("command.started") {
		if ev.Subject == id && ev.Detail["via"] == "sudo" {
			argvs = append(argvs, fmt.Sprint(ev.Detail["argv"]))
		}
	}
	for _, want := range []string{"[sudo -n id -u]", "[sudo -n -i sh -c", "[sudo -n -s sh -c", "[sudo -n -u " + other.Name + " id -u]"} {
		found := false
		for _, a := range argvs {
			found = found || strings.HasPrefix(a, want)
		}
		if !found {
			t.Errorf("the audit has no sudo command %q; it has %q", want, argvs)
		}
	}
}

func TestSudoRefusedAfterACrashAndTheWindow(t *testing.T) {
	r := newSudoRig(t)
	// A short real window: sudo checks NOTAFTER against the real clock.
	id := r.grant(3 * time.Second)
	notAfter := r.clock.Now().Add(3 * time.Second)
	if got := r.sudoAs("id -u"); strings.TrimSpace(got.stdout) != "0" {
		t.Fatalf("sudo -n id -u during the session: %+v", got)
	}
	r.stop() // as kill -9 leaves it: the drop-in stays
	r.stop = func() {}
	if len(dropIns(t, r.sudo.Instance)) != 1 {
		t.Fatalf("the drop-in is gone without its hoistd")
	}
	// No upper bound: once the window has passed, sudo itself says no.
	testenv.WaitUntil(t, "the window to pass", func() bool { return time.Now().After(notAfter.Add(time.Second)) })
	testenv.WaitUntil(t, "sudo to refuse by its own NOTAFTER", func() bool {
		got := r.sudoAs("true")
		return got.code != 0 && strings.Contains(got.stderr, "password is required")
	})
	r.clock.Add(time.Hour)
	r.start()
	if left := dropIns(t, r.sudo.Instance); len(left) > 0 {
		t.Errorf("the restarted hoistd left the stale drop-in: %v", left)
	}
	testenv.WaitUntil(t, "the session to end", func() bool { return r.agent.Status(r.user.Name).State != "active" })
	if got := r.sudoAs("true"); got.code == 0 {
		t.Fatalf("sudo worked after the window: %+v", got)
	}
	_ = id
}

func TestSudoHookFailsClosedWithoutHoistd(t *testing.T) {
	r := newSudoRig(t)
	r.grant(30 * time.Minute)
	r.stop() // hoistd is gone; the drop-in is still valid
	r.stop = func() {}
	got := r.sudoAs("id -u")
	if got.code == 0 {
		t.Fatalf("sudo ran a session's command with hoistd down (outside the session's cgroup): %+v", got)
	}
	r.start()
}

func TestSudoersUserKeepsTheirSudo(t *testing.T) {
	r := newSudoRig(t)
	giveOwnSudo(t, r.user)
	check := func(when string) {
		if got := r.sudoAs("id -u"); strings.TrimSpace(got.stdout) != "0" {
			t.Errorf("%s: sudo -n id -u = %+v, want 0", when, got)
		}
	}
	check("before the session")
	r.grant(30 * time.Minute)
	check("during the session")
	r.clock.Add(31 * time.Minute)
	testenv.WaitUntil(t, "the end to complete", func() bool { return len(r.events("session.ended")) == 1 })
	check("after the session")
}

func TestSudoBadUserNameRefusedBeforeAnyFile(t *testing.T) {
	r := newSudoRig(t)
	for _, name := range []string{"x\nALL ALL=(ALL) NOPASSWD: ALL", "a b", `x"];polkit`, "-n", "../etc", strings.Repeat("a", 33)} {
		now := r.clock.Now()
		err := r.agent.Activate(agent.Grant{SessionID: hoist.NewID(hoist.SessionIDPrefix), User: name, NotBefore: now, NotAfter: now.Add(time.Hour), By: "test"})
		if hoist.ErrorCode(err) != hoist.EInvalid {
			t.Errorf("Activate(%q) = %v, want invalid", name, err)
		}
	}
	if left := dropIns(t, r.sudo.Instance); len(left) > 0 {
		t.Errorf("drop-ins written: %v", left)
	}
	if m, _ := filepath.Glob(filepath.Join(r.state, "sessions", "*")); len(m) > 0 {
		t.Errorf("session files written: %v", m)
	}
}

// asUser runs "sh -c script" as u, as r.sh does for the rig's user.
func (r *rig) asUser(u testenv.User, script string) outcome {
	r.t.Helper()
	saved := r.user
	r.user = u
	defer func() { r.user = saved }()
	return r.sh("", script)
}

// giveOwnSudo puts a sudoers rule of the admin's own for u in place (as an
// admin would: checked by visudo first), removed when the test ends.
func giveOwnSudo(t *testing.T, u testenv.User) {
	t.Helper()
	own := fmt.Sprintf("/etc/sudoers.d/hoisttest-%d", u.UID)
	rule := fmt.Sprintf("#%d ALL=(ALL:ALL) NOPASSWD: ALL\n", u.UID)
	if err := os.WriteFile(own+".tmp", []byte(rule), 0o440); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("visudo", "-cqf", own+".tmp").CombinedOutput(); err != nil {
		os.Remove(own + ".tmp")
		t.Fatalf("visudo: %v %s", err, out)
	}
	if err := os.Rename(own+".tmp", own); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(own) })
}

// hookCopy is where the rig's hoistd copies its hook.
func (r *rig) hookCopy() string {
	return filepath.Join(agent.DefaultHookDir, "hoistd-hook-"+r.sudo.Instance)
}

func TestSudoPAMStepOnlyWhileADropInIs(t *testing.T) {
	before := pamFiles(t)
	r := newSudoRig(t)
	r.samePAM("after the start, no session", before)
	if fi, err := os.Stat(r.hookCopy()); err != nil || fi.Mode().Perm() != 0o755 || fi.Sys().(*syscall.Stat_t).Uid != 0 {
		t.Fatalf("the hook's copy %s: %v %v, want root's 0755", r.hookCopy(), fi, err)
	}
	r.grant(30 * time.Minute)
	sudo := pamFiles(t)["sudo"]
	if !r.hasStep() || !strings.Contains(sudo, "ruser notin "+r.user.Name+"\n") || !strings.Contains(sudo, r.hookCopy()+" sudo-hook") {
		t.Fatalf("during the session /etc/pam.d/sudo has no guarded step running the copy:\n%s", sudo)
	}
	r.clock.Add(31 * time.Minute)
	testenv.WaitUntil(t, "the end to complete", func() bool { return len(r.events("session.ended")) == 1 })
	r.samePAM("after the session's end", before)

	// A clean stop during a session keeps the step (its drop-in stays, and
	// its sudo must keep failing closed); the end after the restart, then
	// the stop, leave the files as they were, and the copy gone.
	r.grant(30 * time.Minute)
	r.stop()
	r.stop = func() {}
	if !r.hasStep() {
		t.Fatal("a stop during a session took out the step its drop-in needs")
	}
	r.start()
	r.clock.Add(31 * time.Minute)
	testenv.WaitUntil(t, "the end to complete", func() bool { return len(r.events("session.ended")) == 2 })
	r.stop()
	r.stop = func() {}
	r.samePAM("after a clean stop with no session", before)
	if _, err := os.Stat(r.hookCopy()); err == nil {
		t.Errorf("the hook's copy is left after a clean stop")
	}
}

func TestSudoOthersUnaffectedWithTheHookGone(t *testing.T) {
	r := newSudoRig(t)
	plain, admin := testenv.NewUser(t), testenv.NewUser(t)
	giveOwnSudo(t, admin)
	r.grant(30 * time.Minute)
	r.stop() // the session and its step stay
	r.stop = func() {}
	if !r.hasStep() {
		t.Fatal("no step with a drop-in on disk")
	}
	if err := os.Remove(r.hookCopy()); err != nil {
		t.Fatal(err)
	}
	if got := r.asUser(admin, "exec sudo -n id -u"); got.code != 0 || strings.TrimSpace(got.stdout) != "0" {
		t.Errorf("a sudoers user's sudo with the step there and its binary gone: %+v, want 0", got)
	}
	if got := r.asUser(plain, "exec sudo -n true"); got.code == 0 || !strings.Contains(got.stderr, "a password is required") || strings.Contains(got.stderr, "pam_") {
		t.Errorf("a user without rights: %+v, want sudo's usual refusal, not a PAM error", got)
	}
	if got := r.sudoAs("id -u"); got.code == 0 {
		t.Errorf("the session's user ran sudo with no hook to put it in the session: %+v", got)
	}
	r.start()
}

func TestSudoHookDoesNotAskHoistdForOthers(t *testing.T) {
	r := newSudoRig(t)
	admin := testenv.NewUser(t)
	giveOwnSudo(t, admin)
	r.grant(30 * time.Minute)
	// hoistd's socket answers nobody: a hook that asked would wait its 5 s
	// and then fail closed; one that does not, lets sudo go on at once.
	r.stop()
	r.stop = func() {}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: r.socket, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_ = os.Chmod(r.socket, 0o666)
	if got := r.asUser(admin, "exec sudo -n id -u"); got.code != 0 || strings.TrimSpace(got.stdout) != "0" {
		t.Errorf("a sudoers user's sudo while hoistd hangs: %+v, want 0", got)
	}
	if got := r.sudoAs("id -u"); got.code == 0 {
		t.Errorf("the session's user ran sudo while hoistd could not answer: %+v", got)
	}
	// The hook itself, as pkexec's step runs it (no guard there), for a
	// caller without a drop-in (its parent, this test, is root): exit 0,
	// and no connection to hoistd at all.
	for {
		_ = l.SetDeadline(time.Now())
		c, err := l.Accept() // the connections the refused sudo left
		if err != nil {
			break
		}
		c.Close()
	}
	hook := exec.Command(r.hookCopy(), "sudo-hook", "--instance="+r.sudo.Instance, "--socket="+r.socket, "--sudoers=/etc/sudoers.d")
	hook.Env = []string{"PAM_TYPE=open_session", "PAM_SERVICE=polkit-1", "PAM_USER=root"}
	if out, err := hook.CombinedOutput(); err != nil {
		t.Errorf("the hook for a caller without a drop-in: %v %s, want exit 0", err, out)
	}
	_ = l.SetDeadline(time.Now())
	if c, err := l.Accept(); err == nil {
		c.Close()
		t.Errorf("the hook asked hoistd about a caller without a drop-in")
	}
	l.Close()
	os.Remove(r.socket)
	r.start()
}

func TestSudoStartRemovesAnOlderStepOfItsInstance(t *testing.T) {
	before := pamFiles(t)
	r := newSudoRig(t)
	r.stop()
	r.stop = func() {}
	// What hoistd before the guard and the copy left: a required step
	// naming the binary it ran from, since deleted.
	old := fmt.Sprintf("session required pam_exec.so quiet seteuid /nonexistent/hoistd sudo-hook --instance=%s --socket=%s --sudoers=/etc/sudoers.d\n", r.sudo.Instance, r.socket)
	for _, svc := range []string{"sudo", "sudo-i"} {
		path := filepath.Join("/etc/pam.d", svc)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path+".hoisttest", append(data, old...), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".hoisttest", path); err != nil {
			t.Fatal(err)
		}
	}
	r.start()
	r.samePAM("after a start over an older step", before)
}

// sudoEnvFiles lists the session marker files of instance.
func sudoEnvFiles(t *testing.T, instance string) []string {
	m, err := filepath.Glob(filepath.Join(agent.DefaultSudoEnvDir, "hoist-"+instance+"-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSudoProgramLeavingTheCgroupEndsWithTheSession(t *testing.T) {
	r := newSudoRig(t)
	id := r.grant(30 * time.Minute)
	// Every way into sudo carries the session's marker, whatever the
	// caller's environment says.
	other := testenv.NewUser(t)
	for _, args := range []string{"env", "-i env", "-s env", "-u " + other.Name + " env"} {
		got := r.sh("", "HOIST_SESSION=x SHELL=/bin/sh exec sudo -n "+args)
		if got.code != 0 || !slices.Contains(strings.Split(got.stdout, "\n"), "HOIST_SESSION="+id) {
			t.Errorf("sudo -n %s during the session: %+v, want HOIST_SESSION=%s", args, got, id)
		}
	}
	// The marker's file is part of sudo's policy: root's alone.
	files := sudoEnvFiles(t, r.sudo.Instance)
	if len(files) != 1 {
		t.Fatalf("env_files of sudo during the session: %v, want 1", files)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(files[0], &st); err != nil || st.Uid != 0 || st.Mode&0o777 != 0o600 {
		t.Errorf("%s: uid %d mode %o (%v), want root's 0600", files[0], st.Uid, st.Mode&0o777, err)
	}
	// Root leaves the session's cgroup for the top one, then starts a
	// daemon: under sudo and under sudo -i.
	top := filepath.Dir(r.cgs.Root)
	leave := `sh -c 'echo $$ > ` + top + `/cgroup.procs; setsid sleep 1000 >/dev/null 2>&1 & echo $!'`
	escaped := []int{pidOf(t, r.sudoAs(leave)), pidOf(t, r.sudoAs("-i "+leave))}
	g, err := r.cgs.OpenGroup(id)
	if err != nil {
		t.Fatal(err)
	}
	pids, _ := g.Pids()
	for _, pid := range escaped {
		// By pidfd: after the test the pid may be someone else's.
		if fd, err := unix.PidfdOpen(pid, 0); err == nil {
			t.Cleanup(func() { _ = unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0); unix.Close(fd) })
		}
		if !testenv.Alive(pid) || slices.Contains(pids, pid) {
			t.Fatalf("pid %d did not leave the session's cgroup (alive %v, in %v)", pid, testenv.Alive(pid), pids)
		}
	}
	r.clock.Add(31 * time.Minute)
	testenv.WaitUntil(t, "the end to complete", func() bool { return len(r.events("session.ended")) == 1 })
	for _, pid := range escaped {
		testenv.WaitUntil(t, fmt.Sprintf("escaped pid %d to be gone", pid), func() bool { return !testenv.Alive(pid) })
	}
	if left := sudoEnvFiles(t, r.sudo.Instance); len(left) > 0 {
		t.Errorf("marker files after the end: %v", left)
	}
}

// TestSudoInFlightAtTheEndNeverRunsAfterIt is the review's attack: the
// user stops their own sudo after sudoers' check (slowed by many VAR=value
// arguments) and before its PAM session, lets the session end, and resumes
// it. The command must never run as root after the end. The command only
// writes once a gate, made after the end, exists, so a sudo that finished
// during the session (when it may run) never counts.
func TestSudoInFlightAtTheEndNeverRunsAfterIt(t *testing.T) {
	r := newSudoRig(t)
	r.grant(30 * time.Minute)
	dir := t.TempDir()
	gate, marker := filepath.Join(dir, "gate"), filepath.Join(dir, "marker")
	sudo, err := exec.LookPath("sudo")
	if err != nil {
		t.Fatal(err)
	}
	sudo, _ = filepath.EvalSymlinks(sudo)
	args := []string{"-n"}
	for i := range 60000 {
		args = append(args, fmt.Sprintf("V%d=a", i))
	}
	args = append(args, "/bin/sh", "-c", "test -e "+gate+" && id -u > "+marker)
	cmd := r.command("")
	cmd.Path, cmd.Args = sudo, append([]string{"sudo"}, args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { _ = cmd.Process.Kill(); <-exited })
	pid := cmd.Process.Pid
	// Stopped once it is sudo, a little after, so that it is likely past
	// its check (the test holds either way).
	testenv.WaitUntil(t, "sudo to start", func() bool {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		return exe == sudo
	})
	time.Sleep(300 * time.Millisecond)
	_ = cmd.Process.Signal(syscall.SIGSTOP)
	r.clock.Add(31 * time.Minute)
	testenv.WaitUntil(t, "the end to complete", func() bool { return len(r.events("session.ended")) == 1 })
	if err := os.WriteFile(gate, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Process.Signal(syscall.SIGCONT)
	testenv.WaitUntil(t, "the stopped sudo to exit", func() bool {
		select {
		case <-exited:
			return true
		default:
			return false
		}
	})
	if got, err := os.ReadFile(marker); err == nil {
		t.Fatalf("a sudo stopped during the session ran its command after the end, as uid %q", strings.TrimSpace(string(got)))
	}
}

// Every sudo command that started in a session has its end in the audit,
// once, with the session as its subject — also those still running when
// the session ends, whose sudo closes (or is killed) after the session
// stopped being active.
func TestSudoCommandsRunningAtTheEndGetTheirEnd(t *testing.T) {
	r := newSudoRig(t)
	id := r.grant(30 * time.Minute)
	if got := r.sudoAs("true"); got.code != 0 {
		t.Fatalf("sudo -n true during the session: %+v", got)
	}
	var running []int
	for range 2 {
		running = append(running, pidOf(t, r.sh("", `sudo -n sleep 1000 >/dev/null 2>&1 & echo $!`)))
	}
	testenv.WaitUntil(t, "the running sudos to start", func() bool { return len(r.events("command.started")) == 3 })
	r.clock.Add(31 * time.Minute)
	testenv.WaitUntil(t, "the end to complete", func() bool { return len(r.events("session.ended")) == 1 })
	for _, pid := range running {
		testenv.WaitUntil(t, fmt.Sprintf("sudo %d to be gone", pid), func() bool { return !testenv.Alive(pid) })
	}
	ended := func() map[string]int {
		out := map[string]int{}
		for _, ev := range r.events("command.ended") {
			if ev.Subject == id {
				out[fmt.Sprint(ev.Detail["pid"])]++
			}
		}
		return out
	}
	testenv.WaitUntil(t, "every started sudo to have its end", func() bool { return len(ended()) == 3 })
	for _, ev := range r.events("command.started") {
		if ev.Subject != id {
			t.Errorf("a sudo started outside the session: %+v", ev)
			continue
		}
		if n := ended()[fmt.Sprint(ev.Detail["pid"])]; n != 1 {
			t.Errorf("sudo %v started and ended %d times (want once): %v", ev.Detail["pid"], n, ended())
		}
	}
}
