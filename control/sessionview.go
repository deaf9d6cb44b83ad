package control

import (
	"context"
	"encoding/json"
	"slices"
	"strings"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

// The agent's audit actions this file reads, as the audit log stores them
// (the server prefixes an agent's actions with "agent.").
const (
	// AuditSessionCommands carries a batch of a session's exec records
	// (agent.ActionSessionCommands).
	AuditSessionCommands = "agent.session.commands"
	// AuditSessionChanges carries a session's change report: detail
	// {"changes":[{"kind","name","change","detail"}…],"omitted":N}, one or
	// more records per session (at its start and its end).
	AuditSessionChanges = "agent.session.changes"
)

// Bounds on what one session.commands event may store.
const (
	maxCommandsPerEvent = 500
	maxCommandArgs      = 80
	maxCommandArgBytes  = 1200
	maxCommandPath      = 1100
	maxCommandN         = 1 << 24
	// MaxSessionCommands is the most commands one session or run stores:
	// root on its machine must not fill the server's database through it.
	MaxSessionCommands = 20_000
)

// commandBatch is the detail of a session.commands event, as the agent
// writes it (agent.ExecRecord).
type commandBatch struct {
	Commands []hoist.SessionCommand `json:"commands"`
	Exits    []struct {
		N          int `json:"n"`
		ExitStatus int `json:"exit_status"`
	} `json:"exits"`
	Run      string `json:"run"`
	Stream   string `json:"stream"`
	Final    bool   `json:"final"`
	Recorded int    `json:"recorded"`
	Omitted  int    `json:"omitted"`
	Programs int    `json:"omitted_programs"`
	Lost     int    `json:"lost_by_source"`
	Summary  string `json:"summary"`
	Source   string `json:"source"`
}

// storeCommands files the exec records of a session.commands event in the
// session's commands, in the event's transaction. Records for a session of
// another agent are not filed (the audit record stays: it is what the agent
// said), and every field is bounded; a malformed batch is kept out of the
// commands, never an error that would make the agent retry forever.
func storeCommands(ctx context.Context, tx hoist.Tx, a hoist.AgentRecord, ev wire.AgentAuditEvent) error {
	if ev.Action != "session.commands" {
		return nil
	}
	host, user, ok, err := commandOwner(ctx, tx, a, ev)
	if err != nil || !ok {
		return err
	}
	raw, err := json.Marshal(ev.Detail)
	if err != nil {
		return nil
	}
	var b commandBatch
	if json.Unmarshal(raw, &b) != nil || len(b.Commands) > maxCommandsPerEvent || len(b.Exits) > maxCommandsPerEvent ||
		len(b.Stream) > 32 || !hoist.Printable(b.Stream) {
		return nil
	}
	if other, err := runOfAnother(ctx, tx, a, ev.Subject); err != nil || other {
		return err // another machine's run of the same name: not a's to add to
	}
	cmds := make([]hoist.SessionCommand, 0, len(b.Commands))
	for _, c := range b.Commands {
		if c.N <= 0 || c.N > maxCommandN {
			continue
		}
		c.Session, c.Stream, c.Host, c.User, c.Agent = ev.Subject, b.Stream, host, user, a.ID
		cmds = append(cmds, boundCommand(c))
	}
	if have, err := tx.CountSessionCommands(ctx, ev.Subject); err != nil {
		return err
	} else if have+len(cmds) > MaxSessionCommands {
		// The audit record stays: it says what ran; the session's list
		// stops at the bound.
		cmds = cmds[:max(0, MaxSessionCommands-have)]
	}
	if err := tx.InsertSessionCommands(ctx, cmds); err != nil {
		return err
	}
	for _, x := range b.Exits {
		if x.N > 0 && x.N <= maxCommandN {
			if err := tx.SetCommandExit(ctx, ev.Subject, b.Stream, x.N, x.ExitStatus); err != nil {
				return err
			}
		}
	}
	return nil
}

// commandOwner is the host and user of the session or run an event's
// commands belong to; ok is false when they are not this agent's to file.
func commandOwner(ctx context.Context, tx hoist.Tx, a hoist.AgentRecord, ev wire.AgentAuditEvent) (host, user string, ok bool, err error) {
	switch {
	case hoist.ValidID(hoist.SessionIDPrefix, ev.Subject):
		sess, err := tx.Session(ctx, ev.Subject)
		if hoist.ErrorCode(err) == hoist.ENotFound {
			return "", "", false, nil
		}
		if err != nil {
			return "", "", false, err
		}
		return sess.Host, sess.User, sess.Agent == a.ID, nil
	case strings.HasPrefix(ev.Subject, "run_") && len(ev.Subject) <= 64 && hoist.Printable(ev.Subject):
		// A policy run has no server record: it is the agent's own, and
		// named by the agent with the user it ran for.
		return a.Name(), ev.Actor, true, nil
	}
	return "", "", false, nil
}

// boundCommand clips what the server stores of one command.
func boundCommand(c hoist.SessionCommand) hoist.SessionCommand {
	if len(c.Argv) > maxCommandArgs {
		c.Argv, c.Truncated = c.Argv[:maxCommandArgs], true
	}
	argv := make([]string, len(c.Argv))
	for i, s := range c.Argv {
		argv[i] = clipText(s, maxCommandArgBytes)
	}
	c.Argv = argv
	c.Path, c.Exe, c.Cwd = clipText(c.Path, maxCommandPath), clipText(c.Exe, maxCommandPath), clipText(c.Cwd, maxCommandPath)
	c.SHA256 = clipText(c.SHA256, 64)
	return c
}

// clipText cuts s to n bytes and drops NUL, which no database stores.
func clipText(s string, n int) string {
	s = strings.ReplaceAll(s, "\x00", "")
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// SessionView is everything the session page shows: the session, the
// request that started it and the ones that extended it, the programs that
// ran, what they changed on the machine, and what the record left out.
type SessionView struct {
	Session hoist.Session `json:"session"`
	// Request started the session; Extensions are the approved requests
	// for more time.
	Request    *hoist.Request  `json:"request,omitempty"`
	Extensions []hoist.Request `json:"extensions,omitempty"`
	// Approvers are everyone who approved the session or an extension.
	Approvers []string               `json:"approvers"`
	Commands  []hoist.SessionCommand `json:"commands"`
	// CommandsSource is where the agent read them (bpf or proc);
	// CommandsFinal says the session's record is complete.
	CommandsSource string `json:"commands_source,omitempty"`
	CommandsFinal  bool   `json:"commands_final"`
	// CommandsOmitted is how many execs past the agent's budget were
	// counted and not recorded, of OmittedPrograms distinct programs;
	// CommandsLost how many the machine's kernel buffer dropped.
	CommandsOmitted int    `json:"commands_omitted,omitempty"`
	OmittedPrograms int    `json:"omitted_programs,omitempty"`
	CommandsLost    int    `json:"commands_lost,omitempty"`
	CommandsSummary string `json:"commands_summary,omitempty"`
	// Changes is the session's change report, in the order reported;
	// ChangesOmitted counts what the report left out.
	Changes        []SessionChange `json:"changes"`
	ChangesOmitted int             `json:"changes_omitted,omitempty"`
}

// SessionChange is one line of a change report.
type SessionChange struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Change string `json:"change"`
	Detail string `json:"detail,omitempty"`
}

// SessionView returns the page of session id (or of the request that
// started it).
//
// Who may open it: an admin and an auditor (any session in their scope),
// and an approver who approved the session or one of its extensions. An
// approver who did not approve it may not: what root ran on a machine is
// the audit's to show, and an approver's role does not read the audit
// (docs/session-audit.md). Anyone else gets EForbidden; a missing session
// ENotFound.
func (s *Service) SessionView(ctx context.Context, a Actor, id string) (v SessionView, err error) {
	if err := a.require(hoist.PermitReadRequests); err != nil {
		return v, err
	}
	err = s.store.View(ctx, func(tx hoist.Tx) error {
		if v.Session, err = sessionByAnyID(ctx, tx, id); err != nil {
			return err
		}
		adm, err := accountOf(ctx, tx, a)
		if err != nil {
			return err
		}
		if err := checkScope(ctx, tx, &groupCache{}, adm, v.Session.Agent, v.Session.Host, "see sessions"); err != nil {
			return err
		}
		if err := v.readRequests(ctx, tx); err != nil {
			return err
		}
		if !hoist.Can(a.Role, hoist.PermitReadAudit) && !slices.Contains(v.Approvers, a.Name) {
			return hoist.Errorf(hoist.EForbidden, "only an admin, an auditor or an approver of session %s may see what ran in it", v.Session.ID)
		}
		if v.Commands, err = tx.SessionCommands(ctx, hoist.CommandFilter{Session: v.Session.ID, Limit: hoist.MaxCommandLimit}); err != nil {
			return err
		}
		return v.readAudit(ctx, tx)
	})
	if v.Commands == nil {
		v.Commands = []hoist.SessionCommand{}
	}
	if v.Changes == nil {
		v.Changes = []SessionChange{}
	}
	return v, err
}

// readRequests finds the session's request and extensions, and who
// approved them.
func (v *SessionView) readRequests(ctx context.Context, tx hoist.Tx) error {
	add := func(names ...string) {
		for _, n := range names {
			for _, n := range strings.Split(n, ",") {
				if n = strings.TrimSpace(n); n != "" && !slices.Contains(v.Approvers, n) {
					v.Approvers = append(v.Approvers, n)
				}
			}
		}
	}
	add(v.Session.ApprovedBy)
	approvers := func(r hoist.Request) {
		add(r.DecidedBy)
		for _, m := range r.Approvals {
			add(m.By)
		}
	}
	if v.Session.RequestID != "" {
		r, err := tx.Request(ctx, v.Session.RequestID)
		if err != nil && hoist.ErrorCode(err) != hoist.ENotFound {
			return err
		}
		if err == nil {
			v.Request = &r
			approvers(r)
		}
	}
	rs, err := tx.Requests(ctx, hoist.RequestFilter{User: v.Session.User, Host: v.Session.Host, Limit: hoist.MaxListLimit})
	if err != nil {
		return err
	}
	for _, r := range rs {
		if r.Extends == v.Session.ID && r.State == hoist.RequestApproved {
			v.Extensions = append(v.Extensions, r)
			approvers(r)
		}
	}
	if v.Approvers == nil {
		v.Approvers = []string{}
	}
	return nil
}

// readAudit reads the summary of the exec record and the change report
// from the session's audit records.
func (v *SessionView) readAudit(ctx context.Context, tx hoist.Tx) error {
	err := tx.Audit(ctx, hoist.AuditFilter{Subject: v.Session.ID, Action: AuditSessionCommands}, func(r hoist.AuditRecord) error {
		var b commandBatch
		if json.Unmarshal(r.Detail, &b) != nil || !v.fromItsAgent(r) {
			return nil
		}
		v.CommandsSource = b.Source
		v.CommandsOmitted = max(v.CommandsOmitted, b.Omitted)
		v.OmittedPrograms = max(v.OmittedPrograms, b.Programs)
		if b.Final {
			v.CommandsFinal, v.CommandsLost, v.CommandsSummary = true, b.Lost, b.Summary
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tx.Audit(ctx, hoist.AuditFilter{Subject: v.Session.ID, Action: AuditSessionChanges}, func(r hoist.AuditRecord) error {
		var rep struct {
			Changes []SessionChange `json:"changes"`
			Omitted int             `json:"omitted"`
		}
		if json.Unmarshal(r.Detail, &rep) != nil || !v.fromItsAgent(r) {
			return nil
		}
		v.Changes = append(v.Changes, rep.Changes...)
		v.ChangesOmitted += rep.Omitted
		return nil
	})
}

// fromItsAgent reports whether the agent record r came from the agent of
// v's session (the server writes "agent" over what the agent says): a
// report another machine's root sent under this session's id is not the
// session's.
func (v *SessionView) fromItsAgent(r hoist.AuditRecord) bool {
	var d struct {
		Agent string `json:"agent"`
	}
	return json.Unmarshal(r.Detail, &d) == nil && d.Agent == v.Session.Agent
}

// foreignSessionReport reports whether ev is a session's change report or
// exec record sent by an agent a that is not the session's: such a report
// is not filed under the session (AgentAudit records an alert instead).
func foreignSessionReport(ctx context.Context, tx hoist.Tx, a hoist.AgentRecord, ev wire.AgentAuditEvent) (bool, error) {
	if (ev.Action != "session.changes" && ev.Action != "session.commands") || !hoist.ValidID(hoist.SessionIDPrefix, ev.Subject) {
		return false, nil
	}
	sess, err := tx.Session(ctx, ev.Subject)
	if hoist.ErrorCode(err) == hoist.ENotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return sess.Agent != a.ID, nil
}

// runOfAnother reports whether the policy run subject already has commands
// filed by an agent other than a: a's exit statuses are not set on them.
func runOfAnother(ctx context.Context, tx hoist.Tx, a hoist.AgentRecord, subject string) (bool, error) {
	if !strings.HasPrefix(subject, "run_") {
		return false, nil
	}
	cmds, err := tx.SessionCommands(ctx, hoist.CommandFilter{Session: subject, Limit: 1})
	if err != nil {
		return false, err
	}
	return len(cmds) > 0 && cmds[0].Agent != a.ID, nil
}

// SearchCommands finds the programs run in sessions whose name or argv
// contains match (all of them when it is empty), newest first: "which
// session ran useradd?". It reads
// the audit's record of every session, so it is for admins and auditors.
func (s *Service) SearchCommands(ctx context.Context, a Actor, match string, limit int) (cmds []hoist.SessionCommand, err error) {
	if err := a.require(hoist.PermitReadAudit); err != nil {
		return nil, err
	}
	if len(match) > 256 {
		return nil, hoist.Errorf(hoist.EInvalid, "q: give at most 256 bytes to look for in the programs and their arguments")
	}
	err = s.store.View(ctx, func(tx hoist.Tx) (err error) {
		adm, err := accountOf(ctx, tx, a)
		if err != nil {
			return err
		}
		want := hoist.ListLimit(limit)
		f := hoist.CommandFilter{Match: match, Limit: want}
		if adm.Scoped() {
			f.Limit = hoist.MaxListLimit // filtered below, then cut to the limit asked
		}
		if cmds, err = tx.SessionCommands(ctx, f); err != nil || !adm.Scoped() {
			return err
		}
		// An account scoped to computer groups sees the machines of those.
		gc, kept := &groupCache{}, cmds[:0]
		for _, c := range cmds {
			if len(kept) < want && checkScope(ctx, tx, gc, adm, c.Agent, c.Host, "see sessions") == nil {
				kept = append(kept, c)
			}
		}
		cmds = kept
		return nil
	})
	if cmds == nil {
		cmds = []hoist.SessionCommand{}
	}
	return cmds, err
}
