// Package wire holds the JSON shapes of the control server's two APIs, for
// the server and its clients alike: the admin API (this file) and the agent
// protocol hoistd speaks (agent.go). It imports nothing but the domain and
// the standard library, so that the hoist command stays small and starts
// fast, and so that the root daemon links none of the server.
package wire

import (
	"time"

	"github.com/hoist-jit/hoist"
)

// RequestView is a request as the API shows it.
type RequestView struct {
	ID   string `json:"id"`
	User string `json:"user"`
	// RequesterAccount is the console account User belongs to, when one
	// lists it among its Unix names or has its name.
	RequesterAccount  string             `json:"requester_account,omitempty"`
	Host              string             `json:"host"`
	Reason            string             `json:"reason"`
	State             hoist.RequestState `json:"state"`
	RequestedDuration string             `json:"requested_duration"`
	RequestedSeconds  int64              `json:"requested_seconds"`
	CreatedAt         time.Time          `json:"created_at"`
	ExpiresAt         time.Time          `json:"expires_at"`
	DecidedBy         string             `json:"decided_by,omitempty"`
	DecisionReason    string             `json:"decision_reason,omitempty"`
	GrantedDuration   string             `json:"granted_duration,omitempty"`
	OneTime           bool               `json:"one_time,omitempty"`
	SessionID         string             `json:"session_id,omitempty"`
	History           []hoist.Transition `json:"history"`
	// Kind is jit or extension; an extension names the session it is for
	// and that session's end when it was asked.
	Kind       hoist.RequestKind `json:"kind"`
	Extends    string            `json:"extends,omitempty"`
	SessionEnd *time.Time        `json:"session_end,omitempty"`
	// ApprovalsRequired distinct approvers must approve; Approvals are
	// those who have, with the window each gave.
	ApprovalsRequired int            `json:"approvals_required"`
	Approvals         []ApprovalView `json:"approvals"`
	AgentNameFlags
}

// ApprovalView is one approver's approval of a request.
type ApprovalView struct {
	By       string    `json:"by"`
	At       time.Time `json:"at"`
	Duration string    `json:"duration"`
	OneTime  bool      `json:"one_time,omitempty"`
}

// SessionView is a session as the API shows it, with the time left at the
// moment of the answer.
type SessionView struct {
	ID               string             `json:"id"`
	RequestID        string             `json:"request_id"`
	User             string             `json:"user"`
	Host             string             `json:"host"`
	ApprovedBy       string             `json:"approved_by"`
	State            hoist.SessionState `json:"state"`
	StartedAt        time.Time          `json:"started_at"`
	ExpiresAt        time.Time          `json:"expires_at"`
	RemainingSeconds int64              `json:"remaining_seconds"`
	EndedAt          *time.Time         `json:"ended_at,omitempty"`
	EndReason        hoist.EndReason    `json:"end_reason,omitempty"`
	History          []hoist.Transition `json:"history"`
	AgentNameFlags
}

// UserView is an account as the API shows it; never its password hash.
type UserView struct {
	Name      string     `json:"name"`
	Role      hoist.Role `json:"role"`
	Disabled  bool       `json:"disabled"`
	CreatedAt time.Time  `json:"created_at"`
	// UnixNames and ApproverGroups: see hoist.Admin.
	UnixNames      []string `json:"unix_names"`
	ApproverGroups []string `json:"approver_groups"`
}

// ResultView is the outcome for one id of a batch.
type ResultView struct {
	ID      string       `json:"id"`
	OK      bool         `json:"ok"`
	Code    string       `json:"code,omitempty"`
	Error   string       `json:"error,omitempty"`
	Request *RequestView `json:"request,omitempty"`
	Session *SessionView `json:"session,omitempty"`
}

// SettingsView shows the approval settings in force.
type SettingsView struct {
	OneTimeDuration string `json:"one_time_duration"`
	MaxDuration     string `json:"max_duration"`
	PendingTTL      string `json:"pending_ttl"`
	ReasonRequired  bool   `json:"reason_required"`
	ReasonPattern   string `json:"reason_pattern,omitempty"`
}

// ErrorBody is the JSON of every error answer.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail carries the code clients switch on and a message for people.
type ErrorDetail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	// Fields names what is wrong with each bad field of the input.
	Fields map[string]string `json:"fields,omitempty"`
}

// DuplicateBody is the body of POST /api/v1/policies/{key}/duplicate.
type DuplicateBody struct {
	// Name of the copy; "<name> (copy)" when empty.
	Name string `json:"name,omitempty"`
	// Groups the copy targets; the original's when empty.
	Groups []string `json:"groups,omitempty"`
}

// LoginBody is the body of POST /api/v1/login.
type LoginBody struct {
	User     string `json:"user"`
	Password string `json:"password"`
	// Device is the device token of this client's last sign-in to the
	// account, if it kept one (see LoginAnswer.Device).
	Device string `json:"device,omitempty"`
}

// ApproveBody is the body of POST /api/v1/requests/approve: For a duration,
// or One Time.
type ApproveBody struct {
	IDs      []string `json:"ids"`
	Duration string   `json:"duration,omitempty"`
	Once     bool     `json:"once,omitempty"`
	Reason   string   `json:"reason,omitempty"`
}

// BatchBody is the body of deny and revoke.
type BatchBody struct {
	IDs    []string `json:"ids"`
	Reason string   `json:"reason,omitempty"`
}

