package local

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/localapi"
)

func dial(path string) (*net.UnixConn, error) {
	c, err := net.DialUnix("unix", nil, &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, hoist.Errorf(hoist.EUnavailable, "cannot reach hoistd at %s: is it running? (%v)", path, shortErr(err))
	}
	return c, nil
}

func shortErr(err error) error {
	if oe, ok := err.(*net.OpError); ok && oe.Err != nil {
		if se, ok := oe.Err.(*os.SyscallError); ok {
			return se.Err
		}
		return oe.Err
	}
	return err
}

// Exchange sends req to hoistd at path and reads one reply; a refusal
// becomes an error that carries hoistd's exit status (see Exit).
func Exchange(path string, req localapi.Request) (localapi.Reply, error) {
	c, err := dial(path)
	if err != nil {
		return localapi.Reply{}, err
	}
	defer c.Close()
	req.V = localapi.Version
	if err := localapi.SendRequest(c, req); err != nil {
		return localapi.Reply{}, hoist.Errorf(hoist.EUnavailable, "cannot talk to hoistd: %v", err)
	}
	var rep localapi.Reply
	if err := localapi.ReadFrame(c, nil, &rep); err != nil {
		return rep, hoist.Errorf(hoist.EUnavailable, "hoistd closed the connection without an answer")
	}
	if rep.Error != nil {
		return rep, refused(rep.Error)
	}
	return rep, nil
}

// refused turns hoistd's answer no into the CLI's one error type, so that
// every caller (the commands, the JIT helper) shows its message: a
// *hoist.Error with hoistd's code and message, whose cause carries the exit
// status hoistd chose (see Run).
func refused(e *localapi.Error) *hoist.Error {
	code := e.Code
	if code == "" {
		code = hoist.EForbidden
	}
	return &hoist.Error{Code: code, Message: e.Message, Err: e}
}

var statusCommand = Command{
	Name:  "status",
	Use:   "status [--json]",
	Short: "Show whether JIT elevated access is active, and the time left",
	Flags: []Flag{{Name: "json", Bool: true, Usage: "print a JSON object: state, expires_at, remaining_seconds, session_id"}},
	Run: func(env Env, inv Invocation) error {
		rep, err := Exchange(inv.socket(env), localapi.Request{Op: localapi.OpStatus})
		if err != nil {
			return err
		}
		st := rep.Status
		if st == nil {
			return hoist.Errorf(hoist.EUnavailable, "hoistd answered without a status")
		}
		if inv.Bool("json") {
			return printJSON(env.Stdout, st)
		}
		printStatus(env, st)
		return nil
	},
}

func printStatus(env Env, st *localapi.Status) {
	switch st.State {
	case "active":
		until := ""
		if st.ExpiresAt != nil {
			until = *st.ExpiresAt
			if t, err := time.Parse(time.RFC3339, *st.ExpiresAt); err == nil {
				until = t.Local().Format("15:04:05")
			}
		}
		fmt.Fprintf(env.Stdout, "JIT elevated access is active for %s: %s left (until %s)\n", st.User,
			hoist.FormatDuration(time.Duration(st.RemainingSeconds)*time.Second), until)
		if st.Sudo {
			fmt.Fprintln(env.Stdout, "sudo and pkexec work too, without a password: what they start ends with the session")
		}
	case "ended":
		fmt.Fprintf(env.Stdout, "JIT elevated access for %s has ended (%s)\n", st.User, st.EndReason)
		if st.Closing {
			fmt.Fprintln(env.Stdout, "Elevated programs are being closed now.")
		}
		if len(st.Unkillable) > 0 {
			fmt.Fprintf(env.Stdout, "%s could not be killed (stuck in the kernel: %v); hoistd keeps trying and your administrator has been told\n",
				plural(len(st.Unkillable), "elevated process", "elevated processes"), st.Unkillable)
		}
	case "pending":
		fmt.Fprintf(env.Stdout, "JIT elevated access for %s is waiting for approval (request %s)\n", st.User, st.RequestID)
	default:
		fmt.Fprintf(env.Stdout, "JIT elevated access is not active for %s\n", st.User)
		if st.RequestState == "denied" || st.RequestState == "expired" || st.RequestState == "cancelled" || st.RequestState == "refused" {
			why := ""
			if st.DecisionReason != "" {
				why = " (" + st.DecisionReason + ")"
			}
			fmt.Fprintf(env.Stdout, "Your last request (%s) was %s%s; ask again with: hoist request\n", st.RequestID, st.RequestState, why)
		}
	}
}

