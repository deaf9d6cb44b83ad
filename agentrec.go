package hoist

import (
	"slices"
	"strings"
	"time"
)

// AgentIDPrefix marks agent ids.
const AgentIDPrefix = "agt_"

// AgentRecord is an enrolled machine as the server knows it.
type AgentRecord struct {
	ID         string    `json:"id"`
	Hostname   string    `json:"hostname"`
	Version    string    `json:"version"`
	OS         string    `json:"os"`
	Kernel     string    `json:"kernel"`
	Group      string    `json:"group,omitempty"`
	EnrolledAt time.Time `json:"enrolled_at"`
	LastSeen   time.Time `json:"last_seen"`
	Revoked    bool      `json:"revoked"`
	// Revision is the policy bundle the agent last confirmed it holds.
	Revision string `json:"revision,omitempty"`
	// Skipped lists the policies the agent reported it could not process.
	Skipped []SkippedPolicy `json:"skipped,omitempty"`
	// AuditSeq is the highest number of the agent's audit events (their
	// outbox sequence) up to which every one arrived or was reported
	// missing (alert.agent_audit_gap).
	AuditSeq int64 `json:"audit_seq,omitempty"`
	// PinnedName is the name an admin gave the machine. When set it is the
	// agent's name everywhere — requests and sessions shown to approvers,
	// computer-group hostname rules — and Hostname is only what the agent
	// claims, shown beside it. Pinned names are unique among agents not
	// revoked.
	PinnedName string `json:"pinned_name,omitempty"`
	// PinnedBy is the admin who pinned the name.
	PinnedBy string `json:"pinned_by,omitempty"`
	// PreviousHostnames are the hostnames the agent reported before, the
	// latest first, at most MaxPreviousHostnames of them.
	PreviousHostnames []PreviousHostname `json:"previous_hostnames,omitempty"`
	// NameTakenBy is the id of the live agent whose pinned name this
	// agent, unpinned, reports as its hostname; empty when none. Such an
	// agent does not go by that name (see Name) and matches no hostname
	// rule: a pinned name is reserved for the agent it was pinned on.
	NameTakenBy string `json:"name_taken_by,omitempty"`
}

// PreviousHostname is a hostname an agent reported until Until.
type PreviousHostname struct {
	Hostname string    `json:"hostname"`
	Until    time.Time `json:"until"`
}

// MaxPreviousHostnames bounds AgentRecord.PreviousHostnames.
const MaxPreviousHostnames = 5

// Name is the name the agent goes by: its pinned name when an admin pinned
// one, else the hostname it reports.
//
// An unpinned agent that reports another live agent's pinned name
// (NameTakenBy) goes by "HOSTNAME (unverified, agt_…)" instead, a name no
// agent can pin nor a hostname rule mean.
func (a AgentRecord) Name() string {
	if a.PinnedName != "" {
		return a.PinnedName
	}
	if a.NameUnverified() {
		h := a.Hostname
		if len(h) > 200 {
			h = h[:200]
		}
		return h + " (unverified, " + a.ID + ")"
	}
	return a.Hostname
}

// NameUnverified reports whether the agent reports, unpinned, a name
// pinned on another live agent (NameTakenBy).
func (a AgentRecord) NameUnverified() bool { return a.PinnedName == "" && a.NameTakenBy != "" }

// PinHolder returns the id of the agent among agents, live and other
// than a, whose pinned name is a's reported hostname; "" when none.
func (a AgentRecord) PinHolder(agents []AgentRecord) string {
	for _, o := range agents {
		if o.ID != a.ID && !o.Revoked && o.PinnedName != "" && SameAgentName(o.PinnedName, a.Hostname) {
			return o.ID
		}
	}
	return ""
}

// HostnameMismatch reports whether the agent's name is pinned and the
// hostname it reports is another one.
func (a AgentRecord) HostnameMismatch() bool {
	return a.PinnedName != "" && nameKey(a.PinnedName) != nameKey(a.Hostname)
}

// NoteHostname records h as the hostname the agent reports from now on. It
// returns the hostname it replaced and whether it changed, keeping the old
// one in PreviousHostnames.
func (a *AgentRecord) NoteHostname(h string, now time.Time) (old string, changed bool) {
	old = a.Hostname
	if h == old {
		return old, false
	}
	a.Hostname = h
	if old != "" {
		prev := append([]PreviousHostname{{Hostname: old, Until: now}}, a.PreviousHostnames...)
		a.PreviousHostnames = prev[:min(len(prev), MaxPreviousHostnames)]
	}
	return old, true
}

// MaxAgentName is the longest name an admin may pin: a hostname's limit.
const MaxAgentName = 253

// CheckAgentName validates a name to pin: 1 to 253 letters, digits, '-'
// and '.', as hostnames are, starting and ending with a letter or digit.
// The error names the field "name".
func CheckAgentName(s string) error {
	bad := func(why string) error {
		return FieldErrors{"name": why}.err("the agent's name")
	}
	if s == "" {
		return bad("required")
	}
	if len(s) > MaxAgentName {
		return bad("at most 253 characters")
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return bad("only letters, digits, '-' and '.', as in a hostname")
		}
	}
	if !alnum(s[0]) || !alnum(s[len(s)-1]) {
		return bad("must start and end with a letter or digit")
	}
	return nil
}

func alnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' }

// nameKey is the form in which two names are the same name: hostnames are
// case-insensitive, "web-1." is "web-1", and "web-1 " looks like it.
func nameKey(s string) string {
	return strings.ToLower(strings.TrimSuffix(strings.TrimSpace(s), "."))
}

// SameAgentName reports whether a and b name the same machine as far as
// hostnames go: equal but for case and a trailing dot.
func SameAgentName(a, b string) bool { return nameKey(a) == nameKey(b) }

// AgentName is how an agent is named to approvers, with the warnings that
// go with the name.
type AgentName struct {
	// Name is what the agent goes by (AgentRecord.Name); Hostname is what
	// it reports.
	Name, Hostname string
	Pinned         bool
	// Mismatch: the name is pinned and the reported hostname differs.
	Mismatch bool
	// Shared is the name (pinned or reported) this agent has in common
	// with the agents SharedWith, which are not revoked; empty when none.
	Shared     string
	SharedWith []string
}

// Duplicate reports whether another agent goes by, or claims, one of this
// agent's names.
func (n AgentName) Duplicate() bool { return len(n.SharedWith) > 0 }

// AgentNames are the names of agents, by agent id.
type AgentNames map[string]AgentName

// NameAgents works out every agent's name and who else claims it. An
// agent's names are its pinned name and its reported hostname; two agents
// not revoked that have a name in common (SameAgentName) are each flagged.
// Revoked agents are named but neither flagged nor flag others: their
// machine may have enrolled again as a new agent.
func NameAgents(agents []AgentRecord) AgentNames {
	holders := map[string][]string{} // name key -> ids of live agents with it
	for _, a := range agents {
		if a.Revoked {
			continue
		}
		for _, k := range agentNameKeys(a) {
			holders[k] = append(holders[k], a.ID)
		}
	}
	out := make(AgentNames, len(agents))
	for _, a := range agents {
		n := AgentName{Name: a.Name(), Hostname: a.Hostname, Pinned: a.PinnedName != "", Mismatch: a.HostnameMismatch()}
		if !a.Revoked {
			for _, k := range agentNameKeys(a) {
				for _, id := range holders[k] {
					if id != a.ID && !slices.Contains(n.SharedWith, id) {
						n.SharedWith = append(n.SharedWith, id)
						if n.Shared == "" {
							n.Shared = spelled(a, k)
						}
					}
				}
			}
			slices.Sort(n.SharedWith)
		}
		out[a.ID] = n
	}
	return out
}

// agentNameKeys are the distinct keys of a's names, the name it goes by
// first.
func agentNameKeys(a AgentRecord) []string {
	keys := []string{nameKey(a.Name())}
	if k := nameKey(a.Hostname); k != keys[0] {
		keys = append(keys, k)
	}
	return keys
}

// spelled is a's own spelling of the name whose key is k.
func spelled(a AgentRecord, k string) string {
	if nameKey(a.Name()) == k {
		return a.Name()
	}
	return a.Hostname
}

// EnrollToken is a one-time (or few-times) secret that lets a machine enrol.
// Only its hash is stored.
type EnrollToken struct {
	Hash      string    `json:"-"`
	Group     string    `json:"group,omitempty"`
	CreatedBy string    `json:"created_by"`
	CreatedAt time.Time `json:"created_at"`
	ExpiresAt time.Time `json:"expires_at"`
	UsesLeft  int       `json:"uses_left"`
}

// Usable reports whether the token can still pay for an enrolment at now:
// a use left and not expired. Only the store's spend decides a race for
// the last use (hoist.Tx.SpendEnrollToken); this check refuses early.
func (t EnrollToken) Usable(now time.Time) bool {
	return t.UsesLeft > 0 && now.Before(t.ExpiresAt)
}

// AgentEvent is something an agent must hear about: a decision on one of its
// requests, or a revoke. Seq orders them per server, so that an agent
// resumes from the last one it saw and misses nothing.
type AgentEvent struct {
	Seq       int64     `json:"seq"`
	AgentID   string    `json:"-"`
	Kind      string    `json:"kind"` // approved, denied, revoked, expired
	RequestID string    `json:"request_id,omitempty"`
	SessionID string    `json:"session_id,omitempty"`
	User      string    `json:"user,omitempty"`
	Grant     string    `json:"grant,omitempty"`
	Reason    string    `json:"reason,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// AllAgents addresses an agent event to every agent.
const AllAgents = "*"

// Agent event kinds.
const (
	// AgentEventPolicy tells agents that policies or configuration changed:
	// check in for the new bundle.
	AgentEventPolicy   = "policy"
	AgentEventApproved = "approved"
	AgentEventDenied   = "denied"
	AgentEventRevoked  = "revoked"
	AgentEventExpired  = "expired"
	// AgentEventExtended carries the new grant of a session whose
	// extension was approved: the same session, a later end. Agents that
	// do not know it skip it, and their session ends at the old end.
	AgentEventExtended = "extended"
)
