package hoist

import "time"

// SessionCommand is one program that ran in a JIT session or a
// policy-elevated run, as the machine's kernel reported it (the agent's
// session.commands audit events; docs/session-audit.md).
type SessionCommand struct {
	// Session is the session's id, or the run id of a policy-elevated
	// program.
	Session string `json:"session"`
	// Stream names one hoistd's record of the session (a restart of hoistd
	// starts another); N numbers the stream's execs from 1, in its order.
	Stream string    `json:"stream,omitempty"`
	N      int       `json:"n"`
	At     time.Time `json:"at"`
	Pid    int       `json:"pid"`
	Ppid   int       `json:"ppid"`
	UID    int       `json:"uid"`
	// Path is the file the exec named; Exe the executable it resolved to
	// and SHA256 its hash, where the agent could read them.
	Path   string   `json:"path,omitempty"`
	Exe    string   `json:"exe,omitempty"`
	SHA256 string   `json:"exe_sha256,omitempty"`
	Argv   []string `json:"argv"`
	Cwd    string   `json:"cwd,omitempty"`
	// Truncated says the argv was cut to its bound; Gone that the program
	// had exited before the agent could read its cwd and executable.
	Truncated bool `json:"truncated,omitempty"`
	Gone      bool `json:"gone,omitempty"`
	// ExitStatus is the shell's number (128+n for signal n), nil while
	// unknown.
	ExitStatus *int `json:"exit_status,omitempty"`
	// Host, User and Agent are the session's, for a search across
	// sessions (Agent: the machine's agent id, which the server knows).
	Host  string `json:"host,omitempty"`
	User  string `json:"user,omitempty"`
	Agent string `json:"agent,omitempty"`
}

// CommandFilter selects session commands.
type CommandFilter struct {
	// Session selects one session's commands, in their order.
	Session string
	// Match selects the commands whose program name or argv contains it
	// (case-insensitively; "useradd" finds /usr/sbin/useradd -m bob).
	Match string
	// Limit caps the result; zero means DefaultListLimit, at most
	// MaxCommandLimit for one session.
	Limit int
}

// MaxCommandLimit is the most commands one query returns: a session's
// record is bounded by the agent's budget, well below this.
const MaxCommandLimit = 5000

// CommandLimit returns the limit a store applies for n.
func CommandLimit(n int) int {
	if n <= 0 {
		return DefaultListLimit
	}
	return min(n, MaxCommandLimit)
}

// CommandDepths is each command's depth in the process tree of cmds (in
// their order): a command is below the latest earlier one that is its
// parent, or that it replaced by exec (the same pid).
func CommandDepths(cmds []SessionCommand) []int {
	depth := make([]int, len(cmds))
	last := map[int]int{} // pid -> index of its latest exec
	for i, c := range cmds {
		if j, ok := last[c.Ppid]; ok {
			depth[i] = depth[j] + 1
		}
		if j, ok := last[c.Pid]; ok {
			depth[i] = depth[j] + 1
		}
		last[c.Pid] = i
	}
	return depth
}
