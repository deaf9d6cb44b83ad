package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// signalsCleanEnv marks a hoistd that cleanSignals has executed again; its
// value lists the signals the first one found ignored.
const signalsCleanEnv = "HOIST_SIGNALS_CLEANED"

// cleanSignals makes sure that every program hoistd starts begins with each
// signal at its default and none blocked, whatever started hoistd (nohup
// ignores SIGHUP; a supervisor may leave signals blocked). A shell cannot trap
// a signal that was ignored when it started, and a blocked one never arrives:
// an elevated program would not end on hangup, nor see what it waits for.
//
// It executes hoistd again, once, because nothing less reaches the children:
// Go's fork saves the signal mask the process started with and restores it in
// every child before exec, and SysProcAttr has no field to change it; a signal
// ignored at start that Go installs no handler for (SIGHUP, SIGINT) stays
// ignored in the child, and signal.Reset puts that inherited SIG_IGN back
// rather than the default. execve, though, resets every caught signal to its
// default and keeps the mask of the thread that calls it. So the first hoistd
// catches each ignored signal, empties its thread's mask and executes itself;
// the second starts clean, and Go's fork passes that on.
//
// Signals the first hoistd found ignored stay ignored by hoistd itself (the
// second catches and drops them), so hoistd under nohup still outlives a
// hangup. It must run before hoistd starts anything, on the main goroutine
// locked to its thread (main does that).
//
// A start that is already clean (systemd's, a root shell's) is not executed
// again: nothing ignored and this thread's mask empty. The thread's mask is
// what Go's fork gives a child (it saves the forking thread's mask, not the
// one hoistd started with), and every thread Go makes starts from the same
// mask, so an empty one here means children start with none blocked.
func cleanSignals() error {
	if done, ok := os.LookupEnv(signalsCleanEnv); ok {
		os.Unsetenv(signalsCleanEnv) // nothing hoistd starts needs to see it
		var ignored []os.Signal
		for _, f := range strings.Fields(strings.ReplaceAll(done, ",", " ")) {
			n, err := strconv.Atoi(f)
			if err != nil || n < 1 || n > 64 {
				return fmt.Errorf("%s=%q: not a list of signal numbers", signalsCleanEnv, done)
			}
			ignored = append(ignored, syscall.Signal(n))
		}
		if len(ignored) > 0 {
			// Caught and dropped (Notify never blocks on a full channel): hoistd
			// goes on ignoring them, and Go's fork gives children the default.
			signal.Notify(make(chan os.Signal, 1), ignored...)
		}
		return nil
	}
	var ignored []string
	for n := 1; n <= 64; n++ {
		sig := syscall.Signal(n)
		if n == int(syscall.SIGKILL) || n == int(syscall.SIGSTOP) || !signal.Ignored(sig) {
			continue
		}
		ignored = append(ignored, strconv.Itoa(n))
		signal.Notify(make(chan os.Signal, 1), sig) // caught, so execve resets it to the default
	}
	var blocked, none unix.Sigset_t
	if err := unix.PthreadSigmask(unix.SIG_BLOCK, nil, &blocked); err != nil {
		return fmt.Errorf("cannot read the signal mask: %w", err)
	}
	if len(ignored) == 0 && blocked == none {
		return nil // already clean: no second start
	}
	if err := unix.PthreadSigmask(unix.SIG_SETMASK, &none, nil); err != nil {
		return fmt.Errorf("cannot unblock signals: %w", err)
	}
	env := append(os.Environ(), signalsCleanEnv+"="+strings.Join(ignored, ","))
	// selfExe, not a path: it is this binary even when an upgrade has
	// replaced the file.
	return fmt.Errorf("cannot start hoistd again with clean signals: %w", syscall.Exec(selfExe, os.Args, env))
}
