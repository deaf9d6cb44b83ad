package cli_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"github.com/hoist-jit/hoist/cli"
	"github.com/hoist-jit/hoist/testenv"
)

// lockedBuffer is a bytes.Buffer two goroutines may use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}
func (l *lockedBuffer) String() string { l.mu.Lock(); defer l.mu.Unlock(); return l.b.String() }

// TestLoginAsksOnTheTerminal: without --password-stdin, hoist admin login
// asks for the password on the terminal, which does not echo it.
func TestLoginAsksOnTheTerminal(t *testing.T) {
	m := startServer(t)
	ptm, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptm.Close()
	defer tty.Close()
	var screen lockedBuffer // what the terminal shows: the echo, if any
	go func() {
		buf := make([]byte, 256)
		for {
			n, err := ptm.Read(buf)
			screen.Write(buf[:n])
			if err != nil {
				return
			}
		}
	}()
	home := t.TempDir()
	var stdout, stderr lockedBuffer
	env := cli.Env{Stdin: tty, Stdout: &stdout, Stderr: &stderr, Getenv: func(k string) string {
		if k == "HOME" {
			return home
		}
		return ""
	}}
	done := make(chan int)
	go func() {
		done <- cli.Run([]string{"admin", "login", "--server", m.URL(), "--user", "admin", "--ca", m.CAPath()}, env)
	}()
	testenv.WaitUntil(t, "the prompt, and echo off", func() bool {
		tio, err := unix.IoctlGetTermios(int(tty.Fd()), unix.TCGETS)
		return strings.Contains(stderr.String(), "Password for admin: ") && err == nil && tio.Lflag&unix.ECHO == 0
	})
	if _, err := ptm.Write([]byte(adminPassword + "\n")); err != nil {
		t.Fatal(err)
	}
	if code := <-done; code != 0 || !strings.Contains(stdout.String(), "logged in") {
		t.Fatalf("login: exit %d, stdout %q, stderr %q", code, stdout.String(), stderr.String())
	}
	if strings.Contains(screen.String(), "horse") {
		t.Fatalf("the terminal echoed the password: %q", screen.String())
	}
	u := user{t: t, home: home}
	u.ok("", "admin", "approvals")
}
