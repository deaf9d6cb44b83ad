package platform

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Cgroups creates one cgroup v2 per session below Root.
type Cgroups struct {
	// Root is the directory that holds the session cgroups, e.g.
	// /sys/fs/cgroup/unified/hoist.
	Root string
}

// FindCgroup2 returns the mount point of the cgroup v2 hierarchy, from
// /proc/self/mountinfo: /sys/fs/cgroup on unified hosts,
// /sys/fs/cgroup/unified on hybrid ones.
func FindCgroup2() (string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		fields := strings.Fields(sc.Text())
		for i, field := range fields {
			if field == "-" && i+1 < len(fields) && fields[i+1] == "cgroup2" && len(fields) > 4 {
				return unescapeMount(fields[4]), nil
			}
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New("no cgroup2 file system is mounted")
}

// unescapeMount undoes the octal escapes of mountinfo (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Kind is "cgroup".
func (c Cgroups) Kind() string { return TrackCgroup }

// Groups lists the names of the groups below Root.
func (c Cgroups) Groups() ([]string, error) {
	entries, err := os.ReadDir(c.Root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, e := range entries {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	return names, nil
}

// Close does nothing: the cgroups are the state, and they stay.
func (c Cgroups) Close() error { return nil }

// cgroupGroup is the cgroup of one session.
type cgroupGroup struct {
	dir string
}

func (c Cgroups) path(id string) (string, error) {
	if err := checkGroupName(id); err != nil {
		return "", err
	}
	return filepath.Join(c.Root, id), nil
}

// NewGroup creates the cgroup of session id. It fails if it exists: a
// session never shares its container.
func (c Cgroups) NewGroup(id string) (Group, error) {
	dir, err := c.path(id)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(c.Root, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup root %s: %w", c.Root, err)
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create cgroup %s: %w", dir, err)
	}
	return &cgroupGroup{dir: dir}, nil
}

// OpenGroup returns the existing cgroup of session id, after a restart.
func (c Cgroups) OpenGroup(id string) (Group, error) {
	dir, err := c.path(id)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "cgroup.procs")); err != nil {
		return nil, fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	return &cgroupGroup{dir: dir}, nil
}

// Pids lists the processes in the group now, including those in cgroups
// an elevated program made below it.
func (g *cgroupGroup) Pids() ([]int, error) {
	var pids []int
	err := filepath.WalkDir(g.dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		data, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
		if err != nil {
			return nil // gone meanwhile
		}
		for _, line := range strings.Fields(string(data)) {
			if pid, err := strconv.Atoi(line); err == nil {
				pids = append(pids, pid)
			}
		}
		return nil
	})
	return pids, err
}

// Populated reports whether any process is in the group.
func (g *cgroupGroup) Populated() (bool, error) {
	data, err := os.ReadFile(filepath.Join(g.dir, "cgroup.events"))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "populated "); ok {
			return v == "1", nil
		}
	}
	return false, fmt.Errorf("%s/cgroup.events has no populated line", g.dir)
}

// Start starts spec as root inside the group. The child is cloned straight
// into the cgroup, so it never runs a single instruction outside it.
func (g *cgroupGroup) Start(spec Spec) (*Process, error) {
	cg, err := os.Open(g.dir)
	if err != nil {
		return nil, fmt.Errorf("open cgroup: %w", err)
	}
	defer cg.Close()
	return startProcess(spec, int(cg.Fd()))
}

// End terminates every process in the group: SIGTERM to each, up to grace
// for them to leave, then cgroup.kill for the rest (including any forked
// meanwhile), then it waits until the group is empty and removes it. It
// returns when the group is gone or ctx ends.
func (g *cgroupGroup) End(ctx context.Context, grace time.Duration) (EndReport, error) {
	start := time.Now()
	pids, err := g.Pids()
	if err != nil {
		return EndReport{}, err
	}
	rep := EndReport{Terminated: len(pids), Pids: pids}
	if grace > 0 {
		rel := g.relPath()
		for _, pid := range pids {
			signalIn(rel, pid, unix.SIGTERM, unix.SIGCONT) // a stopped process must run to see SIGTERM
		}
		if err := g.waitEmpty(ctx, grace); err == nil {
			rep.Took = time.Since(start)
			return rep, g.remove()
		}
	}
	left, _ := g.Pids()
	rep.Killed = len(left)
	if err := os.WriteFile(filepath.Join(g.dir, "cgroup.kill"), []byte("1"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		return rep, fmt.Errorf("cgroup.kill: %w", err)
	}
	if err := g.waitEmpty(ctx, 0); err != nil {
		return rep, err
	}
	rep.Took = time.Since(start)
	return rep, g.remove()
}

// signalIn sends sigs to pid only if pid is still in the cgroup rel (or
// below it): the pidfd is taken first and the cgroup checked after, so that
// a pid reused by a process outside the session is never signalled.
func signalIn(rel string, pid int, sigs ...unix.Signal) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return
	}
	for _, line := range strings.Split(string(data), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok && (p == rel || strings.HasPrefix(p, rel+"/")) {
			for _, sig := range sigs {
				_ = unix.PidfdSendSignal(fd, sig, nil, 0)
			}
			return
		}
	}
}

// relPath is the group's path as /proc/PID/cgroup writes it: relative to
// the cgroup2 mount point.
func (g *cgroupGroup) relPath() string {
	m, err := FindCgroup2()
	if err != nil {
		return g.dir
	}
	return "/" + strings.TrimPrefix(strings.TrimPrefix(g.dir, m), "/")
}

// waitEmpty waits until populated is 0, up to limit (0: until ctx ends). It
// watches cgroup.events with inotify, so it wakes the moment the last
// process leaves.
func (g *cgroupGroup) waitEmpty(ctx context.Context, limit time.Duration) error {
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if _, err := unix.InotifyAddWatch(fd, filepath.Join(g.dir, "cgroup.events"), unix.IN_MODIFY); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return err
	}
	var deadline time.Time
	if limit > 0 {
		deadline = time.Now().Add(limit)
	}
	buf := make([]byte, 4096)
	for {
		populated, err := g.Populated()
		if err != nil {
			return err
		}
		if !populated {
			return nil
		}
		wait := 100 * time.Millisecond // re-check now and then, in case an event is missed
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return context.DeadlineExceeded
			}
			wait = min(wait, left)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, int(wait.Milliseconds())+1); err != nil && !errors.Is(err, unix.EINTR) {
			return err
		}
		_, _ = unix.Read(fd, buf) // drain; the loop re-reads the file
	}
}

// remove deletes the empty cgroup and any an elevated program made below
// it, deepest first; a group already gone is fine.
func (g *cgroupGroup) remove() error {
	var dirs []string
	_ = filepath.WalkDir(g.dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			dirs = append(dirs, path)
		}
		return nil
	})
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := unix.Rmdir(dirs[i]); err != nil && !errors.Is(err, unix.ENOENT) {
			return fmt.Errorf("remove cgroup %s: %w", dirs[i], err)
		}
	}
	return nil
}

// SealInheritedFDs marks every descriptor above stderr close-on-exec.
// Descriptors hoistd inherited from whatever started it were not opened by
// Go and would otherwise reach every elevated program.
func SealInheritedFDs() error {
	return unix.CloseRange(3, ^uint(0), unix.CLOSE_RANGE_CLOEXEC)
}
