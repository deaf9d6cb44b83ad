package jit

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"golang.org/x/term"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/localapi"
)

// Daemon is hoistd as the helper sees it.
type Daemon interface {
	// Status returns the user's state with the helper's facts.
	Status() (localapi.Status, error)
	// Request asks for JIT mode.
	Request(d time.Duration, reason string) error
	// Exit ends JIT mode now.
	Exit() error
	// Extend asks for d more on the active session; the status names the
	// request filed (AlreadyPending: the one that already waits).
	Extend(d time.Duration, reason string) (localapi.Status, error)
}

// Helper is one run of "hoist jit".
type Helper struct {
	Daemon  Daemon
	Desktop *Desktop
	In      io.Reader
	Out     io.Writer
	// Quiet is the autostart mode: ask for nothing, only watch, remind
	// and offer the tray's Exit while a session is active; never exit by
	// itself.
	Quiet bool
	// For and Reason answer the questions in advance.
	For    time.Duration
	Reason string
	// Poll is how often hoistd is asked (default 1s).
	Poll time.Duration
	// Dialog, when set, asks the questions in windows and shows a refusal
	// in one: the launcher found no terminal emulator.
	Dialog *Dialog

	last  string  // the last line said, shown in a window on a refusal
	shown Message // the last urgent notification, closed once it is Over
}

// idlePolls is how many polls the quiet helper skips while its user has no
// session and no request: the announcement of a session comes a few
// seconds late, the machine's load stays low.
const idlePolls = 3

// Exit statuses of Run.
const (
	ExitEnded    = 0 // the session ended: expired or exited
	ExitRefused  = 1 // not available, denied, expired undecided, revoked, or an error
	ExitCanceled = 2 // the user left before a session started
)

// Run runs the helper until the session ends (or, in quiet mode, until ctx
// ends) and returns the exit status.
func (h *Helper) Run(ctx context.Context) int {
	if h.Poll <= 0 {
		h.Poll = time.Second
	}
	st, err := h.Daemon.Status()
	if err != nil {
		h.say("hoist: %s", hoist.ErrorMessage(err))
		return ExitRefused
	}
	if h.Quiet {
		if h.Desktop.OnBus() && !h.Desktop.Claim() {
			// A second autostart in one desktop session would say
			// everything twice.
			h.say("Another JIT helper already follows this desktop session.")
			return ExitEnded
		}
		return h.watch(ctx, st)
	}
	// The quiet helper, where it runs, speaks on the desktop for this one.
	h.Desktop.Yield()
	code := h.interact(ctx, st)
	if code == ExitRefused && h.Dialog != nil && h.last != "" {
		h.Dialog.Tell(h.last, true)
	}
	return code
}

// interact asks for JIT mode unless there is a request or a session, and
// follows it to its end.
func (h *Helper) interact(ctx context.Context, st localapi.Status) int {
	switch st.State {
	case "active":
	case "pending":
		h.say("Your request %s is waiting for approval…", st.RequestID)
	default:
		if code, ok := h.ask(st); !ok {
			return code
		}
	}
	return h.follow(ctx)
}

