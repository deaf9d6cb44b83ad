package platform

import "time"

// The sources an ExecWatcher reads, for logs, status and the records.
const (
	// ExecSourceBPF is a BPF program on the scheduler's exec and exit
	// tracepoints: every exec, argv read in the kernel.
	ExecSourceBPF = "bpf"
	// ExecSourceProc is the process-events connector, then /proc: lossy
	// (a program that exits before its /proc entry is read is recorded
	// without its argv), for kernels that refuse BPF.
	ExecSourceProc = "proc"
)

// Exec bounds: what a record of one exec carries at most.
const (
	// MaxExecArgs is the most arguments an exec record keeps.
	MaxExecArgs = 64
	// MaxExecArgBytes is the most bytes of the argument area read.
	MaxExecArgBytes = 2048
)

// ExecEvent is one program started, or one process ended, in a watched
// group (a JIT session's or a policy run's container, and everything
// below it).
type ExecEvent struct {
	// Group is the id the group was watched under.
	Group string
	// Exit is set for a process's end; otherwise this is an exec.
	Exit bool
	// At is when the kernel saw it.
	At   time.Time
	Pid  int
	Ppid int
	// UID is the real uid of the process.
	UID int
	// Path is the file the exec named (an exec only).
	Path string
	// Argv is the new program's argument vector, bounded by MaxExecArgs
	// and MaxExecArgBytes (an exec only); Truncated says it was cut.
	Argv      []string
	Truncated bool
	// ExitStatus is the wait status of an exit (code<<8 | signal).
	ExitStatus int
	// NoArgv is set when the source could not read the argv (the proc
	// fallback, for a program that was gone before it was read).
	NoArgv bool
}

// ExecWatcher reports the execs and exits in the groups it watches. Events
// are delivered in the order the kernel saw them on one CPU; a consumer
// that falls behind loses events (counted by Lost), it never slows the
// watched processes.
type ExecWatcher interface {
	// Source is ExecSourceBPF or ExecSourceProc.
	Source() string
	// Watch starts reporting the execs in g (and below it) as group id. It
	// fails for a group it cannot watch (one that is no cgroup).
	Watch(id string, g Group) error
	// Unwatch stops reporting group id; events already read are still
	// delivered.
	Unwatch(id string)
	// Events is where the events arrive; it is closed by Close.
	Events() <-chan ExecEvent
	// Lost is how many events were dropped so far (a full buffer).
	Lost() uint64
	// Close stops the watcher and closes Events.
	Close() error
}

// ExitCode turns a wait status into the shell's number: the exit code, or
// 128+n for a process killed by signal n.
func ExitCode(status int) int {
	if sig := status & 0x7f; sig != 0 {
		return 128 + sig
	}
	return (status >> 8) & 0xff
}

// splitArgs turns a NUL-separated argument area into at most MaxExecArgs
// strings; it reports whether anything was left out.
func splitArgs(area []byte) (argv []string, cut bool) {
	for len(area) > 0 {
		if len(argv) == MaxExecArgs {
			return argv, true
		}
		i := 0
		for i < len(area) && area[i] != 0 {
			i++
		}
		argv = append(argv, string(area[:i]))
		if i == len(area) {
			break
		}
		area = area[i+1:]
	}
	return argv, cut
}
