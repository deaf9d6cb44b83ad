package sink

import (
	"fmt"
	"net/url"

	"github.com/hoist-jit/hoist"
)

// message is an event as people read it in chat and mail.
type message struct {
	Title string
	// Facts are label/value pairs, in order.
	Facts [][2]string
	// Link is the request's console page; never a link that decides
	// anything: deciding needs a console sign-in.
	Link string
}

// summarize renders ev for people.
func (s *Sinks) summarize(ev hoist.IntegrationEvent) message {
	m := eventData(ev)
	user, host := str(m, "user"), str(m, "host")
	var title string
	switch ev.Type {
	case hoist.EventRequestCreated:
		title = fmt.Sprintf("%s asks for administrator rights on %s for %s", user, host, str(m, "requested_duration"))
	case hoist.EventApprovalReminder:
		title = fmt.Sprintf("Reminder: %s has waited %s for administrator rights on %s", user, str(m, "waiting"), host)
	case hoist.EventRequestApproved:
		title = fmt.Sprintf("%s's request on %s was approved by %s for %s", user, host, str(m, "decided_by"), str(m, "duration"))
	case hoist.EventRequestDenied:
		title = fmt.Sprintf("%s's request on %s was denied by %s", user, host, str(m, "decided_by"))
	case hoist.EventRequestCancelled:
		title = fmt.Sprintf("%s cancelled the request on %s", user, host)
	case hoist.EventRequestExpired:
		title = fmt.Sprintf("%s's request on %s expired: nobody decided in time", user, host)
	case hoist.EventSessionStarted:
		title = fmt.Sprintf("%s is administrator on %s until %s", user, host, str(m, "not_after"))
	case hoist.EventSessionEnded:
		title = fmt.Sprintf("%s's session on %s ended (%s)", user, host, str(m, "how"))
	case hoist.EventIntegrationFail:
		title = fmt.Sprintf("Integration %s is failing: %s", str(m, "name"), str(m, "error"))
	case hoist.EventEmergencyCodeUsed:
		title = fmt.Sprintf("ALERT: %s used an emergency code on %s: administrator rights without an approver for %s", user, host, str(m, "duration"))
	case hoist.EventTest:
		title = "A test from Hoist: this integration works"
	default:
		title = fmt.Sprintf("Hoist: %s %s", ev.Type, ev.Subject)
	}
	msg := message{Title: title}
	for _, f := range [][2]string{{"User", "user"}, {"Host", "host"}, {"Reason", "reason"}, {"Asked for", "requested_duration"},
		{"Decided by", "decided_by"}, {"Granted", "duration"}, {"Note", "decision_reason"}, {"Request", "request_id"}} {
		if v := str(m, f[1]); v != "" {
			msg.Facts = append(msg.Facts, [2]string{f[0], v})
		}
	}
	if id := str(m, "request_id"); id != "" && s.cfg.ConsoleURL != "" {
		msg.Link = s.cfg.ConsoleURL + "/requests/" + url.PathEscape(id)
	}
	return msg
}
