package agent_test

import (
	"bytes"
	"context"
	"encoding/json"
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
)

func TestMain(m *testing.M) {
	code := m.Run()
	testenv.Cleanup()
	os.Exit(code)
}

// rig is an in-process hoistd on a real socket with real cgroups, and a
// fresh non-root user who runs the real hoist binary against it.
type rig struct {
	t      *testing.T
	agent  *agent.Agent
	socket string
	state  string
	cgs    platform.Cgroups
	// tracker holds the sessions' processes: cgs, or the fork-event
	// fallback.
	tracker platform.Tracker
	user    testenv.User
	hoist   string
	// clock is the agent's: a test moves it to reach an expiry.
	clock *testenv.Clock
	// endMargin, when set before a restart, is the agent's EndMargin.
	endMargin time.Duration
	// verify checks signed grants, when a test sets it before a restart.
	verify func(signed string, at time.Time) (hoist.Grant, error)
	// sudo turns on the sudo integration, when a test sets it before start.
	sudo *agent.SudoConfig
	// changes turns on change reports, when a test sets it before a restart.
	changes agent.Snapshotter
	// changesTimeout bounds its snapshots, when set with it.
	changesTimeout time.Duration
	// recordLimit, when set before a restart, is the agent's RecordLimit.
	recordLimit int64
	// execs and execBudget, when a test sets them before start, are the
	// agent's exec record.
	execs      platform.ExecWatcher
	execBudget int
	// notices is what the blocking client of escapes printed on stderr.
	notices bytes.Buffer
	stop    func()
}

func newRig(t *testing.T) *rig { return newRigWith(t, platform.TrackCgroup) }

// eachTracker runs test once with cgroups and once with the fallback for
// hosts without cgroup v2: both must pass the same tests.
func eachTracker(t *testing.T, test func(t *testing.T, r *rig)) {
	for _, kind := range []string{platform.TrackCgroup, platform.TrackProc} {
		t.Run(kind, func(t *testing.T) { test(t, newRigWith(t, kind)) })
	}
}

func newRigWith(t *testing.T, kind string) *rig {
	t.Helper()
	testenv.RequireRoot(t)
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
	if kind == platform.TrackProc {
		proc, err := platform.NewProcTracker()
		testenv.Require(t, err == nil, fmt.Sprint("needs the process-events connector: ", err))
		t.Cleanup(func() { proc.Close() })
		r.tracker = proc
	}
	r.start()
	return r
}

func (r *rig) start() {
	a, err := agent.New(agent.Config{StateDir: r.state, Tracker: r.tracker, Grace: 500 * time.Millisecond, Clock: r.clock, VerifyGrant: r.verify, EndMargin: r.endMargin, Sudo: r.sudo, Changes: r.changes,
		ChangesTimeout: r.changesTimeout, RecordLimit: r.recordLimit, Execs: r.execs, ExecBudget: r.execBudget})
	if err != nil {
		r.t.Fatal(err)
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: r.socket, Net: "unix"})
	if err != nil {
		r.t.Fatal(err)
	}
	_ = os.Chmod(r.socket, 0o666)
	done := make(chan struct{})
	go func() { _ = a.Serve(l); close(done) }()
	r.agent = a
	r.stop = func() { l.Close(); <-done; a.Close() }
	r.t.Cleanup(func() { r.stop() })
}

// removeCgroups kills and removes whatever a test left below root.
func removeCgroups(root string) {
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		g, err := (platform.Cgroups{Root: root}).OpenGroup(e.Name())
		if err == nil {
			_, _ = g.End(context.Background(), 0)
		}
	}
	_ = os.Remove(root)
}

func (r *rig) grant(d time.Duration) string {
	r.t.Helper()
	id := hoist.NewID(hoist.SessionIDPrefix)
	now := r.clock.Now()
	if err := r.agent.Activate(agent.Grant{SessionID: id, User: r.user.Name, NotBefore: now, NotAfter: now.Add(d), By: "test"}); err != nil {
		r.t.Fatal(err)
	}
	return id
}

