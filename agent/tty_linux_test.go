package agent_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/testenv"
)

// tmux drives a terminal as the rig's user: keys in, screen out.
type tmux struct {
	t    *testing.T
	r    *rig
	sock string
}

func newTmux(t *testing.T, r *rig, command string) *tmux {
	t.Helper()
	_, err := exec.LookPath("tmux")
	testenv.Require(t, err == nil, "needs tmux")
	dir := testenv.PublicDir(t)
	if err := os.Chown(dir, int(r.user.UID), int(r.user.GID)); err != nil {
		t.Fatal(err)
	}
	m := &tmux{t: t, r: r, sock: filepath.Join(dir, "tmux.sock")}
	m.run("new-session", "-d", "-x", "80", "-y", "24", command)
	t.Cleanup(func() { _ = m.cmd("kill-server").Run() })
	return m
}

func (m *tmux) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command("tmux", append([]string{"-S", m.sock}, args...)...)
	cmd.Env = []string{"PATH=" + filepath.Dir(m.r.hoist) + ":/usr/bin:/bin", "HOIST_SOCKET=" + m.r.socket, "HOME=/tmp", "TERM=xterm", "PS1=$ "}
	cmd.Dir = "/tmp"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: m.r.user.UID, Gid: m.r.user.GID}}
	return cmd
}

func (m *tmux) run(args ...string) string {
	m.t.Helper()
	out, err := m.cmd(args...).CombinedOutput()
	if err != nil {
		m.t.Fatalf("tmux %v: %v: %s", args, err, out)
	}
	return string(out)
}

func (m *tmux) keys(keys ...string) { m.run(append([]string{"send-keys", "-t", "0"}, keys...)...) }

func (m *tmux) screen() string { return m.run("capture-pane", "-p", "-t", "0") }

// waitScreen waits until the screen shows want.
func (m *tmux) waitScreen(want string) {
	m.t.Helper()
	var s string
	for deadline := time.Now().Add(20 * time.Second); ; {
		s = m.screen()
		if strings.Contains(s, want) {
			return
		}
		if time.Now().After(deadline) {
			m.t.Fatalf("the screen never showed %q:\n%s", want, s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestTerminalBehavesAsUnderSudo drives an elevated interactive shell in a
// real terminal: Ctrl-C interrupts the foreground program, Ctrl-Z stops it
// and fg resumes it, the window size follows the user's terminal.
func TestTerminalBehavesAsUnderSudo(t *testing.T) {
	r := newRig(t)
	sid := r.grant(time.Hour)
	m := newTmux(t, r, `sh -c 'hoist run -- /bin/bash --norc -i; echo "hoist-exit=$?"; sleep 1000'`)
	m.waitScreen("#") // root's prompt

	m.keys("id -u; stty size", "Enter")
	m.waitScreen("24 80")
	if s := m.screen(); !strings.Contains(s, "\n0\n") {
		t.Fatalf("the elevated shell is not root:\n%s", s)
	}

	// Each key goes once the program it is for runs: a Ctrl-C typed before
	// bash has started sleep would reach nothing.
	m.keys("sleep 1000", "Enter")
	r.waitSleep(sid, "S")
	m.keys("C-c")
	m.keys("echo after-ctrl-c=$?", "Enter")
	m.waitScreen("after-ctrl-c=130")

	m.keys("sleep 1000", "Enter")
	r.waitSleep(sid, "S")
	m.keys("C-z")
	m.waitScreen("Stopped")
	r.waitSleep(sid, "T")
	m.keys("fg", "Enter")
	m.waitScreen("sleep 1000\n")
	r.waitSleep(sid, "S")
	m.keys("C-c")
	m.keys("echo after-fg=$?", "Enter")
	m.waitScreen("after-fg=130")

	m.run("resize-window", "-t", "0", "-x", "100", "-y", "30")
	m.keys("stty size", "Enter")
	m.waitScreen("30 100")

	m.keys("exit 5", "Enter")
	m.waitScreen("hoist-exit=5")
}

// waitSleep waits until a sleep in session sid is in state ("S" sleeping,
// "T" stopped), as /proc/PID/stat says.
func (r *rig) waitSleep(sid, state string) {
	r.t.Helper()
	g, err := r.tracker.OpenGroup(sid)
	if err != nil {
		r.t.Fatal(err)
	}
	testenv.WaitUntil(r.t, "a sleep in state "+state, func() bool {
		pids, _ := g.Pids()
		for _, pid := range pids {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue
			}
			// pid (comm) state ...
			if f := strings.Fields(string(stat)); len(f) > 2 && f[1] == "(sleep)" && f[2] == state {
				return true
			}
		}
		return false
	})
}
