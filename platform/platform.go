// Package platform is the operating-system layer of hoistd: it starts
// elevated processes inside a container of their own per JIT session,
// lists what runs there, and ends all of it. On Linux the container is a
// cgroup v2, which no process can leave by double-forking, setsid or nohup;
// every elevated process is born inside it (CLONE_INTO_CGROUP), so not even
// its first instruction runs outside.
//
// Other systems get ErrNotSupported until their implementation is written
// (Windows: Job Objects).
package platform

import (
	"errors"
	"os"
	"time"
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
}