var exitCommand = Command{
	Name:  "exit",
	Use:   "exit",
	Short: "End JIT elevated access now; every elevated program is terminated",
	Run: func(env Env, inv Invocation) error {
		rep, err := Exchange(inv.socket(env), localapi.Request{Op: localapi.OpExit})
		if err != nil {
			return err
		}
		n := 0
		if rep.Ended != nil {
			n = rep.Ended.Terminated
		}
		fmt.Fprintf(env.Stdout, "JIT elevated access ended; %s terminated\n", plural(n, "elevated process", "elevated processes"))
		return nil
	},
}

var requestCommand = Command{
	Name:  "request",
	Use:   "request [--for 45m] [--reason TEXT] [--wait] [--json] | request --extend DURATION [--reason TEXT] [--wait] | request --cancel | request --offline [--for D] [--reason TEXT] [--json] | request --response CODE",
	Short: "Ask for JIT elevated access, or more time on it (or withdraw the request that waits)",
	Flags: []Flag{
		{Name: "for", Usage: "how long, like 30m, 2h or 1d; default: the policy's"},
		{Name: "reason", Usage: "why you need it"},
		{Name: "wait", Bool: true, Usage: "wait for the decision: exit 0 approved, non-zero denied"},
		{Name: "json", Bool: true, Usage: "print a JSON object with id and state"},
		{Name: "cancel", Bool: true, Usage: "withdraw your request that waits for approval"},
		{Name: "extend", Usage: "ask for this much more time on your active session, like 30m or 1h"},
		{Name: "offline", Bool: true, Usage: "this machine cannot reach the server: print a challenge to read to an approver"},
		{Name: "response", Usage: "the approver's response to your offline challenge, or an emergency code"},
	},
	Run: runRequest,
}

// runRequest is hoist request in all its forms.
func runRequest(env Env, inv Invocation) error {
	forDur, reason, extend := inv.String("for"), inv.String("reason"), inv.String("extend")
	wait, asJSON, withdraw := inv.Bool("wait"), inv.Bool("json"), inv.Bool("cancel")
	offline, response := inv.Bool("offline"), inv.String("response")
	if inv.Changed("extend") {
		if forDur != "" || withdraw {
			return hoist.Errorf(hoist.EInvalid, "--extend takes the time to add itself: not with --for or --cancel")
		}
		return requestExtension(env, inv.socket(env), extend, reason, wait, asJSON)
	}
	if inv.Changed("response") {
		if offline || forDur != "" || reason != "" || wait || withdraw || asJSON {
			return hoist.Errorf(hoist.EInvalid, "--response takes the code alone")
		}
		return giveResponse(env, inv.socket(env), response)
	}
	if offline {
		if wait || withdraw {
			return hoist.Errorf(hoist.EInvalid, "--offline takes --for, --reason and --json only")
		}
		if inv.Changed("for") {
			d, err := hoist.ParseDuration(forDur)
			if err != nil {
				return hoist.Errorf(hoist.EInvalid, "--for: %s", hoist.ErrorMessage(err))
			}
			forDur = d.String()
		}
		return requestOffline(env, inv.socket(env), forDur, reason, asJSON)
	}
	if withdraw {
		if forDur != "" || reason != "" || wait {
			return hoist.Errorf(hoist.EInvalid, "--cancel takes no other flag but --json")
		}
		rep, err := Exchange(inv.socket(env), localapi.Request{Op: localapi.OpCancel})
		if err != nil {
			return err
		}
		id := ""
		if rep.Status != nil {
			id = rep.Status.RequestID
		}
		if asJSON {
			return printJSON(env.Stdout, map[string]string{"id": id, "state": "cancelled"})
		}
		fmt.Fprintf(env.Stdout, "Your request was withdrawn; no approver can grant it now.\n%s\n", id)
		return nil
	}
	// --for '' is a mistake, not a wish for the default.
	if inv.Changed("for") {
		d, err := hoist.ParseDuration(forDur)
		if err != nil {
			return hoist.Errorf(hoist.EInvalid, "--for: %s", hoist.ErrorMessage(err))
		}
		forDur = d.String() // hoistd reads Go's form
	}
	path := inv.socket(env)
	rep, err := Exchange(path, localapi.Request{Op: localapi.OpRequest, Duration: forDur, Reason: reason})
	if err != nil {
		return err
	}
	st := rep.Status
	if st == nil || st.RequestID == "" {
		return hoist.Errorf(hoist.EUnavailable, "hoistd answered without a request")
	}
	id := st.RequestID
	auto := st.RequestState == "approved" // by a rule of the policy, at once
	if !wait {
		if asJSON {
			state := "pending"
			if auto {
				state = "approved"
			}
			return printJSON(env.Stdout, map[string]any{"id": id, "state": state, "already_pending": st.AlreadyPending, "automatic": auto})
		}
		if auto {
			fmt.Fprintf(env.Stdout, "JIT elevated access was %s; it starts in a moment (hoist status shows it).\n%s\n", orApproved(st.DecisionReason), id)
			return nil
		}
		if st.AlreadyPending {
			fmt.Fprintf(env.Stdout, "Your request is already waiting for an approver; no second request was made (hoist status shows it).\n%s\n", id)
		} else {
			fmt.Fprintf(env.Stdout, "JIT elevated access requested; waiting for an approver.\n%s\n", id)
		}
		return nil
	}
	if !asJSON && auto {
		fmt.Fprintf(env.Stderr, "JIT elevated access was %s (%s); starting…\n", orApproved(st.DecisionReason), id)
	} else if !asJSON && st.AlreadyPending {
		fmt.Fprintf(env.Stderr, "Your request %s is already waiting for an approver; no second request was made. Waiting for the decision…\n", id)
	} else if !asJSON {
		fmt.Fprintf(env.Stderr, "JIT elevated access requested (%s); waiting for an approver…\n", id)
	}
	state, st, err := waitForDecision(path, id)
	if err != nil {
		return err
	}
	return printDecision(env, id, state, st, asJSON, nil)
}

