package platform

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// NewTracker makes the tracker of kind (TrackAuto, TrackCgroup or
// TrackProc). cgroupRoot is where session cgroups go; empty means
// "sessions" in the cgroup systemd delegated to this process (a unit with
// Delegate=yes), else "hoist" below the cgroup2 mount.
func NewTracker(kind, cgroupRoot string) (Tracker, error) {
	switch kind {
	case TrackAuto, "":
		mount, err := FindCgroup2()
		if err != nil {
			return NewProcTracker()
		}
		return cgroupTracker(mount, cgroupRoot), nil
	case TrackCgroup:
		mount, err := FindCgroup2()
		if err != nil {
			return nil, fmt.Errorf("no cgroup v2 hierarchy is mounted: %w", err)
		}
		return cgroupTracker(mount, cgroupRoot), nil
	case TrackProc:
		return NewProcTracker()
	}
	return nil, fmt.Errorf("unknown tracker %q: want %s, %s or %s", kind, TrackAuto, TrackCgroup, TrackProc)
}

func cgroupTracker(mount, root string) Cgroups {
	if root == "" {
		root = filepath.Join(mount, "hoist")
		if own, ok := DelegatedCgroup(mount); ok {
			root = filepath.Join(own, "sessions")
		}
	}
	return Cgroups{Root: root}
}

// DelegatedCgroup returns the directory of this process's own cgroup v2
// (from /proc/self/cgroup, below mount) when systemd delegated it: systemd
// marks a unit's cgroup with the trusted.delegate (or, for a user manager's
// units, user.delegate) extended attribute when the unit has Delegate=yes.
// Below a delegated cgroup the subtree is this process's to manage, and
// systemd neither moves nor removes what it finds there; anywhere else a
// session cgroup would be systemd's to tidy away.
func DelegatedCgroup(mount string) (string, bool) {
	data, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", false
	}
	return delegatedAt(mount, string(data))
}

// delegatedAt is DelegatedCgroup for the /proc/PID/cgroup text given.
func delegatedAt(mount, procCgroup string) (string, bool) {
	rel, ok := ownCgroup(procCgroup)
	if !ok || rel == "/" {
		return "", false
	}
	dir := filepath.Join(mount, rel)
	for _, attr := range []string{"trusted.delegate", "user.delegate"} {
		buf := make([]byte, 8)
		if n, err := unix.Getxattr(dir, attr, buf); err == nil && string(buf[:n]) == "1" {
			return dir, true
		}
	}
	return "", false
}

// ownCgroup is the cgroup v2 path in the text of /proc/self/cgroup: the
// "0::" line.
func ownCgroup(text string) (string, bool) {
	for _, line := range strings.Split(text, "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok && strings.HasPrefix(p, "/") && !strings.Contains(p, "/../") && !strings.HasSuffix(p, "/..") {
			return p, true
		}
	}
	return "", false
}

// checkGroupName refuses names that are not one plain path element: a
// group name becomes a directory name.
func checkGroupName(id string) error {
	if id == "" || strings.ContainsAny(id, "/\x00") || id == "." || id == ".." {
		return fmt.Errorf("invalid group name %q", id)
	}
	return nil
}

// describeStuck reads the state and name of each of pids that is still
// alive, for an end's report of what it could not kill.
func describeStuck(pids []int) []Stuck {
	var stuck []Stuck
	for _, pid := range pids {
		st, ok := readStat(pid)
		if !ok {
			continue // gone meanwhile
		}
		state := st.state
		if st.dead() {
			// The main thread has exited; what holds the process is a
			// thread that has not.
			if state = liveThreadState(pid); state == 0 {
				continue
			}
		}
		stuck = append(stuck, Stuck{Pid: pid, State: string(rune(state)), Comm: printable(st.comm)})
	}
	return stuck
}

// liveThreadState is the state of a thread of pid that has not exited, or
// 0 when there is none.
func liveThreadState(pid int) byte {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	for _, task := range tasks {
		data, err := os.ReadFile(dir + "/" + task.Name() + "/stat")
		if err != nil {
			continue
		}
		if st, ok := parseStat(data); ok && !st.dead() {
			return st.state
		}
	}
	return 0
}

// printable replaces what is not printable ASCII with '?': a command name
// is chosen by the process and ends up in logs and on screens.
func printable(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	return string(b)
}
