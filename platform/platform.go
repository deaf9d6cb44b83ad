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
	// meanwhile). It returns only when the group is empty and removed (nil
	// error), or when ctx ends, and never later than that: the caller's
	// deadline (grace plus a margin) is the longest an end can take.
	//
	// When ctx ends with processes still in the group after they were sent
	// SIGKILL (a process in uninterruptible sleep, "D", on a hung NFS or
	// FUSE mount or a frozen file system, does not die until the kernel
	// lets it go), the report lists them in Unkillable and the error wraps
	// ErrUnkillable. The group then stays; calling End again, with grace 0
	// and a new deadline, kills what is left and removes the group once it
	// is empty. End on a group that is already gone succeeds at once.
	End(ctx context.Context, grace time.Duration) (EndReport, error)
}

// ErrUnkillable is wrapped by the error of an End whose deadline passed
// with processes still in the group after they had been sent SIGKILL; the
// report's Unkillable names them.
var ErrUnkillable = errors.New("processes could not be killed")

// Stuck is a process that was still there when an end's deadline passed.
type Stuck struct {
	Pid int
	// State is the state letter of /proc/PID/stat: "D" for uninterruptible
	// sleep, "T" stopped, "R" running, and so on. For a process whose main
	// thread has exited it is the state of a thread still alive.
	State string
	// Comm is the process's command name (at most 15 bytes), with bytes
	// that are not printable ASCII replaced by '?'.
	Comm string
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
	// TermPhase is how long the SIGTERM phase lasted, from the first signal
	// until the group was empty or the grace ran out (when SIGKILL went to
	// the rest). Zero when there was no grace or nothing to signal.
	TermPhase time.Duration
	// Took is how long the end took, from the first signal until the group
	// was empty and removed; when End failed, until it returned.
	Took time.Duration
	// Unkillable lists the processes still in the group when ctx ended;
	// empty unless the error wraps ErrUnkillable.
	Unkillable []Stuck
}