// requestExtension files an extension of the caller's active session and,
// with wait, waits for its decision: exit 0 when the session's end moved.
func requestExtension(env Env, path, extend, reason string, wait, asJSON bool) error {
	d, err := hoist.ParseDuration(extend)
	if err != nil {
		return hoist.Errorf(hoist.EInvalid, "--extend: %s", hoist.ErrorMessage(err))
	}
	rep, err := Exchange(path, localapi.Request{Op: localapi.OpExtend, Duration: d.String(), Reason: reason})
	if err != nil {
		return err
	}
	st := rep.Status
	if st == nil || st.RequestID == "" {
		return hoist.Errorf(hoist.EUnavailable, "hoistd answered without a request")
	}
	id := st.RequestID
	if !wait {
		if asJSON {
			return printJSON(env.Stdout, map[string]any{"id": id, "state": "pending", "kind": "extension", "already_pending": st.AlreadyPending})
		}
		if st.AlreadyPending {
			fmt.Fprintf(env.Stdout, "Your request is already waiting for an approver; no second request was made.\n%s\n", id)
		} else {
			fmt.Fprintf(env.Stdout, "%s more time requested; your session goes on meanwhile. Waiting for an approver.\n%s\n", hoist.FormatDuration(d), id)
		}
		return nil
	}
	if !asJSON {
		fmt.Fprintf(env.Stderr, "%s more time requested (%s); waiting for an approver…\n", hoist.FormatDuration(d), id)
	}
	state, st, err := waitForExtension(path, id)
	if err != nil {
		return err
	}
	return printDecision(env, id, state, st, asJSON, map[string]any{"kind": "extension"})
}

// printDecision says how request id was decided, as --wait promises: the
// status and the id on approval (exit 0), why not on stderr otherwise
// (exit 1); with asJSON one object, with extra's fields added.
func printDecision(env Env, id, state string, st *localapi.Status, asJSON bool, extra map[string]any) error {
	if asJSON {
		out := map[string]any{"id": id, "state": state, "session_id": st.SessionID, "expires_at": st.ExpiresAt}
		for k, v := range extra {
			out[k] = v
		}
		if err := printJSON(env.Stdout, out); err != nil {
			return err
		}
	} else if state == "approved" {
		printStatus(env, st)
		fmt.Fprintln(env.Stdout, id)
	} else {
		fmt.Fprintf(env.Stderr, "hoist: %s\n", undecidedMessage(id, state, st.DecisionReason))
		fmt.Fprintln(env.Stdout, id)
	}
	if state != "approved" {
		return ExitStatus{1}
	}
	return nil
}

// waitForExtension watches the local status until the extension id is
// decided, or the session it was for has ended.
func waitForExtension(path, id string) (string, *localapi.Status, error) {
	return pollStatus(path, func(st *localapi.Status) (string, bool) {
		switch {
		case st.RequestID == id && st.RequestState != "" && st.RequestState != "pending":
			return st.RequestState, true
		case st.State != "active" && st.State != "pending":
			st.DecisionReason = "the session ended first"
			return "not granted", true
		}
		return "", false
	})
}

