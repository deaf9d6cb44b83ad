package agent_test

import (
	"bytes"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/hoist-jit/hoist/localapi"
	"github.com/hoist-jit/hoist/testenv"
)

// TestRootNeverGetsTheUsersTerminal runs programs from a real terminal with
// stdin, stdout or nothing redirected, and asks each, as root, what its
// descriptors are: wherever the user's terminal was, the program has a
// fresh one instead; a redirection stays what it was.
func TestRootNeverGetsTheUsersTerminal(t *testing.T) {
	r := newRig(t)
	r.grant(time.Hour)
	dir := userDir(t, r)
	// fds prints the program's own three descriptors on one line.
	const fds = `hoist run -- sh -c 'echo "fds $(readlink /proc/$$/fd/0) $(readlink /proc/$$/fd/1) $(readlink /proc/$$/fd/2)"'`
	script := strings.Join([]string{
		`echo "user=$(tty)"`,
		`hoist run -- readlink /proc/self/fd/1 </dev/null; echo "literal-exit=$?"`,
		fds + ` </dev/null; echo "null-exit=$?"`,
		fds + `; echo "interactive-exit=$?"`,
		fds + ` >` + dir + `/out; echo "file-exit=$?"`,
		`echo piped | hoist run -- cat; echo "pipe-exit=$?"`,
		`echo all-done`,
		`sleep 1000`,
	}, "\n")
	path := filepath.Join(dir, "script")
	if err := os.WriteFile(path, []byte(script+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	m := newTmux(t, r, "sh "+path)
	m.waitScreen("all-done")
	screen := m.screen()
	t.Logf("the terminal:\n%s", screen)

	user := regexp.MustCompile(`user=(/dev/pts/\d+)`).FindStringSubmatch(screen)
	if user == nil {
		t.Fatal("the user's terminal is not on the screen")
	}
	pts := `/dev/pts/\d+`
	// Each case: what its line must look like, and which of its terminals
	// must not be the user's.
	for _, want := range []struct{ name, pattern string }{
		{"hoist run -- readlink /proc/self/fd/1 </dev/null", `(?m)^(` + pts + `)\s*\nliteral-exit=0`},
		{"stdin from /dev/null", `fds /dev/null (` + pts + `) (` + pts + `)\s*\nnull-exit=0`},
		{"nothing redirected", `fds (` + pts + `) (` + pts + `) (` + pts + `)\s*\ninteractive-exit=0`},
		{"stdin from a pipe", `(?m)^piped\s*\npipe-exit=0`},
	} {
		got := regexp.MustCompile(want.pattern).FindStringSubmatch(screen)
		if got == nil {
			t.Errorf("%s: the screen does not show %s", want.name, want.pattern)
			continue
		}
		for _, tty := range got[1:] {
			if tty == user[1] {
				t.Errorf("%s: root's program has the user's terminal %s", want.name, tty)
			}
			if tty != got[1] {
				t.Errorf("%s: root's program has two terminals, %s and %s", want.name, got[1], tty)
			}
		}
	}
	if !strings.Contains(screen, "file-exit=0") {
		t.Fatal("the run with stdout to a file failed")
	}
	out, err := os.ReadFile(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	got := regexp.MustCompile(`^fds (` + pts + `) (\S+) (` + pts + `)\n$`).FindStringSubmatch(string(out))
	switch {
	case got == nil:
		t.Fatalf("stdout to a file: the file holds %q", out)
	case got[2] != filepath.Join(dir, "out"):
		t.Errorf("stdout to a file: root's stdout is %s, not the file", got[2])
	case got[1] == user[1] || got[3] != got[1]:
		t.Errorf("stdout to a file: root's stdin and stderr are %s and %s (the user's is %s)", got[1], got[3], user[1])
	}
}

// userDir is a directory the rig's user may write in.
func userDir(t *testing.T, r *rig) string {
	t.Helper()
	dir := testenv.PublicDir(t)
	if err := os.Chown(dir, int(r.user.UID), int(r.user.GID)); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestRunWithSocketsForStdio: a caller whose stdin and stdout are sockets
// (as Node.js, socat and systemd give their children) still runs: hoist
// relays them through pipes, which hoistd takes.
func TestRunWithSocketsForStdio(t *testing.T) {
	r := newRig(t)
	r.grant(time.Hour)
	in, inPeer := socketPair(t)
	out, outPeer := socketPair(t)
	cmd := r.command("hoist run -- sh -c 'cat; readlink /proc/$$/fd/0 /proc/$$/fd/1'")
	cmd.Stdin, cmd.Stdout = in, out
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in.Close()
	out.Close()
	if _, err := inPeer.Write([]byte("through a socket\n")); err != nil {
		t.Fatal(err)
	}
	inPeer.CloseWrite()
	got, err := io.ReadAll(outPeer)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("hoist run: %v: %s", err, errOut.String())
	}
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != 3 || lines[0] != "through a socket" || !strings.HasPrefix(lines[1], "pipe:") || !strings.HasPrefix(lines[2], "pipe:") {
		t.Fatalf("the program read and wrote %q; want its input back, on pipes", got)
	}
}

// socketPair is a connected pair of Unix stream sockets: one as a file to
// give a child, the other to talk to it.
func socketPair(t *testing.T) (*os.File, *net.UnixConn) {
	t.Helper()
	sp, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	child := os.NewFile(uintptr(sp[0]), "child")
	f := os.NewFile(uintptr(sp[1]), "peer")
	c, err := net.FileConn(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { child.Close(); c.Close() })
	return child, c.(*net.UnixConn)
}

// TestHoistdRefusesTheUsersTerminal asks hoistd itself, without the
// client, to run with the terminal of a user's shell, and with a terminal
// it was not told about: both are refused.
func TestHoistdRefusesTheUsersTerminal(t *testing.T) {
	r := newRig(t)
	r.grant(time.Hour)
	m := newTmux(t, r, "sh -c 'sleep 1000'")
	pane := strings.TrimSpace(m.run("display-message", "-p", "-t", "0", "#{pane_tty}"))
	users, err := os.OpenFile(pane, os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer users.Close()
	// The pane's terminal is the user's once the shell in it has made it
	// its controlling terminal: until then (tmux has only just forked it,
	// on a loaded machine) it is as fresh as any, and hoistd rightly takes it.
	var st unix.Stat_t
	if err := unix.Fstat(int(users.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	panePid := strings.TrimSpace(m.run("display-message", "-p", "-t", "0", "#{pane_pid}"))
	testenv.WaitUntil(t, "the pane's shell to take its terminal", func() bool {
		stat, err := os.ReadFile("/proc/" + panePid + "/stat")
		if err != nil {
			return false
		}
		// The fields after the command's closing parenthesis: state, ppid,
		// pgrp, session, tty_nr.
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		return len(fields) > 4 && fields[4] == strconv.FormatUint(st.Rdev, 10)
	})
	leader, fresh, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer leader.Close()
	defer fresh.Close()
	for _, tc := range []struct {
		name string
		tty  bool
		file *os.File
	}{
		{"the terminal of the user's shell", true, users},
		{"a terminal not declared", false, fresh},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: r.socket, Net: "unix"})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			req := localapi.Request{V: localapi.Version, Op: localapi.OpRun, Argv: []string{"/bin/true"}, TTY: tc.tty}
			if err := localapi.SendRequest(c, req, tc.file, tc.file, tc.file); err != nil {
				t.Fatal(err)
			}
			var rep localapi.Reply
			if err := localapi.ReadFrame(c, nil, &rep); err != nil {
				t.Fatal(err)
			}
			if rep.Error == nil || !strings.Contains(rep.Error.Message, "terminal") {
				t.Fatalf("hoistd answered %+v; want a refusal of the terminal", rep)
			}
			t.Log(rep.Error.Message)
		})
	}
}

// TestOverlongInputIsRefusedBeforeAnything: the review's 40 KB reason is
// refused by the client with a clear message, and nothing is audited.
func TestOverlongInputIsRefusedBeforeAnything(t *testing.T) {
	r := newRig(t)
	got := r.sh("", `hoist run --reason "$(head -c 40000 /dev/zero | tr '\0' x)" -- /bin/true`)
	if got.code != 1 || !strings.Contains(got.stderr, "reason is 40000 bytes; at most 1000") || strings.Contains(got.stderr, "xxxx") {
		t.Fatalf("exit %d, stderr %q; want 1 and a clear refusal that does not repeat the reason", got.code, got.stderr)
	}
	if evs := r.events("command.refused"); len(evs) != 0 {
		t.Fatalf("the refusal reached the audit: %+v", evs)
	}
}
