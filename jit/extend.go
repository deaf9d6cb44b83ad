package jit

import (
	"fmt"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/localapi"
)

// "Ask for more time": the terminal's + and the tray's menu item file an
// extension of the active session through hoistd, then the helper follows
// that request until it is decided and says so — in particular when the
// end moved.

// extendAsk is what the user asked for: d more, for reason.
type extendAsk struct {
	d      time.Duration
	reason string
}

// extraDefault is the extra time offered when the user names none: the
// policy's one-time window, as hoistd told the helper.
func extraDefault(info *localapi.HelperInfo) time.Duration {
	if info != nil {
		if d, err := hoist.ParseDuration(info.DefaultDuration); err == nil {
			return d
		}
	}
	return hoist.DefaultOneTimeDuration
}

// extend files a and tells the user what became of it; it returns the id
// of the request to follow ("" when none was filed).
func (h *Helper) extend(a extendAsk, tell func(Message)) string {
	st, err := h.Daemon.Extend(a.d, a.reason)
	if err != nil {
		tell(Message{Summary: "Your request for more time was not sent", Body: "hoist: " + hoist.ErrorMessage(err), kind: "extension"})
		return ""
	}
	tell(ExtensionAsked(a.d, st.RequestID, st.AlreadyPending))
	return st.RequestID
}

// extension follows the extension request *id in st, the user's state
// now, and tells the user once it is decided: approved (with the new
// end), denied, expired or refused. It forgets the request once decided
// or once the session it was for is over.
func (h *Helper) extension(st localapi.Status, id *string, tell func(Message)) {
	switch {
	case *id == "":
		return
	case st.State != "active":
		*id = ""
		return
	case st.RequestID != *id || st.RequestState == "" || st.RequestState == "pending":
		return
	}
	switch st.RequestState {
	case "approved":
		expires, _ := time.Parse(time.RFC3339, deref(st.ExpiresAt))
		tell(ExtensionApproved(expires, time.Duration(st.RemainingSeconds)*time.Second))
	case "denied":
		tell(ExtensionDenied(st.DecisionReason))
	case "expired":
		tell(Message{Summary: "Your request for more time expired", Body: "No approver decided on it in time; the session ends as before.", kind: "extension"})
	default:
		m := Message{Summary: "Your request for more time was not granted (" + st.RequestState + ")", kind: "extension"}
		if st.DecisionReason != "" {
			m.Body = st.DecisionReason
		}
		tell(m)
	}
	*id = ""
}

// ExtensionAsked says an extension was filed (or that one already waits).
func ExtensionAsked(d time.Duration, id string, already bool) Message {
	if already {
		return Message{Summary: "Your request for more time is already waiting for an approver",
			Body: fmt.Sprintf("Request %s; no second request was made.", id), kind: "extension"}
	}
	return Message{Summary: fmt.Sprintf("%s more time requested", Human(d)),
		Body: fmt.Sprintf("Request %s is waiting for an approver; JIT elevated access goes on meanwhile.", id), kind: "extension"}
}

// ExtensionApproved says the end moved.
func ExtensionApproved(expires time.Time, remaining time.Duration) Message {
	return Message{Summary: "More time approved",
		Body: fmt.Sprintf("JIT elevated access now ends at %s (%s from now).", expires.Local().Format("15:04"), Human(remaining)), kind: "extension"}
}

// ExtensionDenied says the extension was denied; the session ends as
// before.
func ExtensionDenied(reason string) Message {
	// Shown until dismissed: it may replace the last reminder's warning.
	m := Message{Summary: "Your request for more time was denied", Body: "JIT elevated access ends as before.", Urgent: true, kind: "extension"}
	if reason != "" {
		m.Body = "Reason: " + reason + ". " + m.Body
	}
	return m
}

// linePrompt is a question typed in the terminal's raw mode, key by key,
// while the helper goes on following the session: first how much more
// time, then why.
type linePrompt struct {
	reason bool // the second question
	buf    []byte
	d      time.Duration
	def    time.Duration
	must   bool // the policy requires a reason
}

// maxAnswer bounds what the user types at one question.
const maxAnswer = 500

func (p *linePrompt) text() string {
	if p.reason {
		if p.must {
			return "Why do you need more time? (required; shown to the approver): " + string(p.buf)
		}
		return "Why do you need more time? (optional; shown to the approver): " + string(p.buf)
	}
	return fmt.Sprintf("How much more time? [%s] (Esc: never mind): %s", hoist.FormatDuration(p.def), p.buf)
}

// key takes one key. It returns the ask once both answers are in, done
// when the prompt is over (answered or cancelled), and a complaint about
// the answer to say before asking again.
func (p *linePrompt) key(k byte) (a *extendAsk, done bool, complaint string) {
	switch {
	case k == 3 || k == 27: // Ctrl-C, Esc
		return nil, true, ""
	case k == 127 || k == 8:
		if len(p.buf) > 0 {
			p.buf = p.buf[:len(p.buf)-1]
		}
	case k == '\r' || k == '\n':
		answer := strings.TrimSpace(string(p.buf))
		p.buf = nil
		if p.reason {
			if answer == "" && p.must {
				return nil, false, "A reason is required for this machine."
			}
			return &extendAsk{d: p.d, reason: answer}, true, ""
		}
		p.d = p.def
		if answer != "" {
			d, err := hoist.ParseDuration(answer)
			if err != nil {
				return nil, false, hoist.ErrorMessage(err)
			}
			p.d = d
		}
		p.reason = true
	case k >= 0x20 && k < 0x7f && len(p.buf) < maxAnswer:
		p.buf = append(p.buf, k)
	}
	return nil, false, ""
}

// askInWindows asks the tray's questions: in windows where there is a
// dialog program, else it asks for the default with no reason, which the
// approver sees as such. The answer goes to out; a cancelled window sends
// nothing.
func askInWindows(dialog *Dialog, info *localapi.HelperInfo, out chan<- extendAsk) {
	def := extraDefault(info)
	if dialog == nil {
		out <- extendAsk{d: def}
		return
	}
	for {
		line, ok := dialog.Ask("How much more time do you need?", hoist.FormatDuration(def))
		if !ok {
			return
		}
		d, err := hoist.ParseDuration(line)
		if err != nil {
			dialog.Tell(hoist.ErrorMessage(err), true)
			continue
		}
		reason, ok := dialog.Ask("Why do you need more time? (shown to the approver)", "")
		if !ok {
			return
		}
		out <- extendAsk{d: d, reason: strings.TrimSpace(reason)}
		return
	}
}
