// Package jit is the JIT helper the user sees: it asks for JIT mode, waits
// for the decision, counts down, reminds the user before the end — in the
// terminal, by desktop notification, in the tray — and offers to end JIT
// mode early. It runs as the user and talks only to hoistd's socket.
//
// The decisions (which reminder is due, what to say) are pure functions of
// the status hoistd reports and the clock; the terminal and D-Bus are
// adapters around them.
package jit

import (
	"fmt"
	"slices"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/localapi"
)

// Reminders decides which reminders of one session fall due: every Every
// of time left (periodic: "ends in 3h", "ends in 2h30m"…) above the final
// marks, then at each final mark (15m, 5m, 1m before the end). It is a pure
// function of the time left it is shown, look after look.
type Reminders struct {
	schedule []time.Duration // the final marks, longest first
	every    time.Duration   // the period above them; 0: none
	session  string
	prev     time.Duration // the time left at the last look
}

// NewReminders returns a tracker for the final marks schedule (how long
// before the end) and the period every above them (0: no periodic
// reminders).
func NewReminders(schedule []time.Duration, every time.Duration) *Reminders {
	s := slices.Clone(schedule)
	slices.SortFunc(s, func(a, b time.Duration) int { return int(b - a) })
	if every < 0 {
		every = 0
	}
	return &Reminders{schedule: slices.Compact(s), every: every}
}

// Due returns the reminder that fell due for session with remaining time
// left since the last look, at most one: a mark falls due when the time
// left passes it. Several at once (a suspended laptop) give only the most
// urgent. Reminders already past when the tracker first sees a session are
// not given — the user who starts the helper with 10 minutes left does not
// hear "15 minutes left" — nor is a periodic one at the very first look,
// which the start's own notice covers. When the time left grows (the
// session was extended), the marks count again from there.
func (r *Reminders) Due(session string, remaining time.Duration) []time.Duration {
	first := session != r.session
	if first {
		r.session, r.prev = session, remaining+time.Second
	}
	if remaining > r.prev+5*time.Second {
		r.prev = remaining // a new end: nothing between the old and the new time left is due
	}
	prev := r.prev
	r.prev = min(r.prev, remaining)
	for i := len(r.schedule) - 1; i >= 0; i-- { // most urgent first
		if at := r.schedule[i]; remaining <= at && at < prev {
			return []time.Duration{at}
		}
	}
	if first || r.every == 0 || prev <= remaining {
		return nil
	}
	// The most urgent multiple of the period passed, when it is above the
	// marks.
	at := (remaining + r.every - 1) / r.every * r.every
	if at > 0 && at < prev && (len(r.schedule) == 0 || at > r.schedule[0]) {
		return []time.Duration{at}
	}
	return nil
}

// Last reports whether at is the last reminder of the schedule.
func (r *Reminders) Last(at time.Duration) bool {
	return len(r.schedule) > 0 && at == r.schedule[len(r.schedule)-1]
}

// Message is one thing to tell the user: a summary for a notification's
// title and a body.
type Message struct {
	Summary string
	Body    string
	// Urgent messages are shown until dismissed, or closed once Over.
	Urgent bool

	kind    string        // what it announces: ending, denied, ended
	left    time.Duration // ending: the time left it spoke of
	subject string        // the session or request it is about (set by the helper)
}

// Over reports whether what m announced no longer holds in st, the user's
// state now: the warning of the end once the session was extended or is
// gone, a denial or a revocation once the user asked again. A message that
// is over is closed rather than left on the screen.
func (m Message) Over(st localapi.Status) bool {
	switch m.kind {
	case "ending":
		remaining := time.Duration(st.RemainingSeconds) * time.Second
		return st.State != "active" || st.SessionID != m.subject || remaining > m.left+5*time.Second
	case "denied":
		return st.State == "pending" || st.State == "active" || st.RequestID != m.subject
	case "ended":
		return st.State == "pending" || (st.State == "active" && st.SessionID != m.subject)
	}
	return false
}

// about names the session or request m is about.
func (m Message) about(id string) Message {
	m.subject = id
	return m
}

// Started announces a session.
func Started(expires time.Time, remaining time.Duration) Message {
	return Message{Summary: "JIT elevated access has started",
		Body: fmt.Sprintf("Programs you run with \"hoist run\" run as root until %s (%s from now).", expires.Local().Format("15:04"), Human(remaining))}
}

// SudoWorks is the line added to Started when sudo and pkexec elevate
// during the session.
const SudoWorks = " sudo and pkexec work too, without a password, until then."

// Reminder says how long is left; the last one says plainly what the end
// does to unsaved work.
func Reminder(left time.Duration, last bool) Message {
	m := Message{Summary: fmt.Sprintf("JIT elevated access ends in %s", Human(left)),
		Body: "Run \"hoist exit\" or use Exit JIT Access when you are done.", kind: "ending", left: left}
	if last {
		m.Body = "Elevated programs will then be closed, and unsaved work in them will be lost. Save your work now."
		m.Urgent = true
	}
	return m
}

// Ended says why a session ended.
func Ended(reason string) Message {
	why := map[string]string{
		string(hoist.EndExpired): "the approved time is over",
		string(hoist.EndExited):  "you ended it",
		string(hoist.EndRevoked): "an administrator revoked it",
	}[reason]
	if why == "" {
		why = reason
	}
	return Message{Summary: "JIT elevated access has ended (" + reason + ")",
		Body: "It ended because " + why + ". Elevated programs have been closed.", Urgent: reason == string(hoist.EndRevoked), kind: "ended"}
}

// Denied says a request was denied, with the approver's reason.
func Denied(reason string) Message {
	m := Message{Summary: "Your request for JIT elevated access was denied", Urgent: true, kind: "denied"}
	if reason != "" {
		m.Body = "Reason: " + reason
	}
	return m
}

// Human writes a duration for people: "1 minute", "4 minutes", "1h30m",
// "45 seconds".
func Human(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d < time.Minute:
		return plural(int(d/time.Second), "second")
	case d < time.Hour && d%time.Minute == 0:
		return plural(int(d/time.Minute), "minute")
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d/time.Minute), int(d%time.Minute/time.Second))
	}
	return hoist.FormatDuration(d.Truncate(time.Minute))
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return fmt.Sprintf("%d %ss", n, unit)
}

// Clock writes time left as a countdown: "1:05:09" or "29:41".
func Clock(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int((d + time.Second - 1) / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s%3600/60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}
