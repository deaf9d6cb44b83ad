package platform

import (
	"fmt"
	"path/filepath"
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
