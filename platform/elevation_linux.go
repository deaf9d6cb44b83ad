package platform

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// KillElevations sends SIGKILL to every process that is an elevation of
// uid in flight: its real uid is uid, its effective or saved uid is root's,
// and its executable is one of exes (absolute, symlinks resolved: sudo,
// pkexec). It returns the pids it killed. A set-uid sudo or pkexec of the
// user's is such a process from its exec until it drops to the command,
// whether stopped or running: at a session's end hoistd kills them, so
// that one the user held past sudoers' check never runs after the end.
//
// It reads only /proc/PID/status and the /proc/PID/exe link, neither of
// which waits on the process (no memory-map lock), so it never blocks on
// one; it stops when ctx ends, and then returns an error with the pids
// killed so far.
func KillElevations(ctx context.Context, uid int, exes []string) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	self := os.Getpid()
	var killed []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		if err := ctx.Err(); err != nil {
			return killed, fmt.Errorf("the kill of uid %d's elevations was cut short: %w", uid, err)
		}
		if killIfElevation(pid, uid, exes) == nil {
			killed = append(killed, pid)
		}
	}
	return killed, nil
}

// errNotElevation is killIfElevation's answer for a process left alone.
var errNotElevation = fmt.Errorf("not an elevation in flight")

// killIfElevation kills pid if it is an elevation of uid by one of exes.
// The pidfd is taken first, so that the process looked at is the process
// killed.
func killIfElevation(pid, uid int, exes []string) error {
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return err
	}
	defer unix.Close(pidfd)
	var buf [4096]byte
	n, _, err := readAtMost("/proc/"+strconv.Itoa(pid)+"/status", buf[:])
	if err != nil {
		return err
	}
	if !elevatedOf(buf[:n], uid) {
		return errNotElevation
	}
	exe, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe")
	if err != nil {
		return err
	}
	// A binary upgraded under a running process reads "PATH (deleted)".
	exe = strings.TrimSuffix(exe, " (deleted)")
	found := false
	for _, x := range exes {
		found = found || x == exe
	}
	if !found {
		return errNotElevation
	}
	return unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
}

// elevatedOf reports whether status (of /proc/PID/status) says real uid
// uid with effective or saved uid 0. Its Uid line is "Uid: real effective
// saved fs".
func elevatedOf(status []byte, uid int) bool {
	for line := range bytes.SplitSeq(status, []byte("\n")) {
		v, ok := bytes.CutPrefix(line, []byte("Uid:"))
		if !ok {
			continue
		}
		f := strings.Fields(string(v))
		return len(f) >= 3 && f[0] == strconv.Itoa(uid) && (f[1] == "0" || f[2] == "0")
	}
	return false
}
