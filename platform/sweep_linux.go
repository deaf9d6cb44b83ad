package platform

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// KillMarked sends SIGKILL to every process whose initial environment holds
// marker as a whole entry (for example "HOIST_SESSION=ses_…") within its
// first envReadLimit bytes, and returns the pids it killed. Elevated
// programs are root and can move themselves out of their cgroup; this sweep
// after the end catches those that kept the environment they were given.
//
// It reads at most envReadLimit bytes of each process's environment, so
// its cost is linear in the number of processes whatever their
// environments hold, and it stops when ctx ends. The error is non-nil when
// the sweep was incomplete: ctx ended before every process was looked at,
// or some processes' environments could not be read in time (see
// envReadTimeout); the pids returned were killed all the same.
func KillMarked(ctx context.Context, marker string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var killed, blocked []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if err := ctx.Err(); err != nil {
			return killed, fmt.Errorf("sweep for %s cut short: %w", marker, err)
		}
		switch err := killIfMarked(ctx, pid, marker); {
		case err == nil:
			killed = append(killed, pid)
		case errors.Is(err, errEnvironStuck):
			blocked = append(blocked, pid)
		}
	}
	if len(blocked) > 0 {
		return killed, fmt.Errorf("sweep for %s: the environment of processes %v could not be read in time, so they were not checked: %w", marker, blocked, errEnvironStuck)
	}
	return killed, nil
}

// errNotMarked is killIfMarked's answer for a process left alone.
var errNotMarked = errors.New("not marked")

// killIfMarked kills pid if its environment holds marker. The pidfd is
// taken before the environment is read, so that the process read is the
// process killed: if the pid is reused meanwhile, the signal goes to the
// pidfd's process, which is gone, and fails.
func killIfMarked(ctx context.Context, pid int, marker string) error {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return err
	}
	defer unix.Close(pidfd)
	marked := false
	if err := withEnviron(ctx, pid, func(env []byte, complete bool) { marked = hasEntry(env, marker, complete) }); err != nil {
		return err
	}
	if !marked {
		return errNotMarked
	}
	return unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
}
