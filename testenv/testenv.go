// Package testenv gives tests the real things they need — root, a fresh
// non-root user, cgroup v2, the built binaries — and enforces the rule that
// under HOIST_CI=1 a missing capability fails the test instead of skipping
// it.
package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Require skips t when ok is false — or fails it under HOIST_CI=1.
func Require(t testing.TB, ok bool, why string) {
	t.Helper()
	if ok {
		return
	}
	if os.Getenv("HOIST_CI") != "" {
		t.Fatalf("required under HOIST_CI=1: %s", why)
	}
	t.Skip(why)
}

// RequireRoot needs the test to run as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	Require(t, os.Geteuid() == 0, "needs root")
}

// User is a non-root account made for one test.
type User struct {
	Name string
	UID  uint32
	GID  uint32
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// NewUser creates a fresh system user without a home and removes it when t
// ends.
func NewUser(t testing.TB) User {
	t.Helper()
	RequireRoot(t)
	_, err := exec.LookPath("useradd")
	Require(t, err == nil, "needs useradd")
	name := "hoist-t-" + randomHex(4)
	if out, err := exec.Command("useradd", "--no-create-home", "--shell", "/bin/sh", "--user-group", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd: %v: %s", err, out)
	}
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	t.Cleanup(func() {
		// The user's last processes (a tmux server, a shell, a daemon an
		// escape left) may still be there when the test ends; userdel
		// refuses while one runs, and the account would outlive the test.
		// They are all the test's own (the uid is new): ended, by pid.
		var out []byte
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(50 * time.Millisecond) {
			killProcessesOf(uint32(uid))
			if out, err = exec.Command("userdel", name).CombinedOutput(); err == nil || time.Now().After(deadline) {
				break
			}
		}
		if err != nil {
			t.Errorf("userdel %s: %v: %s", name, err, out)
		}
	})
	return User{Name: name, UID: uint32(uid), GID: uint32(gid)}
}

// PublicDir returns a new directory every user may enter, removed when t
// ends (t.TempDir is private to root).
func PublicDir(t testing.TB) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "hoist-test-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// Binaries builds hoist (with hoist-admin and hoist-jit beside it, which it
// execs), hoistd and hoist-server once per test binary into
// a directory every user may read, and returns it. Call Cleanup from
// TestMain to remove it.
func Binaries(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "hoist-bin-")
		if buildErr != nil {
			return
		}
		_ = os.Chmod(binDir, 0o755)
		root, err := moduleRoot()
		if err != nil {
			buildErr = err
			return
		}
		cmd := exec.Command("go", "build", "-o", binDir+"/", "./cmd/hoist", "./cmd/hoist-admin", "./cmd/hoist-jit", "./cmd/hoistd", "./cmd/hoist-server")
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = &buildError{err: err, out: string(out)}
		}
	})
	if buildErr != nil {
		t.Fatalf("build binaries: %v", buildErr)
	}
	return binDir
}

// Cleanup removes what Binaries built.
func Cleanup() {
	if binDir != "" {
		os.RemoveAll(binDir)
	}
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + ": " + e.out }

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}

// Alive reports whether pid is a live process; a zombie is dead.
func Alive(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// WaitUntil polls cond until it holds, failing t after 30 seconds.
func WaitUntil(t testing.TB, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Clock is a settable clock with timers, so that no test sleeps to see an
// expiry: moving it fires every timer that has come due.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*clockTimer
}

type clockTimer struct {
	c   *Clock
	at  time.Time
	f   func()
	off bool // stopped or fired
}

// NewClock returns a clock that reads t until moved.
func NewClock(t time.Time) *Clock { return &Clock{now: t} }

// Now reads the clock.
func (c *Clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

// Add moves the clock on by d and starts, each in its own goroutine, the
// timers that have come due.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	due := c.dueLocked()
	c.mu.Unlock()
	for _, f := range due {
		go f()
	}
}

// dueLocked takes the timers whose time has come off the list.
func (c *Clock) dueLocked() []func() {
	var due []func()
	kept := c.timers[:0]
	for _, t := range c.timers {
		switch {
		case t.off:
		case !t.at.After(c.now):
			t.off = true
			due = append(due, t.f)
		default:
			kept = append(kept, t)
		}
	}
	c.timers = kept
	return due
}

// AfterFunc calls f once the clock has been moved d past now; a d of zero or
// less calls it at once.
func (c *Clock) AfterFunc(d time.Duration, f func()) interface{ Stop() bool } {
	c.mu.Lock()
	t := &clockTimer{c: c, at: c.now.Add(d), f: f}
	c.timers = append(c.timers, t)
	due := c.dueLocked()
	c.mu.Unlock()
	for _, f := range due {
		go f()
	}
	return t
}

// Timers counts the timers not yet fired or stopped: a test waits for the
// code under test to arm its timer before it moves the clock.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, t := range c.timers {
		if !t.off {
			n++
		}
	}
	return n
}

// Stop cancels the timer; false when it has fired or was stopped.
func (t *clockTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	if t.off {
		return false
	}
	t.off = true
	return true
}