// undecidedMessage says why request id did not become a session.
func undecidedMessage(id, state, reason string) string {
	if state == string(hoist.RequestExpired) {
		return fmt.Sprintf("request %s expired: no approver decided on it in time; ask again with: hoist request", id)
	}
	why := ""
	if reason != "" {
		why = ": " + reason
	}
	return fmt.Sprintf("request %s was %s%s", id, state, why)
}

// waitForDecision watches the local status until the request is decided.
// hoistd hears of the decision by push; asking it is cheap.
func waitForDecision(path, id string) (string, *localapi.Status, error) {
	return pollStatus(path, func(st *localapi.Status) (string, bool) {
		switch {
		case st.State == "active" && st.RequestID == id:
			return "approved", true
		case st.RequestID == id && (st.RequestState == "denied" || st.RequestState == "expired" || st.RequestState == "cancelled" || st.RequestState == "refused"):
			return st.RequestState, true
		}
		return "", false
	})
}

// pollStatus asks hoistd for the caller's status until decided says the
// wait is over, and returns what it said with that status.
func pollStatus(path string, decided func(*localapi.Status) (string, bool)) (string, *localapi.Status, error) {
	for {
		rep, err := Exchange(path, localapi.Request{Op: localapi.OpStatus})
		if err != nil {
			return "", nil, err
		}
		st := rep.Status
		if st == nil {
			return "", nil, hoist.Errorf(hoist.EUnavailable, "hoistd answered without a status")
		}
		if state, ok := decided(st); ok {
			return state, st, nil
		}
		time.Sleep(200 * time.Millisecond)
	}
}

var explainCommand = Command{
	Name:    "explain",
	Use:     "explain [--json] [--] CMD [ARG...]",
	Short:   "Say which policy would decide CMD for you, and why",
	Program: true,
	Flags:   []Flag{{Name: "json", Bool: true, Usage: "print a JSON object"}},
	Run: func(env Env, inv Invocation) error {
		rep, err := Exchange(inv.socket(env), localapi.Request{Op: localapi.OpExplain, Argv: inv.Args})
		if err != nil {
			return err
		}
		e := rep.Explained
		if e == nil {
			return hoist.Errorf(hoist.EUnavailable, "hoistd answered out of turn")
		}
		if inv.Bool("json") {
			return printJSON(env.Stdout, e)
		}
		verdict := map[string]string{hoist.ActionElevate: "runs as root", hoist.ActionAllow: "is allowed, not elevated",
			hoist.ActionDeny: "is denied", hoist.ActionJustify: "runs as root once you give a reason (--reason)", hoist.ActionNone: "is not elevated"}[e.Action]
		fmt.Fprintf(env.Stdout, "%s %s\n", e.Path, verdict)
		if e.Policy != "" {
			fmt.Fprintf(env.Stdout, "policy: %s\n", e.Policy)
		}
		fmt.Fprintf(env.Stdout, "why:    %s\n", e.Why)
		for _, a := range e.Audited {
			fmt.Fprintf(env.Stdout, "audited by: %s\n", a)
		}
		printArgv(env.Stdout, e)
		return nil
	},
}

// printArgv shows how the arguments met the argument rules: argument by
// argument for the policy that decided, and the failing argument of each
// policy that named the program but refused these arguments.
func printArgv(w io.Writer, e *localapi.Explanation) {
	for _, m := range e.Argv {
		fmt.Fprintf(w, "  %s\n", m)
	}
	for _, miss := range e.ArgvMisses {
		fmt.Fprintf(w, "policy %q names %s but refuses these arguments:\n", miss.Policy, e.Path)
		if miss.Legacy {
			fmt.Fprintf(w, "  %s\n", miss.Why())
			continue
		}
		for _, m := range miss.Args {
			fmt.Fprintf(w, "  %s\n", m)
		}
	}
}

// orApproved is how an approval at the time of asking is told: the
// server's words ("approved automatically by rule NAME"), else approved.
func orApproved(reason string) string {
	if reason == "" {
		return "approved"
	}
	return reason
}

// Commands are the user's commands, the ones Main runs itself.
func Commands() []Command {
	return []Command{requestCommand, statusCommand, runCommand, exitCommand, explainCommand}
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// plural says n of a noun: "1 elevated process", "2 elevated processes".
func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
