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
	"sync"
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

// Adopt moves the running process pid into the group; what it starts from
// then on is born there. hoistd adopts sudo and pkexec from their PAM
// session step, before they start the command.
func (g *cgroupGroup) Adopt(pid int) error {
	if pid <= 1 {
		return fmt.Errorf("cannot adopt pid %d", pid)
	}
	return os.WriteFile(filepath.Join(g.dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0)
}

// End terminates every process in the group: SIGTERM to each, up to grace
// for them to leave, then cgroup.kill for the rest (including any forked
// meanwhile), then it waits until the group is empty and removes it. It
// returns when the group is gone, or when ctx ends: then what is still in
// the group is listed as Unkillable (see Group.End).
func (g *cgroupGroup) End(ctx context.Context, grace time.Duration) (EndReport, error) {
	start := time.Now()
	pids, err := g.Pids()
	if err != nil {
		return EndReport{}, err
	}
	rep := EndReport{Terminated: len(pids), Pids: pids}
	if grace > 0 && len(pids) > 0 {
		rel := g.relPath()
		for _, pid := range pids {
			signalIn(rel, pid, unix.SIGTERM, unix.SIGCONT) // a stopped process must run to see SIGTERM
		}
		err := g.waitEmpty(ctx, grace)
		rep.TermPhase = time.Since(start)
		if err == nil {
			rep.Took = rep.TermPhase
			return rep, g.remove()
		}
	}
	// Killing goes on even when ctx has ended during the grace: writing
	// cgroup.kill does not wait for anything.
	left, _ := g.Pids()
	rep.Killed = len(left)
	if err := os.WriteFile(filepath.Join(g.dir, "cgroup.kill"), []byte("1"), 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		return rep, fmt.Errorf("cgroup.kill: %w", err)
	}
	if err := g.waitEmpty(ctx, 0); err != nil {
		if ctx.Err() == nil {
			return rep, err
		}
		return g.unkillable(rep, start, err)
	}
	rep.Took = time.Since(start)
	return rep, g.remove()
}

// unkillable finishes an end whose ctx ended: it lists what is still in
// the group, or removes the group after all if it has just emptied.
func (g *cgroupGroup) unkillable(rep EndReport, start time.Time, cause error) (EndReport, error) {
	pids, _ := g.Pids()
	rep.Unkillable = describeStuck(pids)
	rep.Took = time.Since(start)
	if populated, err := g.Populated(); err == nil && !populated {
		return rep, g.remove()
	}
	return rep, fmt.Errorf("%w: %d still in cgroup %s when the end's deadline passed: %w", ErrUnkillable, len(pids), g.dir, cause)
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

// waitEmpty waits until populated is 0, up to limit (0: no limit) and
// never past ctx's end, when it returns ctx's error. It watches
// cgroup.events with inotify, so it wakes the moment the last process
// leaves, and an eventfd that ctx's end writes, so it wakes then too.
func (g *cgroupGroup) waitEmpty(ctx context.Context, limit time.Duration) error {
	var deadline time.Time
	if limit > 0 {
		deadline = time.Now().Add(limit)
	}
	w := g.watchEvents(ctx)
	defer w.close()
	for {
		populated, err := g.Populated()
		if err != nil {
			return err
		}
		if !populated {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		wait := 100 * time.Millisecond // re-check now and then, in case an event is missed
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return context.DeadlineExceeded
			}
			wait = min(wait, left)
		}
		w.wait(wait)
	}
}

// eventWatch wakes a waiter when cgroup.events changes or ctx ends.
type eventWatch struct {
	ifd, efd int // inotify on cgroup.events, eventfd written when ctx ends; -1 if none
	stop     func() bool
	buf      [4096]byte

	mu     sync.Mutex // the eventfd is written only while it is open
	closed bool
}

// watchEvents sets up the watch. Either descriptor may be missing (root's
// inotify instances are shared and can run out; descriptors too): the
// wait then falls back to re-checking every 100 ms at most.
func (g *cgroupGroup) watchEvents(ctx context.Context) *eventWatch {
	w := &eventWatch{ifd: -1, efd: -1, stop: func() bool { return true }}
	if fd, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK); err == nil {
		if _, err := unix.InotifyAddWatch(fd, filepath.Join(g.dir, "cgroup.events"), unix.IN_MODIFY); err == nil {
			w.ifd = fd
		} else {
			unix.Close(fd) // gone already: the first check finds it empty
		}
	}
	if fd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK); err == nil {
		w.efd = fd
		w.stop = context.AfterFunc(ctx, func() {
			w.mu.Lock()
			defer w.mu.Unlock()
			if !w.closed {
				_, _ = unix.Write(fd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
			}
		})
	}
	return w
}

// wait returns after at most d, or sooner on an event.
func (w *eventWatch) wait(d time.Duration) {
	var fds []unix.PollFd
	for _, fd := range []int{w.ifd, w.efd} {
		if fd >= 0 {
			fds = append(fds, unix.PollFd{Fd: int32(fd), Events: unix.POLLIN})
		}
	}
	if _, err := unix.Poll(fds, int(d.Milliseconds())+1); err != nil {
		return // EINTR or worse: the caller re-checks and waits again
	}
	if w.ifd >= 0 {
		_, _ = unix.Read(w.ifd, w.buf[:]) // drain; the caller re-reads the file
	}
}

func (w *eventWatch) close() {
	w.stop()
	w.mu.Lock()
	w.closed = true
	w.mu.Unlock()
	for _, fd := range []int{w.ifd, w.efd} {
		if fd >= 0 {
			unix.Close(fd)
		}
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
