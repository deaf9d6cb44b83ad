package console

import (
	"net/http"
	"strings"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
)

// sessionData is the session page: the facts, and (for whoever may see
// them, control.Service.SessionView) the process tree of what ran and the
// change report.
type sessionData struct {
	Session hoist.Session
	View    *control.SessionView // nil: Hidden says why
	Hidden  string
	// Tree is the commands as a process tree; Matches the commands a
	// search on the page found (Query), in their order.
	Tree    []*commandNode
	Query   string
	Matches []hoist.SessionCommand
	// CanSearch: the caller may search every session (/commands).
	CanSearch bool
	// Recordings are the session's terminal recordings, oldest first, as
	// /sessions/{id}/recordings/{n} numbers them from 1 (recordings.go).
	Recordings []hoist.Recording
}

// commandNode is one command with what it started.
type commandNode struct {
	hoist.SessionCommand
	Children []*commandNode
}

// Line is the command as a shell would take it.
func (n *commandNode) Line() string { return commandLine(n.Argv) }

func (h *Handler) sessionPage(w http.ResponseWriter, r *http.Request, v *visit) error {
	sess, err := h.svc.Session(r.Context(), v.actor, r.PathValue("id"))
	if err != nil {
		return err
	}
	d := sessionData{Session: sess, Query: strings.TrimSpace(r.URL.Query().Get("q")), CanSearch: hoist.Can(v.actor.Role, hoist.PermitReadAudit)}
	if len(d.Query) > 256 {
		return hoist.Errorf(hoist.EInvalid, "q: at most 256 bytes")
	}
	view, err := h.svc.SessionView(r.Context(), v.actor, sess.ID)
	switch {
	case hoist.ErrorCode(err) == hoist.EForbidden:
		d.Hidden = hoist.ErrorMessage(err)
	case err != nil:
		return err
	default:
		d.View = &view
		d.Tree = commandTree(view.Commands)
		if d.Query != "" {
			d.Matches = matchCommands(view.Commands, d.Query)
		}
		// Who may see what ran may play what it showed: the same rule.
		if d.Recordings, err = h.svc.Recordings(r.Context(), v.actor, sess.ID); err != nil {
			return err
		}
	}
	h.render(w, r, http.StatusOK, "session", v, d)
	return nil
}

// commandsData is the search of every session's commands.
type commandsData struct {
	Query    string
	Commands []hoist.SessionCommand
}

func (h *Handler) commandsPage(w http.ResponseWriter, r *http.Request, v *visit) error {
	d := commandsData{Query: strings.TrimSpace(r.URL.Query().Get("q"))}
	// Empty: the latest programs of every session.
	cmds, err := h.svc.SearchCommands(r.Context(), v.actor, d.Query, hoist.MaxListLimit)
	if err != nil {
		return err
	}
	d.Commands = cmds
	h.render(w, r, http.StatusOK, "commands", v, d)
	return nil
}

// commandTree nests cmds (in their order) by parent: a command goes below
// the latest earlier one that is its parent process, or that it replaced
// by exec (the same pid); the rest are roots.
func commandTree(cmds []hoist.SessionCommand) []*commandNode {
	var roots []*commandNode
	last := map[int]*commandNode{}
	for _, c := range cmds {
		n := &commandNode{SessionCommand: c}
		parent, ok := last[c.Pid]
		if !ok {
			parent, ok = last[c.Ppid]
		}
		if ok {
			parent.Children = append(parent.Children, n)
		} else {
			roots = append(roots, n)
		}
		last[c.Pid] = n
	}
	return roots
}

// matchCommands is the commands whose program or argv contains q,
// case-insensitively (as the server's search matches).
func matchCommands(cmds []hoist.SessionCommand, q string) []hoist.SessionCommand {
	q = strings.ToLower(q)
	var out []hoist.SessionCommand
	for _, c := range cmds {
		if strings.Contains(strings.ToLower(c.Path+" "+strings.Join(c.Argv, " ")), q) {
			out = append(out, c)
		}
	}
	return out
}

// commandLine shows argv as a shell would take it.
func commandLine(argv []string) string {
	out := make([]string, len(argv))
	for i, a := range argv {
		if a == "" || strings.ContainsAny(a, " \t\n'\"\\$`;&|<>*?()[]{}#~!") {
			a = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
		}
		out[i] = a
	}
	return strings.Join(out, " ")
}
