package hoist

import (
	"encoding/json"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// An integration is a sink outside Hoist that receives its events: a
// webhook, a chat channel, a mailbox, a SIEM. The server delivers to it
// through one durable engine: events are written to an outbox in the
// transaction of the change they report, then delivered at least once, in
// order, each under a stable delivery id.
//
// Approver sinks (webhook, Slack, Teams, SMTP) receive the event types they
// are routed; SIEM sinks (syslog, HEC) receive every audit record, by audit
// sequence, resuming after an outage where they stopped.

// IntegrationIDPrefix begins every integration id.
const IntegrationIDPrefix = "int_"

// DeliveryIDPrefix begins every delivery id.
const DeliveryIDPrefix = "dlv_"

// SinkKind is how an integration delivers.
type SinkKind string

// The sink kinds.
const (
	SinkWebhook SinkKind = "webhook"
	SinkSlack   SinkKind = "slack"
	SinkTeams   SinkKind = "teams"
	SinkSMTP    SinkKind = "smtp"
	SinkSyslog  SinkKind = "syslog"
	SinkHEC     SinkKind = "hec"
)

// SinkKinds lists the kinds, in the order the docs give them.
var SinkKinds = []SinkKind{SinkWebhook, SinkSlack, SinkTeams, SinkSMTP, SinkSyslog, SinkHEC}

// SIEM reports whether the kind receives the whole audit log rather than
// routed events.
func (k SinkKind) SIEM() bool { return k == SinkSyslog || k == SinkHEC }

// The event types an approver sink may be routed.
const (
	EventRequestCreated   = "request.created"
	EventRequestApproved  = "request.approved"
	EventRequestDenied    = "request.denied"
	EventRequestCancelled = "request.cancelled"
	EventRequestExpired   = "request.expired"
	EventApprovalReminder = "approval.reminder"
	EventSessionStarted   = "session.started"
	EventSessionEnded     = "session.ended"
	EventSessionExtended  = "session.extended"
	EventAgentEnrolled    = "agent.enrolled"
	EventAgentRevoked     = "agent.revoked"
	EventPolicyChanged    = "policy.changed"
	EventIntegrationFail  = "integration.failed"
	EventTest             = "integration.test"
	// EventEmergencyCodeUsed: an agent reported that an emergency code
	// started a session (an alert: no approver saw it).
	EventEmergencyCodeUsed = "emergency_code.used"
)

// EventTypes lists the event types, as `--events` takes them.
var EventTypes = []string{
	EventRequestCreated, EventRequestApproved, EventRequestDenied, EventRequestCancelled,
	EventRequestExpired, EventApprovalReminder, EventSessionStarted, EventSessionEnded,
	EventSessionExtended, EventAgentEnrolled, EventAgentRevoked, EventPolicyChanged,
	EventIntegrationFail, EventEmergencyCodeUsed,
}

// DefaultEvents is what an approver sink receives when no --events is given:
// what an approver acts on or wants to know was acted on.
var DefaultEvents = []string{
	EventRequestCreated, EventRequestApproved, EventRequestDenied, EventRequestCancelled,
	EventRequestExpired, EventApprovalReminder, EventEmergencyCodeUsed,
}

// EventOfAudit returns the event type that an audit action reports, and
// false for actions that are no event of their own (SIEM sinks still receive
// them as audit records).
func EventOfAudit(action string) (string, bool) {
	switch action {
	case EventRequestCreated, EventRequestApproved, EventRequestDenied, EventRequestCancelled,
		EventRequestExpired, EventApprovalReminder, EventSessionStarted, EventSessionEnded,
		EventSessionExtended, EventAgentEnrolled, EventAgentRevoked, EventIntegrationFail, EventEmergencyCodeUsed:
		return action, true
	}
	if strings.HasPrefix(action, "policy.") || strings.HasPrefix(action, "group.") {
		return EventPolicyChanged, true
	}
	return "", false
}

// SinkConfig is how an integration reaches its sink. Which fields apply
// depends on the kind; Validate says which are required. Secret and
// SigningSecret are never shown back: stores keep them sealed (see
// control's secret box) and API views leave them out.
type SinkConfig struct {
	// URL is where an HTTP sink posts: the webhook, the Slack or Teams
	// incoming webhook, the HEC endpoint.
	URL string `json:"url,omitempty"`
	// Secret is the webhook's HMAC key, the Slack bot token, the SMTP
	// password or the HEC token.
	Secret string `json:"secret,omitempty"`
	// SigningSecret verifies Slack's interactive callbacks; with it, Slack
	// messages carry Approve / One Time / Deny buttons.
	SigningSecret string `json:"signing_secret,omitempty"`
	// SlackUsers maps Slack user ids to Hoist accounts: who may decide from
	// Slack, as whom. A Slack user not listed decides nothing.
	SlackUsers map[string]string `json:"slack_users,omitempty"`
	// CA is a PEM bundle trusted for this sink instead of the system's.
	CA string `json:"ca,omitempty"`
	// AllowHTTP permits a plain-http URL.
	AllowHTTP bool `json:"allow_http,omitempty"`
	// Channel is the Slack channel of chat.postMessage.
	Channel string `json:"channel,omitempty"`
	// Server is the SMTP server, host:port.
	Server string `json:"server,omitempty"`
	// Security is the SMTP connection: "tls" (implicit), "starttls" or
	// "plain" (only with --insecure-plain).
	Security string   `json:"security,omitempty"`
	Username string   `json:"username,omitempty"`
	From     string   `json:"from,omitempty"`
	To       []string `json:"to,omitempty"`
	// Address is the syslog receiver, tcp://, tls:// or udp://HOST:PORT.
	Address string `json:"address,omitempty"`
	// Format is the syslog message body: "rfc5424" (structured data) or
	// "json".
	Format string `json:"format,omitempty"`
}

// Integration is a configured sink and where its delivery stands.
type Integration struct {
	ID     string     `json:"id"`
	Name   string     `json:"name"`
	Kind   SinkKind   `json:"kind"`
	Config SinkConfig `json:"config"`
	// Events are the event types routed to an approver sink.
	Events []string `json:"events,omitempty"`
	// Group, when set, routes only events of that computer group's machines.
	Group     string    `json:"group,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
	Version   int       `json:"version"`

	// EventCursor is the last event sequence fanned out to deliveries.
	EventCursor int64 `json:"event_cursor"`
	// AuditCursor is, for a SIEM sink, the last audit sequence delivered.
	AuditCursor int64 `json:"audit_cursor"`
	// LeaseUntil and LeaseToken: one server is delivering until then.
	LeaseUntil time.Time `json:"lease_until,omitzero"`
	LeaseToken string    `json:"lease_token,omitempty"`
	// Failures counts consecutive failed attempts; the breaker opens at
	// BreakerThreshold.
	Failures     int       `json:"failures"`
	RetryAt      time.Time `json:"retry_at,omitzero"`
	BreakerUntil time.Time `json:"breaker_until,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
	LastOK       time.Time `json:"last_ok,omitzero"`
}

// DeliveryState is where one delivery stands.
type DeliveryState string

// The delivery states.
const (
	DeliveryPending   DeliveryState = "pending"
	DeliveryDelivered DeliveryState = "delivered"
	DeliveryDead      DeliveryState = "dead"
)

// IntegrationEvent is one entry of the outbox: an event, numbered by the
// audit record it was written with, so that outbox order is commit order.
type IntegrationEvent struct {
	Seq     int64           `json:"seq"`
	Type    string          `json:"type"`
	At      time.Time       `json:"at"`
	Subject string          `json:"subject"`
	Group   string          `json:"group,omitempty"`
	Data    json.RawMessage `json:"data"`
}

// Delivery is one event on its way to one approver sink. Its ID is what the
// receiver sees on every attempt.
type Delivery struct {
	ID            string           `json:"id"`
	IntegrationID string           `json:"integration_id"`
	Event         IntegrationEvent `json:"event"`
	State         DeliveryState    `json:"state"`
	Attempts      int              `json:"attempts"`
	NextAt        time.Time        `json:"next_at"`
	LastError     string           `json:"last_error,omitempty"`
	UpdatedAt     time.Time        `json:"updated_at"`
}

// DeliveryFilter selects deliveries; zero fields match everything.
type DeliveryFilter struct {
	IntegrationID string
	State         DeliveryState
	Limit         int
}

// Delivery tuning.
const (
	// MaxAttempts is how often a delivery is tried before it is a dead
	// letter.
	MaxAttempts = 12
	// BreakerThreshold consecutive failures open a sink's breaker.
	BreakerThreshold = 5
	// BreakerCooldown is how long an open breaker waits before one trial.
	BreakerCooldown = time.Minute
	backoffBase     = time.Second
	backoffCap      = 10 * time.Minute
)

// Backoff is the wait after the attempt-th failure (1, 2, …): doubling from
// one second up to ten minutes, scaled by jitter in [0,1) to between half
// and the full wait, so that sinks failing together do not retry together.
func Backoff(attempt int, jitter float64) time.Duration {
	d := backoffCap
	if attempt < 30 {
		d = min(backoffCap, backoffBase*time.Duration(math.Pow(2, float64(max(attempt, 1)-1))))
	}
	jitter = min(max(jitter, 0), 1)
	return d/2 + time.Duration(float64(d/2)*jitter)
}

// Failed records a failed attempt at now: the sink's breaker opens after
// BreakerThreshold failures in a row. It returns whether this failure opened
// it.
func (i *Integration) Failed(now time.Time, msg string) (opened bool) {
	i.Failures++
	i.LastError = msg
	if i.Failures == BreakerThreshold {
		i.BreakerUntil = now.Add(BreakerCooldown)
		return true
	}
	if i.Failures > BreakerThreshold {
		i.BreakerUntil = now.Add(BreakerCooldown)
	}
	return false
}

// Succeeded records a delivered attempt and closes the breaker.
func (i *Integration) Succeeded(now time.Time) {
	i.Failures, i.LastError, i.BreakerUntil, i.RetryAt, i.LastOK = 0, "", time.Time{}, time.Time{}, now
}

// Open reports whether the breaker holds deliveries back at now.
func (i Integration) Open(now time.Time) bool { return now.Before(i.BreakerUntil) }

// Routes reports whether ev goes to this approver sink: its type is among
// Events and, when Group is set, it concerns a machine of that group.
func (i Integration) Routes(ev IntegrationEvent) bool {
	if i.Kind.SIEM() {
		return false
	}
	if !slices.Contains(i.Events, ev.Type) {
		return false
	}
	return i.Group == "" || i.Group == ev.Group
}

// The expressions are compiled on first use, not at start-up: every hoist
// and hoistd links this package, and compiling them cost each start a
// third of a millisecond.
var integrationName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`) })

// Validate checks the integration's name, kind, routing and the fields its
// kind needs. It parses and checks addresses, but reaches nothing: whether a
// URL points at the server itself is the caller's check.
func (i Integration) Validate() error {
	if !integrationName().MatchString(i.Name) {
		return FieldErrorf("name", "%q is not a name (letters, digits, '.', '_' or '-', at most 64)", i.Name)
	}
	if !slices.Contains(SinkKinds, i.Kind) {
		return FieldErrorf("kind", "%q is not one of webhook, slack, teams, smtp, syslog, hec", i.Kind)
	}
	for _, e := range i.Events {
		if !slices.Contains(EventTypes, e) {
			return FieldErrorf("events", "%q is not an event type (%s)", e, strings.Join(EventTypes, ", "))
		}
	}
	if i.Kind.SIEM() && (len(i.Events) > 0 || i.Group != "") {
		return FieldErrorf("events", "a %s sink receives every audit record; it takes no --events or --group", i.Kind)
	}
	return i.Config.validate(i.Kind)
}

func (c SinkConfig) validate(k SinkKind) error {
	switch k {
	case SinkWebhook:
		if c.Secret == "" {
			return FieldErrorf("secret", "a webhook needs a secret (--secret-file)")
		}
		return c.checkURL("url")
	case SinkTeams:
		return c.checkURL("url")
	case SinkSlack:
		if len(c.SlackUsers) > 200 {
			return FieldErrorf("slack_users", "at most 200 mapped users")
		}
		for id, account := range c.SlackUsers {
			if !slackUserID().MatchString(id) || account == "" || len(account) > 100 {
				return FieldErrorf("slack_users", "%q=%q is not SLACK_USER_ID=ACCOUNT (ids look like U0123ABCD)", id, account)
			}
		}
		if len(c.SlackUsers) > 0 && c.SigningSecret == "" {
			return FieldErrorf("slack_users", "deciding from Slack needs --signing-secret-file, to check that actions come from Slack")
		}
		if (c.URL == "") == (c.Secret == "") {
			return FieldErrorf("url", "a Slack sink takes either --webhook-url or --token-file with --channel")
		}
		if c.URL != "" {
			return c.checkURL("url")
		}
		if c.Channel == "" {
			return FieldErrorf("channel", "chat.postMessage needs --channel")
		}
		return nil
	case SinkHEC:
		if c.Secret == "" {
			return FieldErrorf("token", "an HEC sink needs a token (--token-file)")
		}
		return c.checkURL("url")
	case SinkSMTP:
		return c.validateSMTP()
	case SinkSyslog:
		return c.validateSyslog()
	}
	return nil
}

// checkURL: an absolute http(s) URL, https unless AllowHTTP, no userinfo
// (credentials belong in secret files, not in a URL shown back).
func (c SinkConfig) checkURL(field string) error {
	u, err := url.Parse(c.URL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return FieldErrorf(field, "%q is not an http(s) URL", c.URL)
	}
	if u.Scheme == "http" && !c.AllowHTTP {
		return FieldErrorf(field, "%q is plain http; use https, or --allow-http to send in the clear", c.URL)
	}
	if u.User != nil {
		return FieldErrorf(field, "a URL with a user name or password is refused; put secrets in a file")
	}
	return nil
}

func (c SinkConfig) validateSMTP() error {
	if _, port, ok := strings.Cut(c.Server, ":"); !ok || port == "" || strings.HasPrefix(c.Server, ":") {
		return FieldErrorf("server", "%q is not HOST:PORT", c.Server)
	}
	if !slices.Contains([]string{"tls", "starttls", "plain"}, c.Security) {
		return FieldErrorf("security", "%q is not tls, starttls or plain", c.Security)
	}
	if c.Security == "plain" && c.Secret != "" {
		return FieldErrorf("security", "a password is never sent over a plain connection; use --tls or --starttls")
	}
	if (c.Username == "") != (c.Secret == "") {
		return FieldErrorf("username", "--username and --password-file go together")
	}
	if !mailAddress(c.From) {
		return FieldErrorf("from", "%q is not an e-mail address", c.From)
	}
	if len(c.To) == 0 || len(c.To) > 50 {
		return FieldErrorf("to", "give 1 to 50 addresses")
	}
	for _, a := range c.To {
		if !mailAddress(a) {
			return FieldErrorf("to", "%q is not an e-mail address", a)
		}
	}
	return nil
}

var slackUserID = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[UW][A-Z0-9]{2,20}$`) })

var mailRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[^\s@<>,;"]+@[A-Za-z0-9.-]+$`) })

func mailAddress(s string) bool { return len(s) <= 254 && mailRe().MatchString(s) }

func (c SinkConfig) validateSyslog() error {
	u, err := url.Parse(c.Address)
	if err != nil || u.Port() == "" || u.Hostname() == "" || u.Path != "" || !slices.Contains([]string{"tcp", "tls", "udp"}, u.Scheme) {
		return FieldErrorf("address", "%q is not tcp://, tls:// or udp://HOST:PORT", c.Address)
	}
	if c.Format != "" && c.Format != "rfc5424" && c.Format != "json" {
		return FieldErrorf("format", "%q is not rfc5424 or json", c.Format)
	}
	return nil
}

// FieldErrorf is an EInvalid error about one field of the input: its
// message starts with the field's name, and Fields names it for a form.
func FieldErrorf(field, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	return &Error{Code: EInvalid, Message: field + ": " + msg, Fields: map[string]string{field: msg}}
}
