// Package platform is the operating-system layer of hoistd: it starts
// elevated processes inside a container of their own per JIT session,
// lists what runs there, and ends all of it. On Linux the container is a
// cgroup v2, which no process can leave by double-forking, setsid or nohup;
// every elevated process is born inside it (CLONE_INTO_CGROUP), so not even
// its first instruction runs outside. Hosts without cgroup v2 get a tracker
// that follows every fork the kernel reports (the process-events connector)
// and ends the session by killing the tree it recorded.
//
// Other systems get ErrNotSupported until their implementation is written
// (Windows: Job Objects).
package platform

import (
	"context"
	"errors"
	"os"
	"time"
)

// A Tracker makes the containers that hold each session's processes.
type Tracker interface {
	// Kind names the mechanism ("cgroup" or "proc"), for logs and status.
	Kind() string
	// NewGroup makes the container of session id; it fails if one exists,
	// since a session never shares its container.
	NewGroup(id string) (Group, error)
	// OpenGroup finds the container of session id again, after hoistd
	// restarted, with the processes still in it.
	OpenGroup(id string) (Group, error)
	// Close releases what the tracker holds; groups stay as they are.
	Close() error
}

// A Group is one session's container.
type Group interface {
	// Start starts spec as root inside the group.
	Start(spec Spec) (*Process, error)
	// Pids lists the processes in the group now.
	Pids() ([]int, error)
	// End terminates every process in the group: SIGTERM, up to grace for
	// them to leave, then a kill of all that is left (including any forked
	// meanwhile). It returns when the group is empty and gone, or ctx ends.
	End(ctx context.Context, grace time.Duration) (EndReport, error)
}

// Tracker kinds accepted by NewTracker.
const (
	TrackAuto   = "auto"   // cgroup v2 when mounted, else proc
	TrackCgroup = "cgroup" // one cgroup v2 per session
	TrackProc   = "proc"   // fork events from the kernel, for hosts without cgroup v2
)

// ErrNotSupported is returned where this OS has no implementation yet.
var ErrNotSupported = errors.New("not supported on this operating system yet")

// Spec is a process to start as root.
type Spec struct {
	// Path is the executable, already resolved.
	Path string
	// Argv is the full argument vector, Argv[0] included.
	Argv []string
	// Env is the complete environment; nothing else is inherited.
	Env []string
	// Dir is the working directory.
	Dir string
	// Stdin, Stdout and Stderr are the process's first three descriptors; no
	// other descriptor reaches it.
	Stdin, Stdout, Stderr *os.File
	// TTY makes the process the leader of a new session with Stdin as its
	// controlling terminal, so that it is the terminal's foreground group.
	TTY bool
}

// EndReport says what ending a group did.
type EndReport struct {
	// Terminated counts the processes found running when the end began.
	Terminated int
	// Killed counts those still running after the grace period, which were
	// killed outright.
	Killed int
	// Pids lists the processes found running when the end began.
	Pids []int
	// Took is how long the end took, from the first signal to empty.
	Took time.Duration
	// Unkillable lists what was still there when the end's deadline came.
	Unkillable []Stuck
}

// Stuck is a process that a kill did not end.
type Stuck struct {
	Pid   int
	State string
	Comm  string
}