// ask asks for JIT mode, prompting for what the policy wants.
func (h *Helper) ask(st localapi.Status) (int, bool) {
	info := st.Helper
	if info == nil || !info.JIT {
		h.say("hoist: JIT mode is not enabled for this machine; ask your administrator.")
		return ExitRefused, false
	}
	in := bufio.NewReader(h.In)
	d := h.For
	if d == 0 {
		// The default once, in brackets; the choices only where the policy
		// allows no others.
		prompt := fmt.Sprintf("For how long do you need JIT elevated access? [%s]: ", info.DefaultDuration)
		if len(info.Durations) > 0 {
			prompt = fmt.Sprintf("For how long do you need JIT elevated access? [%s] (one of %s): ", info.DefaultDuration, strings.Join(info.Durations, ", "))
		}
		for {
			line, ok := h.question(in, prompt)
			if !ok {
				return ExitCanceled, false
			}
			if line == "" {
				break // the default, which hoistd applies
			}
			var err error
			if d, err = hoist.ParseDuration(line); err == nil {
				if _, err = windowRules(info).CheckWindow(d, ""); err == nil {
					break
				}
			}
			h.say("%s", hoist.ErrorMessage(err))
			if h.Dialog != nil {
				h.Dialog.Tell(h.last, true)
			}
		}
	}
	// A window the machine does not allow is refused before anything else
	// is asked, with hoistd's own words (the rules are the policy's, as
	// hoistd sent them; hoistd checks again).
	if d != 0 {
		if _, err := windowRules(info).CheckWindow(d, ""); err != nil {
			h.say("hoist: %s", hoist.ErrorMessage(err))
			return ExitRefused, false
		}
	}
	// A reason is asked for even where the policy does not require one:
	// an approver decides better with it than before a blank Reason.
	reason := h.Reason
	for reason == "" {
		q := "Why do you need it? (optional; shown to the approver): "
		if info.ReasonRequired {
			q = "Why do you need it? (required; it is shown to the approver): "
		}
		line, ok := h.question(in, q)
		if !ok && info.ReasonRequired {
			return ExitCanceled, false
		}
		if reason = line; !ok || !info.ReasonRequired {
			break // optional: no answer, or no more input, is no reason
		}
	}
	if err := h.Daemon.Request(d, reason); err != nil {
		h.say("hoist: %s", hoist.ErrorMessage(err))
		if hoist.ErrorCode(err) == hoist.EUnavailable {
			h.offerOffline(d, reason) // see offline.go
		}
		return ExitRefused, false
	}
	st, err := h.Daemon.Status()
	switch {
	case err == nil && st.State == "pending":
		h.say("Your request %s was sent; waiting for an administrator to approve it…", st.RequestID)
	case err == nil && st.RequestState == "approved" && st.DecisionReason != "":
		// Approved as it was asked, by a rule of the policy.
		h.say("Your request %s was %s; JIT elevated access starts in a moment…", st.RequestID, st.DecisionReason)
	}
	return 0, true
}

// question asks one question, in a window or on the terminal, and returns
// the answer; ok is false when the user cancelled or the input ended.
func (h *Helper) question(in *bufio.Reader, prompt string) (string, bool) {
	if h.Dialog != nil {
		return h.Dialog.Ask(strings.TrimSuffix(prompt, ": "), "")
	}
	fmt.Fprint(h.Out, prompt)
	line, err := in.ReadString('\n')
	line = strings.TrimSpace(line)
	if line == "" && err != nil {
		fmt.Fprintln(h.Out)
		return "", false
	}
	return line, true
}

// withdraw closes the last urgent notification once what it announced is
// over in st, so that warnings do not pile up on the screen.
func (h *Helper) withdraw(st localapi.Status) {
	if h.shown.Urgent && h.shown.Over(st) {
		h.Desktop.Withdraw()
		h.shown = Message{}
	}
}

// notify shows m on the desktop and remembers it until it is over.
func (h *Helper) notify(m Message) {
	h.Desktop.Notify(m)
	h.shown = m
}

