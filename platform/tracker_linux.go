package platform

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// NewTracker makes the tracker of kind (TrackAuto, TrackCgroup or
// TrackProc). cgroupRoot is where session cgroups go; empty means "hoist"
// below the cgroup2 mount.
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
	}
	return Cgroups{Root: root}
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
