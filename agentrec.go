package hoist

import "time"

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
)