// follow waits for the decision, then counts down until the session ends.
func (h *Helper) follow(ctx context.Context) int {
	keys, restore := h.keys()
	defer restore()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)

	rem := NewReminders(nil, 0)
	session := ""
	live := isTerminal(h.Out)
	tick := time.NewTicker(h.Poll)
	defer tick.Stop()
	confirming := false
	var (
		lostSince time.Time
		prompt    *linePrompt               // "+": the questions of more time, while typed
		extension string                    // the extension request followed
		asked     = make(chan extendAsk, 1) // the tray's questions, answered
		info      *localapi.HelperInfo
	)
	tell := func(m Message) { h.announce(live, m) }
	for {
		st, err := h.Daemon.Status()
		if err != nil {
			// hoistd restarting is not the end: it keeps sessions on disk.
			if lostSince.IsZero() {
				lostSince = time.Now()
			}
			if time.Since(lostSince) > 30*time.Second {
				h.line(live, "hoist: lost hoistd: %s", hoist.ErrorMessage(err))
				return ExitRefused
			}
			select {
			case <-ctx.Done():
				return ExitCanceled
			case <-tick.C:
			}
			continue
		}
		lostSince = time.Time{}
		h.withdraw(st)
		if st.Helper != nil {
			rem = h.schedule(rem, st.Helper)
			info = st.Helper
		}
		switch {
		case st.State == "active":
			remaining := h.active(st, &session, rem, tell)
			h.extension(st, &extension, tell)
			switch {
			case live && prompt != nil:
				fmt.Fprint(h.Out, "\r\x1b[K"+prompt.text())
			case live && !confirming:
				fmt.Fprintf(h.Out, "\r\x1b[K  JIT elevated access: %s left  ·  q or Ctrl-C: end it now  ·  +: ask for more time", Clock(remaining))
			}
		case session != "" && st.State == "ended" && st.SessionID == session && st.Closing:
			// The end has begun; "closed" is said only once they are.
			if live && !confirming {
				fmt.Fprint(h.Out, "\r\x1b[K  JIT elevated access has ended: closing elevated programs…")
			}
		case session != "" && (st.State == "ended" || st.SessionID != session):
			h.Desktop.HideTray()
			h.announce(live, Ended(st.EndReason).about(session))
			if st.EndReason == string(hoist.EndRevoked) {
				return ExitRefused
			}
			return ExitEnded
		case st.RequestState == "denied" || (st.State == "none" && st.RequestState == "denied"):
			h.announce(live, Denied(st.DecisionReason).about(st.RequestID))
			return ExitRefused
		case st.RequestState == "expired":
			h.line(live, "Your request expired before anyone decided on it.")
			return ExitRefused
		case st.RequestState == "cancelled":
			h.line(live, "Your request was withdrawn (hoist request --cancel).")
			return ExitRefused
		case st.State == "none" && st.RequestID == "":
			h.line(live, "There is no JIT request or session for you on this machine.")
			return ExitRefused
		}
		select {
		case <-ctx.Done():
			return ExitCanceled
		case <-tick.C:
		case <-h.Desktop.Extends():
			if session != "" {
				go askInWindows(h.Desktop.asking(), info, asked)
			}
		case a := <-asked:
			if id := h.extend(a, tell); id != "" {
				extension = id
			}
		case k := <-keys:
			switch {
			case prompt != nil:
				a, done, complaint := prompt.key(k)
				if complaint != "" {
					h.line(live, "%s", complaint)
				}
				if done {
					prompt = nil
					fmt.Fprint(h.Out, "\r\x1b[K")
				}
				if a != nil {
					if id := h.extend(*a, tell); id != "" {
						extension = id
					}
				}
				if prompt != nil {
					fmt.Fprint(h.Out, "\r\x1b[K"+prompt.text())
				}
			case k == '+' && session != "" && !confirming:
				prompt = &linePrompt{def: extraDefault(info), must: info != nil && info.ReasonRequired}
				fmt.Fprint(h.Out, "\r\x1b[K"+prompt.text())
			case confirming && (k == 'y' || k == 'Y'):
				confirming = false
				fmt.Fprint(h.Out, "y\r\n")
				if err := h.Daemon.Exit(); err != nil {
					h.line(live, "hoist: %s", hoist.ErrorMessage(err))
				}
			case confirming:
				confirming = false
				fmt.Fprint(h.Out, "\r\nJIT elevated access continues.\r\n")
			case k == 'q' || k == 3: // 3 is Ctrl-C in raw mode
				if session == "" {
					h.line(live, "Stopped waiting; your request stays open (hoist status shows it; hoist request --cancel withdraws it).")
					return ExitCanceled
				}
				confirming = true
				fmt.Fprint(h.Out, "\r\x1b[KEnd JIT elevated access now? Elevated programs will be closed. [y/N] ")
			}
		case <-sigs:
			// Without a terminal to ask on, leave JIT mode as it is.
			h.line(live, "Stopped watching; JIT elevated access stays as it is (hoist exit ends it).")
			return ExitCanceled
		}
	}
}

// watch is the quiet autostart helper: it follows whatever session the
// user has, reminding and showing the tray, until ctx ends.
func (h *Helper) watch(ctx context.Context, st localapi.Status) int {
	rem := NewReminders(nil, 0)
	session, asked := "", "" // the session followed; the request seen waiting
	extension := ""          // the extension request followed
	answers := make(chan extendAsk, 1)
	if st.State == "active" {
		session = st.SessionID // started before this helper: no "started" notice
	}
	for {
		h.withdraw(st)
		if st.Helper != nil {
			rem = h.schedule(rem, st.Helper)
		}
		// Every poll while something is on; a few times slower while nothing
		// is, in every desktop session of the machine.
		wait := h.Poll
		switch {
		case st.State == "active":
			asked = ""
			h.active(st, &session, rem, h.notify)
			h.extension(st, &extension, h.notify)
		case session != "":
			h.Desktop.HideTray()
			h.notify(Ended(st.EndReason).about(session))
			session = ""
		case st.State == "pending":
			asked = st.RequestID
		case asked != "" && st.RequestID == asked && st.RequestState == "denied":
			h.notify(Denied(st.DecisionReason).about(asked))
			asked = ""
		default:
			wait = idlePolls * h.Poll
		}
		select {
		case <-ctx.Done():
			h.Desktop.HideTray()
			return ExitEnded
		case <-time.After(wait):
		case <-h.Desktop.Extends():
			if session != "" {
				go askInWindows(h.Desktop.asking(), st.Helper, answers)
			}
			continue
		case a := <-answers:
			if id := h.extend(a, h.notify); id != "" {
				extension = id
			}
		}
		if next, err := h.Daemon.Status(); err == nil {
			st = next
		} // else hoistd is restarting: keep what was known and ask again
	}
}