// command returns "sh -c script" run as the rig's user, with hoist on PATH
// and the socket in HOIST_SOCKET.
func (r *rig) command(script string) *exec.Cmd {
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Env = []string{"PATH=" + filepath.Dir(r.hoist) + ":/usr/bin:/bin", "HOIST_SOCKET=" + r.socket, "TERM=xterm-256color", "HOME=/tmp"}
	cmd.Dir = "/tmp"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: r.user.UID, Gid: r.user.GID}}
	return cmd
}

type outcome struct {
	code           int
	stdout, stderr string
}

func (r *rig) sh(stdin, script string) outcome {
	r.t.Helper()
	cmd := r.command(script)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		r.t.Fatal(err)
	}
	return outcome{code, out.String(), errOut.String()}
}

func (r *rig) events(action string) []agent.Event {
	evs, err := agent.ReadEvents(filepath.Join(r.state, "outbox.jsonl"))
	if err != nil {
		r.t.Fatal(err)
	}
	var out []agent.Event
	for _, ev := range evs {
		if ev.Action == action {
			out = append(out, ev)
		}
	}
	return out
}

func TestRefusedWithoutASession(t *testing.T) {
	r := newRig(t)
	got := r.sh("", "hoist run -- id -u")
	if got.code != 126 || !strings.Contains(got.stderr, "not active for "+r.user.Name) || got.stdout != "" {
		t.Fatalf("run without a session: exit %d, stdout %q, stderr %q; want 126 and a clear refusal", got.code, got.stdout, got.stderr)
	}
	var st map[string]any
	out := r.sh("", "hoist status --json")
	if err := json.Unmarshal([]byte(out.stdout), &st); err != nil || st["state"] != "none" {
		t.Fatalf("status: %q (%v)", out.stdout, err)
	}
	// The contract's keys are there even without a session, for scripts.
	for _, key := range []string{"state", "expires_at", "remaining_seconds", "session_id"} {
		if _, ok := st[key]; !ok {
			t.Errorf("status --json lacks %q: %s", key, out.stdout)
		}
	}
	if len(r.events("command.refused")) != 1 {
		t.Fatal("the refusal was not audited")
	}
}

func TestRunsAsRootDuringTheSession(t *testing.T) { eachTracker(t, testRunsAsRootDuringTheSession) }

func testRunsAsRootDuringTheSession(t *testing.T, r *rig) {
	sid := r.grant(time.Minute)
	cases := []struct {
		name, script string
		wantCode     int
		wantOut      string
	}{
		{"root", "hoist run -- id -u", 0, "0\n"},
		{"root group", "hoist run -- id -g", 0, "0\n"},
		{"arguments pass through", "hoist run printf '%s|' a 'b c' --flag", 0, "a|b c|--flag|"},
		{"exit status", "hoist run -- sh -c 'exit 7'", 7, ""},
		{"killed by a signal", "hoist run -- sh -c 'kill -KILL $$'", 137, ""},
		{"not found", "hoist run -- no-such-command-hoist", 127, ""},
		{"not executable", "hoist run -- /etc/hostname", 126, ""},
		{"working directory", "cd /usr/share && hoist run -- pwd", 0, "/usr/share\n"},
		{"session variables", "hoist run -- sh -c 'echo $HOIST_USER $HOIST_SESSION $USER $HOME'", 0, r.user.Name + " " + sid + " root /root\n"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := r.sh("", tc.script)
			if got.code != tc.wantCode || (tc.wantOut != "" && got.stdout != tc.wantOut) {
				t.Fatalf("%s: exit %d, stdout %q, stderr %q; want %d, %q", tc.script, got.code, got.stdout, got.stderr, tc.wantCode, tc.wantOut)
			}
		})
	}
	var st map[string]any
	out := r.sh("", "hoist status --json")
	if err := json.Unmarshal([]byte(out.stdout), &st); err != nil {
		t.Fatal(err)
	}
	if st["state"] != "active" || st["session_id"] != sid || st["remaining_seconds"].(float64) <= 0 || st["remaining_seconds"].(float64) > 60 {
		t.Fatalf("status = %v", st)
	}
	if _, err := time.Parse(time.RFC3339, st["expires_at"].(string)); err != nil {
		t.Fatalf("expires_at %q is not RFC 3339", st["expires_at"])
	}
	started := r.events("command.started")
	if len(started) < 5 {
		t.Fatalf("%d commands audited as started", len(started))
	}
	ev := started[0]
	if ev.Actor != r.user.Name || ev.Subject != sid || ev.Detail["cwd"] != "/tmp" || ev.Detail["pid"] == nil {
		t.Fatalf("audit of a command = %+v", ev)
	}
	if len(r.events("command.ended")) != len(started) {
		t.Fatalf("%d started, %d ended", len(started), len(r.events("command.ended")))
	}
}

