package platform_test

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/platform"
	"github.com/hoist-jit/hoist/testenv"
)

func newMarker() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "HOIST_SESSION=ses_sweep_" + hex.EncodeToString(b)
}

// hugeEnv is n variables of about 20 bytes each.
func hugeEnv(n int) []string {
	env := make([]string, n)
	for i := range env {
		env[i] = fmt.Sprintf("V%06d=xxxxxxxxxxxx", i)
	}
	return env
}

// sleeper starts a sleep with env, as user when cred is not nil, and ends
// it at cleanup.
func sleeper(t *testing.T, env []string, cred *syscall.Credential) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("/bin/sleep", "1000")
	cmd.Env = env
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := cmd.Start(); err != nil { // returns once the exec is done
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// TestKillMarked: the sweep kills the processes whose environment holds
// the marker, however large the environments around it, and leaves the
// rest alone, among them a non-root user's process with 60,000 variables
// (1.2 MB) that once made each end take most of a minute.
func TestKillMarked(t *testing.T) {
	testenv.RequireRoot(t)
	u := testenv.NewUser(t)
	marker := newMarker()
	huge := hugeEnv(60000)
	padding := "PAD=" + strings.Repeat("p", 70<<10)
	cases := []struct {
		name   string
		env    []string
		user   bool
		killed bool
	}{
		{"marked, as hoistd builds it", []string{"PATH=/usr/bin:/bin", "HOME=/root", marker, "TERM=dumb"}, false, true},
		{"marked, then 60,000 variables", append([]string{"PATH=/usr/bin:/bin", marker}, huge...), false, true},
		{"a user's 60,000 variables", huge, true, false},
		{"a user's 60,000 variables, then the marker", append(slices.Clone(huge), marker), true, false}, // past the bound: see envReadLimit
		{"a longer value", []string{marker + "x"}, false, false},
		{"the marker inside another variable", []string{"X" + marker}, false, false},
		{"marked after 70 KiB of other variables", []string{padding, marker}, false, false}, // past the bound: see envReadLimit
	}
	cmds := make([]*exec.Cmd, len(cases))
	for i, tc := range cases {
		var cred *syscall.Credential
		if tc.user {
			cred = &syscall.Credential{Uid: u.UID, Gid: u.GID}
		}
		cmds[i] = sleeper(t, tc.env, cred)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	killed, err := platform.KillMarked(ctx, marker)
	if err != nil {
		t.Fatalf("KillMarked: %v", err)
	}
	for i, tc := range cases {
		pid := cmds[i].Process.Pid
		if got := slices.Contains(killed, pid); got != tc.killed {
			t.Errorf("%s: killed = %v, want %v", tc.name, got, tc.killed)
		}
		if tc.killed {
			if err := cmds[i].Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
				t.Errorf("%s: the process ended with %v, want killed", tc.name, err)
			}
		} else if !testenv.Alive(pid) {
			t.Errorf("%s: process %d is gone", tc.name, pid)
		}
	}
	if len(killed) != 2 {
		t.Errorf("killed %v, want exactly the two marked processes", killed)
	}
}

// TestKillMarkedStopsAtTheDeadline: a sweep whose ctx has ended looks at
// nothing and says so.
func TestKillMarkedStopsAtTheDeadline(t *testing.T) {
	testenv.RequireRoot(t)
	marker := newMarker()
	cmd := sleeper(t, []string{marker}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	killed, err := platform.KillMarked(ctx, marker)
	if err == nil || len(killed) != 0 {
		t.Fatalf("KillMarked with an ended ctx = %v, %v; want nothing killed and an error", killed, err)
	}
	if !testenv.Alive(cmd.Process.Pid) {
		t.Errorf("a sweep cut short killed %d", cmd.Process.Pid)
	}
}

// TestSweepGetsPastABlockedEnvironment: a non-root user's process whose
// environment no one can read (a page fault blocked on a frozen file
// system, an unmap waiting for it with the memory-map lock taken; a FUSE
// mount that never answers does the same) neither stops the sweep nor the
// proc tracker's end, which read every process's environment. The sweep
// still kills the marked process after it, and names the one it could
// not check.
func TestSweepGetsPastABlockedEnvironment(t *testing.T) {
	testenv.RequireRoot(t)
	u := testenv.NewUser(t)
	proc, err := platform.NewProcTracker()
	testenv.Require(t, err == nil, fmt.Sprint("needs the process-events connector: ", err))
	t.Cleanup(func() { proc.Close() })
	g, err := proc.NewGroup("ses_blocked_environ")
	if err != nil {
		t.Fatal(err)
	}
	fs := testenv.NewFreezableFS(t)
	mapped := filepath.Join(fs.Dir, "mapped")
	if err := os.WriteFile(mapped, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(mapped, int(u.UID), int(u.GID)); err != nil {
		t.Fatal(err)
	}
	helper := publicCopyOfSelf(t)

	marker := newMarker()
	cmd := exec.Command(helper, mapped)
	cmd.Env = []string{"HOIST_PLATFORM_HELPER=blocked-fault", marker}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.UID, Gid: u.GID}}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = w
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	t.Cleanup(func() { fs.ThawIfFrozen(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	br := bufio.NewReader(out)
	if line := readLine(t, out, br); line != "mapped" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("helper said %q, want mapped; stderr: %s", line, stderr.String())
	}
	fs.Freeze(t)
	_, _ = io.WriteString(stdin, "go\n")
	if line := readLine(t, out, br); line != "faulting" {
		t.Fatalf("helper said %q, want faulting", line)
	}
	helperPid := cmd.Process.Pid
	testenv.WaitUntil(t, "the unmap to block behind the fault", func() bool { return threadsIn(helperPid, "D") >= 2 })

	marked := sleeper(t, []string{marker}, nil) // a later pid: the sweep meets the helper first
	member := start(t, g, "exec sleep 1000")

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := g.End(ctx, 0); err != nil {
		t.Errorf("the proc tracker's end: %v", err)
	}
	if testenv.Alive(member.Pid()) {
		t.Errorf("the session's process %d survived the proc tracker's end", member.Pid())
	}
	killed, err := platform.KillMarked(ctx, marker)
	if !slices.Equal(killed, []int{marked.Process.Pid}) {
		t.Errorf("KillMarked killed %v, want [%d]", killed, marked.Process.Pid)
	}
	if err == nil || !strings.Contains(err.Error(), strconv.Itoa(helperPid)) {
		t.Errorf("KillMarked's error = %v, want it to name process %d as not checked", err, helperPid)
	}
	fs.Thaw(t)
}

// publicCopyOfSelf copies the test binary where a non-root user may run it.
func publicCopyOfSelf(t *testing.T) string {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(testenv.PublicDir(t), "helper")
	if err := os.WriteFile(path, data, 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}