// UserBody is the body that creates (POST) or changes (PATCH) an account.
type UserBody struct {
	Name     string `json:"name,omitempty"`
	Role     string `json:"role,omitempty"`
	Password string `json:"password,omitempty"`
	Disabled *bool  `json:"disabled,omitempty"`
	// UnixNames and ApproverGroups replace the account's lists when given;
	// [] clears one.
	UnixNames      *[]string `json:"unix_names,omitempty"`
	ApproverGroups *[]string `json:"approver_groups,omitempty"`
}

// LoginAnswer is the answer to a successful login.
type LoginAnswer struct {
	Token     string    `json:"token"`
	ExpiresAt time.Time `json:"expires_at"`
	User      UserView  `json:"user"`
	// Device is a device token to keep and send with the next sign-in: it
	// keeps this client's sign-ins from being throttled by others' failures
	// from the same address. It is no credential.
	Device string `json:"device,omitempty"`
}

// EnrollTokenBody is the body of POST /api/v1/enroll-tokens.
type EnrollTokenBody struct {
	Group string `json:"group,omitempty"`
	TTL   string `json:"ttl,omitempty"`  // default 24h
	Uses  int    `json:"uses,omitempty"` // default 1
}

// EnrollTokenAnswer carries a new token, shown once.
type EnrollTokenAnswer struct {
	Token     string    `json:"token"`
	Group     string    `json:"group,omitempty"`
	Uses      int       `json:"uses"`
	ExpiresAt time.Time `json:"expires_at"`
}

// AgentView is an agent as administrators see it: its record, its groups,
// and what version gating holds back from it.
type AgentView struct {
	hoist.AgentRecord
	Groups   []string         `json:"groups"`
	HeldBack []hoist.HeldBack `json:"held_back"`
	// Current is true when the agent holds its latest bundle.
	Current bool `json:"current"`
	// Name is the agent's name: its pinned name, else the hostname it
	// reports.
	Name string `json:"name"`
	// DuplicateHostname: another agent not revoked goes by or reports one
	// of this agent's names; DuplicateOf lists those agents' ids.
	DuplicateHostname bool     `json:"duplicate_hostname"`
	DuplicateOf       []string `json:"duplicate_of,omitempty"`
	// HostnameMismatch: the name is pinned and the agent reports another
	// hostname.
	HostnameMismatch bool `json:"hostname_mismatch"`
	// Connected: the agent holds a long poll on the server that answered
	// (it hears decisions at once). A server knows only its own: with
	// several replicas, one connected elsewhere shows only LastSeen.
	Connected bool `json:"connected,omitempty"`
}

// AgentNameFlags are what a request or session shows about the agent that
// filed it, as the agent stands now: its id, the hostname it reports when
// that is not the name shown, and the warnings about its name.
type AgentNameFlags struct {
	AgentID string `json:"agent_id,omitempty"`
	// ReportedHostname is the hostname the agent reports now, when it is
	// not the host shown (the agent's name was pinned, or it changed).
	ReportedHostname  string   `json:"reported_hostname,omitempty"`
	DuplicateHostname bool     `json:"duplicate_hostname,omitempty"`
	DuplicateOf       []string `json:"duplicate_of,omitempty"`
	HostnameMismatch  bool     `json:"hostname_mismatch,omitempty"`
}

// NameFlags are the flags of the agent id named n.
func NameFlags(id, host string, n hoist.AgentName) AgentNameFlags {
	f := AgentNameFlags{AgentID: id, DuplicateHostname: n.Duplicate(), DuplicateOf: n.SharedWith, HostnameMismatch: n.Mismatch}
	if n.Hostname != "" && n.Hostname != host {
		f.ReportedHostname = n.Hostname
	}
	return f
}

// PinBody is the body of PUT /api/v1/agents/{id}/name.
type PinBody struct {
	Name string `json:"name"`
}

// SessionPage is one session as its page shows it: GET
// /api/v1/sessions/{id}. The page's fields (commands, changes, approvers)
// are there for whoever may open the page (an admin, an auditor, an
// approver of the session); for another caller DetailsHidden says why they
// are not.
type SessionPage struct {
	SessionView
	// Reason is the request's justification; Approvers everyone who
	// approved the session or an extension of it.
	Reason    string   `json:"reason,omitempty"`
	Approvers []string `json:"approvers,omitempty"`
	// Commands are the programs that ran, from the machine's kernel, in
	// their order; CommandsSource says how they were read (bpf, proc).
	Commands       *[]hoist.SessionCommand `json:"commands,omitempty"`
	CommandsSource string                  `json:"commands_source,omitempty"`
	// CommandsComplete says the machine sent the session's final record.
	CommandsComplete bool `json:"commands_complete,omitempty"`
	// CommandsOmitted counts the execs past the machine's budget (counted,
	// not recorded); CommandsSummary says so in words; CommandsLost counts
	// what the kernel's buffer dropped.
	CommandsOmitted int    `json:"commands_omitted,omitempty"`
	CommandsLost    int    `json:"commands_lost,omitempty"`
	CommandsSummary string `json:"commands_summary,omitempty"`
	// Changes is the session's change report; ChangesOmitted counts what
	// it left out.
	Changes        *[]ChangeView `json:"changes,omitempty"`
	ChangesOmitted int           `json:"changes_omitted,omitempty"`
	DetailsHidden  string        `json:"details_hidden,omitempty"`
}

// ChangeView is one line of a session's change report.
type ChangeView struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Change string `json:"change"`
	Detail string `json:"detail,omitempty"`
}