// TestNothingOfTheCallerReachesRoot poisons everything a caller controls.
func TestNothingOfTheCallerReachesRoot(t *testing.T) {
	r := newRig(t)
	r.grant(time.Minute)
	evil := testenv.PublicDir(t)
	if err := os.WriteFile(filepath.Join(evil, "id"), []byte("#!/bin/sh\necho evil\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`ulimit -n 50; umask 077; exec 7</etc/hostname
export LD_PRELOAD=%[1]s/evil.so LD_LIBRARY_PATH=%[1]s BASH_ENV=%[1]s/env ENV=%[1]s/env IFS=x PATH=%[1]s:$PATH
hoist run -- /bin/sh -c 'echo "pre=$LD_PRELOAD lib=$LD_LIBRARY_PATH bash_env=$BASH_ENV env=$ENV"; echo "path=$PATH"; echo "nofile=$(ulimit -n)"; echo "umask=$(umask)"; echo'
hoist run -- ls -l /proc/self/fd
hoist run -- id -un`, evil)
	got := r.sh("", script)
	if got.code != 0 {
		t.Fatalf("exit %d: %s", got.code, got.stderr)
	}
	want := []string{
		"pre= lib= bash_env= env=",
		"path=" + agent.SecurePath,
		"umask=0022",
		"root",
	}
	for _, w := range want {
		if !strings.Contains(got.stdout, w+"\n") {
			t.Errorf("output lacks %q:\n%s", w, got.stdout)
		}
	}
	// ls has its own directory open as 3; nothing else but stdio may be there.
	for _, line := range strings.Split(got.stdout, "\n") {
		if strings.Contains(line, " -> ") && !strings.Contains(line, " 0 -> ") && !strings.Contains(line, " 1 -> ") &&
			!strings.Contains(line, " 2 -> ") && !strings.Contains(line, " 3 -> /proc/") {
			t.Errorf("a descriptor reached root: %s", line)
		}
	}
	if strings.Contains(got.stdout, "nofile=50\n") || strings.Contains(got.stdout, "evil") {
		t.Errorf("the caller's limits or PATH reached root:\n%s", got.stdout)
	}
}

func TestPipesBothWays(t *testing.T) {
	r := newRig(t)
	r.grant(time.Minute)
	private := t.TempDir() // root's, 0700: only root can write there
	file := filepath.Join(private, "f")
	got := r.sh("", fmt.Sprintf("echo x | hoist run -- tee %s | wc -c", file))
	if got.code != 0 || strings.TrimSpace(got.stdout) != "2" {
		t.Fatalf("pipe: exit %d, stdout %q, stderr %q", got.code, got.stdout, got.stderr)
	}
	data, err := os.ReadFile(file)
	if err != nil || string(data) != "x\n" {
		t.Fatalf("tee wrote %q, %v", data, err)
	}
	info, _ := os.Stat(file)
	if st := info.Sys().(*syscall.Stat_t); st.Uid != 0 {
		t.Fatalf("file owned by %d, want root", st.Uid)
	}
}

func TestSignalsAreForwarded(t *testing.T) {
	r := newRig(t)
	r.grant(time.Minute)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT} {
		t.Run(sig.String(), func(t *testing.T) {
			ready := filepath.Join(t.TempDir(), "ready")
			cmd := r.command(fmt.Sprintf(`exec hoist run -- sh -c 'trap "echo caught; exit 3" %d; touch %s; while :; do sleep 0.05; done'`, sig, ready))
			var out bytes.Buffer
			cmd.Stdout = &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			testenv.WaitUntil(t, "the program to start", func() bool { _, err := os.Stat(ready); return err == nil })
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			// A program that cannot trap sig (ignored since hoistd's start)
			// would loop for ever: its own deadline makes that a failure.
			waited := make(chan error, 1)
			go func() { waited <- cmd.Wait() }()
			var err error
			select {
			case err = <-waited:
			case <-time.After(time.Minute):
				_ = cmd.Process.Kill() // the client ends, and the session with the test
				t.Fatalf("%s never ended the elevated program (is %s ignored or blocked?)", sig, sig)
			}
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			if code != 3 || out.String() != "caught\n" {
				t.Fatalf("after %s: exit %d, output %q; want 3 and caught", sig, code, out.String())
			}
		})
	}
}

// escapes starts, as the user and elevated, every way of leaving a process
// tree we know, and returns the client of a long-running program and the
// pids in the session's cgroup.
func (r *rig) escapes(sid string, want int) (*exec.Cmd, []int) {
	r.t.Helper()
	// Stdio is /dev/null, not a pipe: the escaped processes keep what they
	// inherit open, and a pipe would never reach EOF.
	// The last one is root leaving the session's cgroup for the top one.
	escape := r.command(`hoist run -- sh -c 'setsid sh -c "sleep 1000 &"; (sleep 1000 &); nohup sleep 1000 >/dev/null 2>&1 & sh -c "exec 0<&- 1>&- 2>&-; sleep 1000 &"; sh -c "trap \"\" TERM; exec sleep 1000" & sh -c "echo \$\$ > ` + filepath.Dir(r.cgs.Root) + `/cgroup.procs; exec sleep 1000" &'`)
	if err := escape.Run(); err != nil {
		r.t.Fatalf("escapes: %v", err)
	}
	blocking := r.command("exec hoist run -- sleep 1000")
	r.notices.Reset()
	blocking.Stderr = &r.notices
	if err := blocking.Start(); err != nil {
		r.t.Fatal(err)
	}
	g, err := r.tracker.OpenGroup(sid)
	if err != nil {
		r.t.Fatal(err)
	}
	var pids []int
	// Count the sleeps: the shells that start them come and go. The
	// fork-event tracker also holds the one that left the cgroup.
	if r.tracker.Kind() != platform.TrackCgroup {
		want++
	}
	testenv.WaitUntil(r.t, fmt.Sprintf("%d sleeps in the session", want), func() bool {
		pids, _ = g.Pids()
		n := 0
		for _, pid := range pids {
			if comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm"); string(comm) == "sleep\n" {
				n++
			}
		}
		return n >= want
	})
	// And the one that left the cgroup, found by the environment it kept.
	// The fork-event tracker never lost it: it is one of pids already, or
	// soon will be.
	var escaped []int
	if r.tracker.Kind() != platform.TrackCgroup {
		testenv.WaitUntil(r.t, "every marked process to be tracked", func() bool {
			pids, _ = g.Pids()
			for _, pid := range markedPids(sid) {
				if !slices.Contains(pids, pid) {
					return false
				}
			}
			return true
		})
		return blocking, pids
	}
	// The cgroup is read again each time: the one leaving may still have
	// been in it when the sleeps were counted.
	testenv.WaitUntil(r.t, "the process that left the cgroup", func() bool {
		pids, _ = g.Pids()
		escaped = nil
		for _, pid := range markedPids(sid) {
			if !slices.Contains(pids, pid) {
				escaped = append(escaped, pid)
			}
		}
		return len(escaped) >= 1
	})
	return blocking, append(pids, escaped...)
}

func assertAllGone(t *testing.T, cgs platform.Cgroups, sid string, pids []int) {
	t.Helper()
	for _, pid := range pids {
		if testenv.Alive(pid) {
			t.Errorf("elevated process %d survived the end", pid)
		}
	}
	if _, err := os.Stat(filepath.Join(cgs.Root, sid)); !os.IsNotExist(err) {
		t.Errorf("the session's cgroup is still there (%v)", err)
	}
}

func TestExitEndsEverything(t *testing.T) { eachTracker(t, testExitEndsEverything) }

func testExitEndsEverything(t *testing.T, r *rig) {
	sid := r.grant(time.Hour)
	blocking, pids := r.escapes(sid, 6)
	got := r.sh("", "hoist exit")
	if got.code != 0 || !strings.Contains(got.stdout, "terminated") {
		t.Fatalf("hoist exit: %d %q %q", got.code, got.stdout, got.stderr)
	}
	err := blocking.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 128+int(syscall.SIGTERM) {
		t.Fatalf("the blocked hoist run ended with %v, want exit 143; it said %q", err, r.notices.String())
	}
	assertAllGone(t, r.cgs, sid, pids)
	if !strings.Contains(r.notices.String(), "JIT elevated access has ended (exited): elevated programs are being closed") {
		t.Fatalf("the user was not warned; stderr of hoist run: %q", r.notices.String())
	}
	out := r.sh("", "hoist status --json")
	if !strings.Contains(out.stdout, `"state": "ended"`) || !strings.Contains(out.stdout, `"end_reason": "exited"`) {
		t.Fatalf("status after exit: %s", out.stdout)
	}
	if got := r.sh("", "hoist run -- id -u"); got.code != 126 {
		t.Fatalf("run after exit: exit %d, want 126", got.code)
	}
	// The same grant replayed after the end does not start the session again.
	now := r.clock.Now()
	err = r.agent.Activate(agent.Grant{SessionID: sid, User: r.user.Name, NotBefore: now, NotAfter: now.Add(time.Hour)})
	if hoist.ErrorCode(err) != hoist.EConflict {
		t.Fatalf("replayed grant: %v, want conflict", err)
	}
	ended := r.events("session.ended")
	if len(ended) != 1 || ended[0].Detail["reason"] != "exited" || ended[0].Detail["terminated"].(float64) < 6 {
		t.Fatalf("session end audit = %+v", ended)
	}
}

func TestExpiryEndsEverything(t *testing.T) { eachTracker(t, testExpiryEndsEverything) }

func testExpiryEndsEverything(t *testing.T, r *rig) {
	sid := r.grant(time.Hour)
	blocking, pids := r.escapes(sid, 6)
	for _, pid := range pids {
		if !testenv.Alive(pid) {
			t.Fatalf("elevated process %d ended before the window closed", pid)
		}
	}
	// The window closes when the agent's clock says so, however long the
	// escapes took to set up.
	r.clock.Add(time.Hour)
	err := blocking.Wait() // returns when the window closes
	if ee, ok := err.(*exec.ExitError); !ok || (ee.ExitCode() != 143 && ee.ExitCode() != 137) {
		t.Fatalf("the blocked hoist run ended with %v, want 143 or 137", err)
	}
	// The end is complete when it is audited: the status says "ended" as
	// soon as the window closes, while the processes are still going.
	testenv.WaitUntil(t, "the end to complete", func() bool { return len(r.events("session.ended")) == 1 })
	testenv.WaitUntil(t, "the cgroup to go", func() bool {
		_, err := os.Stat(filepath.Join(r.cgs.Root, sid))
		return os.IsNotExist(err)
	})
	assertAllGone(t, r.cgs, sid, pids)
	if !strings.Contains(r.notices.String(), "has ended (expired)") || !strings.Contains(r.notices.String(), "unsaved work") {
		t.Fatalf("the user was not warned; stderr of hoist run: %q", r.notices.String())
	}
	if st := r.agent.Status(r.user.Name); st.EndReason != "expired" {
		t.Fatalf("end reason %q, want expired", st.EndReason)
	}
}

// TestTerminal runs hoist under script(1): the program gets a fresh
// pseudo-terminal, never the user's, and leads it as the foreground group.
func TestTerminal(t *testing.T) {
	_, err := exec.LookPath("script")
	testenv.Require(t, err == nil, "needs script(1) (bsdutils)")
	r := newRig(t)
	r.grant(time.Minute)
	got := r.sh("", `script -qec "tty; hoist run -- sh -c 'tty; cat /proc/\$\$/stat'" /dev/null`)
	lines := strings.Split(strings.ReplaceAll(strings.TrimSpace(got.stdout), "\r", ""), "\n")
	if got.code != 0 || len(lines) < 3 {
		t.Fatalf("exit %d, output %q, stderr %q", got.code, got.stdout, got.stderr)
	}
	// script(1) passes a NUL on when its input ends, which the program's
	// terminal echoes as ^@: input, not output.
	clean := func(s string) string { return strings.TrimLeft(strings.TrimSpace(s), "^@D") }
	userTTY, rootTTY, stat := clean(lines[0]), clean(lines[1]), clean(lines[2])
	if !strings.HasPrefix(userTTY, "/dev/pts/") || !strings.HasPrefix(rootTTY, "/dev/pts/") || userTTY == rootTTY {
		t.Fatalf("user's terminal %q, elevated program's %q: want two different pseudo-terminals", userTTY, rootTTY)
	}
	f := strings.Fields(stat[strings.LastIndexByte(stat, ')')+2:])
	// state ppid pgrp session tty_nr tpgid
	pid := strings.Fields(stat)[0]
	if f[2] != pid || f[3] != pid || f[5] != pid {
		t.Fatalf("pid %s: pgrp %s, session %s, tpgid %s; want the program to lead its session and the foreground group", pid, f[2], f[3], f[5])
	}
}

func TestBadRequestsAreRefused(t *testing.T) {
	r := newRig(t)
	cases := []struct {
		name  string
		frame []byte
	}{
		{"garbage", []byte("\x00\x00\x00\x05hello")},
		{"huge length", []byte("\xff\xff\xff\xff")},
		{"zero length", []byte("\x00\x00\x00\x00")},
		{"unknown field", frame(`{"v":1,"op":"status","admin":true}`)},
		{"old version", frame(`{"v":0,"op":"status"}`)},
		{"unknown op", frame(`{"v":1,"op":"shell"}`)},
		{"run without descriptors", frame(`{"v":1,"op":"run","argv":["id"]}`)},
		{"two values", frame(`{"v":1,"op":"status"}{}`)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("unix", r.socket)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(15 * time.Second))
			_, _ = c.Write(tc.frame)
			buf := make([]byte, 4096)
			n, _ := c.Read(buf)
			if n > 0 && !bytes.Contains(buf[:n], []byte(`"error"`)) {
				t.Fatalf("answer %q is not a refusal", buf[:n])
			}
		})
	}
	// A local grant needs root.
	got := r.sh("", fmt.Sprintf(`%s/hoistd grant %s --for 1h --socket %s`, filepath.Dir(r.hoist), r.user.Name, r.socket))
	if got.code == 0 || !strings.Contains(got.stderr, "only root") {
		t.Fatalf("grant by a user: exit %d, %q", got.code, got.stderr)
	}
	// hoistd still serves, and nothing was granted.
	if st := r.sh("", "hoist status"); st.code != 0 || !strings.Contains(st.stdout, "not active") {
		t.Fatalf("status after bad requests: %d %q %q", st.code, st.stdout, st.stderr)
	}
}

func frame(s string) []byte {
	b := []byte{0, 0, 0, 0}
	b[0], b[1], b[2], b[3] = byte(len(s)>>24), byte(len(s)>>16), byte(len(s)>>8), byte(len(s))
	return append(b, s...)
}

// markedPids lists the processes whose environment names session sid.
func markedPids(sid string) []int {
	entries, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		env, _ := os.ReadFile("/proc/" + e.Name() + "/environ")
		if bytes.Contains(env, []byte("HOIST_SESSION="+sid+"\x00")) && testenv.Alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// TestResumeAnInterruptedEnd: hoistd died during a session's end (between
// the first signal and the last kill). The next hoistd must finish the end,
// not wait for it.
func TestResumeAnInterruptedEnd(t *testing.T) {
	r := newRig(t)
	sid := r.grant(time.Hour)
	blocking := r.command("exec hoist run -- sleep 1000")
	if err := blocking.Start(); err != nil {
		t.Fatal(err)
	}
	defer blocking.Wait()
	g, _ := r.tracker.OpenGroup(sid)
	var pids []int
	testenv.WaitUntil(t, "the elevated sleep", func() bool { pids, _ = g.Pids(); return len(pids) == 1 })
	r.stop()
	// What the dead hoistd left: the end begun on disk, the program running.
	path := filepath.Join(r.state, "sessions", sid+".json")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.Replace(data, []byte(`"state":"active"`), []byte(`"state":"ending","end_reason":"revoked"`), 1)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	r.start()
	testenv.WaitUntil(t, "the resumed end to kill the program", func() bool { return !testenv.Alive(pids[0]) })
	testenv.WaitUntil(t, "the end to complete", func() bool { return len(r.events("session.ended")) == 1 })
	if ev := r.events("session.ended")[0]; ev.Detail["reason"] != "revoked" {
		t.Fatalf("end reason %v, want the interrupted end's: revoked", ev.Detail["reason"])
	}
	// The user can have a new session afterwards.
	r.grant(time.Minute)
}

// TestResumeAfterReboot: the machine restarted during a session, so its
// cgroup is gone. The session goes on with a new cgroup.
func TestResumeAfterReboot(t *testing.T) {
	r := newRig(t)
	sid := r.grant(time.Hour)
	r.stop()
	g, err := r.cgs.OpenGroup(sid)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := g.End(context.Background(), 0); err != nil { // what a reboot does
		t.Fatal(err)
	}
	r.start()
	if got := r.sh("", "hoist run -- id -u"); got.code != 0 || got.stdout != "0\n" {
		t.Fatalf("run after a reboot: exit %d, %q %q", got.code, got.stdout, got.stderr)
	}
	if _, err := os.Stat(filepath.Join(r.cgs.Root, sid)); err != nil {
		t.Fatalf("the session's cgroup was not made again: %v", err)
	}
}

// TestConnectionCap: one user holding many idle connections gets a clear
// refusal past the cap, and hoistd serves everyone again once they close.
func TestConnectionCap(t *testing.T) {
	r := newRig(t)
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	// Idle connections count once hoistd has read their credentials; keep
	// opening until one is refused. A refusal slower than the short look at
	// its own connection (a loaded machine) is found at a later look: every
	// 16 connections, the last 16 are read again.
	var refusal string
	read := func(c net.Conn, wait time.Duration) bool {
		_ = c.SetReadDeadline(time.Now().Add(wait))
		buf := make([]byte, 512)
		if n, _ := c.Read(buf); n > 0 {
			refusal = string(buf[:n])
			return true
		}
		return false
	}
	testenv.WaitUntil(t, "a refusal past the cap", func() bool {
		c, err := net.Dial("unix", r.socket)
		if err != nil {
			return false
		}
		conns = append(conns, c)
		if read(c, 20*time.Millisecond) {
			return true
		}
		if len(conns)%16 != 0 {
			return false
		}
		for _, earlier := range conns[len(conns)-16 : len(conns)-1] {
			if read(earlier, time.Millisecond) {
				return true
			}
		}
		return false
	})
	if !strings.Contains(refusal, "too many connections") || len(conns) < 257 {
		t.Fatalf("after %d connections: %q", len(conns), refusal)
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil
	testenv.WaitUntil(t, "hoistd to serve again", func() bool {
		return r.sh("", "hoist status").code == 0
	})
}

// TestEmptyRunGroupsAreSwept: the group of a policy-elevated program that
// a crashed hoistd left behind is removed at the next start when empty.
func TestEmptyRunGroupsAreSwept(t *testing.T) {
	r := newRig(t)
	r.stop()
	if _, err := r.cgs.NewGroup(agent.RunIDPrefix + "leftover"); err != nil {
		t.Fatal(err)
	}
	r.start()
	if _, err := os.Stat(filepath.Join(r.cgs.Root, agent.RunIDPrefix+"leftover")); !os.IsNotExist(err) {
		t.Fatalf("the empty run group is still there (%v)", err)
	}
}

// TestResumeAfterTheClockWentBack: hoistd restarted after the wall clock
// was set back by hours ends the session when its approved window is over
// by the boot clock, not hours later by the wall clock.
func TestResumeAfterTheClockWentBack(t *testing.T) {
	r := newRig(t)
	sid := r.grant(time.Hour)
	prog := r.command("exec hoist run -- sleep 1000")
	if err := prog.Start(); err != nil {
		t.Fatal(err)
	}
	defer prog.Wait()
	g, _ := r.tracker.OpenGroup(sid)
	var pids []int
	testenv.WaitUntil(t, "the elevated sleep", func() bool { pids, _ = g.Pids(); return len(pids) == 1 })
	r.stop()
	r.clock.Add(-3 * time.Hour)
	r.start()
	// An hour on the wall clock from here is the whole window and more by
	// the boot clock; by the wall clock alone, four hours were left.
	testenv.WaitUntil(t, "the resumed session's timer", func() bool { return r.clock.Timers() > 0 })
	r.clock.Add(time.Hour)
	testenv.WaitUntil(t, "the session to end by the boot clock", func() bool { return len(r.events("session.ended")) == 1 })
	testenv.WaitUntil(t, "the elevated program to be ended", func() bool { return !testenv.Alive(pids[0]) })
}