// active handles one look at an active session: the start of a new one,
// the reminders that fell due, the tray. It returns the time left.
func (h *Helper) active(st localapi.Status, session *string, rem *Reminders, tell func(Message)) time.Duration {
	remaining := time.Duration(st.RemainingSeconds) * time.Second
	if *session != st.SessionID {
		*session = st.SessionID
		expires, _ := time.Parse(time.RFC3339, deref(st.ExpiresAt))
		m := Started(expires, remaining).about(*session)
		if st.Sudo {
			m.Body += SudoWorks
		}
		if st.Emergency {
			m = EmergencyStarted(m) // see offline.go
		}
		tell(m)
	}
	for _, at := range rem.Due(*session, remaining) {
		tell(Reminder(at, rem.Last(at)).about(*session))
	}
	h.Desktop.ShowTray(remaining)
	return remaining
}

// schedule keeps rem when the schedule is unchanged.
func (h *Helper) schedule(rem *Reminders, info *localapi.HelperInfo) *Reminders {
	var sched []time.Duration
	for _, s := range info.Reminders {
		if d, err := hoist.ParseDuration(s); err == nil {
			sched = append(sched, d)
		}
	}
	every, _ := hoist.ParseDuration(info.ReminderEvery) // "" or garbage: none
	next := NewReminders(sched, every)
	if fmt.Sprint(next.schedule) == fmt.Sprint(rem.schedule) && next.every == rem.every {
		return rem
	}
	next.session, next.prev = rem.session, rem.prev
	return next
}

// announce tells the user m in the terminal and on the desktop.
func (h *Helper) announce(live bool, m Message) {
	text := m.Summary
	if m.Body != "" {
		text += ". " + m.Body
	}
	h.line(live, "%s", text)
	h.notify(m)
}

// line prints a line of its own, above the live countdown.
func (h *Helper) line(live bool, format string, args ...any) {
	if live {
		fmt.Fprint(h.Out, "\r\x1b[K")
	}
	h.last = fmt.Sprintf(format, args...)
	fmt.Fprint(h.Out, h.last)
	if live {
		fmt.Fprint(h.Out, "\r\n")
	} else {
		fmt.Fprintln(h.Out)
	}
}

func (h *Helper) say(format string, args ...any) { h.line(false, format, args...) }

// keys reads single keys from a terminal in raw mode; without a terminal
// no key ever comes.
func (h *Helper) keys() (<-chan byte, func()) {
	ch := make(chan byte, 8)
	f, ok := h.In.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return ch, func() {}
	}
	old, err := term.MakeRaw(int(f.Fd()))
	if err != nil {
		return ch, func() {}
	}
	go func() {
		buf := make([]byte, 1)
		for {
			if n, err := f.Read(buf); err != nil || n == 0 {
				return
			}
			ch <- buf[0]
		}
	}()
	return ch, func() { _ = term.Restore(int(f.Fd()), old) }
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// windowRules are the windows the startup policy allows, as hoistd told
// the helper; what does not read as a duration is left to hoistd.
func windowRules(info *localapi.HelperInfo) *hoist.JITStartup {
	var rules hoist.JITStartup
	if d, err := time.ParseDuration(info.MaxDuration); err == nil {
		rules.MaxDuration = hoist.Duration(d)
	}
	if d, err := time.ParseDuration(info.DefaultDuration); err == nil {
		rules.DefaultDuration = hoist.Duration(d)
	}
	for _, s := range info.Durations {
		if d, err := time.ParseDuration(s); err == nil {
			rules.Durations = append(rules.Durations, hoist.Duration(d))
		}
	}
	return &rules
}
