package wire

import "time"

// The admin API of offline approval (docs/offline.md).

// OfflineBody is the body of POST /api/v1/offline/decode and
// /api/v1/offline/approve: the challenge as the user read it, and, when
// two machines share its tag, the agent (id or name) it came from. An
// approval gives either Duration (For) or Once (One Time).
type OfflineBody struct {
	Challenge string `json:"challenge"`
	Agent     string `json:"agent,omitempty"`
	Duration  string `json:"duration,omitempty"`
	Once      bool   `json:"once,omitempty"`
}

// OfflineChallengeView is what a challenge decodes to.
type OfflineChallengeView struct {
	Challenge string `json:"challenge"`
	AgentID   string `json:"agent_id"`
	Host      string `json:"host"`
	// User is the user when exactly one name seen on the machine fits the
	// challenge; Users are all that fit (the approver confirms with the
	// caller).
	User              string   `json:"user,omitempty"`
	Users             []string `json:"users"`
	RequestedDuration string   `json:"requested_duration"`
	Reason            string   `json:"reason,omitempty"`
}

// OfflineResponseView is a response the server issued: read it to the
// user, who types it into hoist request --response.
type OfflineResponseView struct {
	OfflineChallengeView
	Response         string `json:"response"`
	ApprovedDuration string `json:"approved_duration"`
	Approver         string `json:"approver"`
}

// EmergencyIssueBody is the body of POST /api/v1/emergency-codes: codes
// for an agent (id or name) or a computer group, Count of them (5 when
// zero), each granting Window (1h when empty).
type EmergencyIssueBody struct {
	Agent  string `json:"agent,omitempty"`
	Group  string `json:"group,omitempty"`
	Count  int    `json:"count,omitempty"`
	Window string `json:"window,omitempty"`
}

// EmergencyCodeView is an emergency code without its value; Code is set
// only in the answer to the issue, the one time the value is shown.
type EmergencyCodeView struct {
	ID        string     `json:"id"`
	Code      string     `json:"code,omitempty"`
	Agent     string     `json:"agent,omitempty"`
	Group     string     `json:"group,omitempty"`
	Window    string     `json:"window"`
	State     string     `json:"state"` // outstanding, used, revoked, expired
	CreatedBy string     `json:"created_by"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	RevokedBy string     `json:"revoked_by,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
	UsedOn    string     `json:"used_on,omitempty"`
	UsedBy    string     `json:"used_by,omitempty"`
}

// EmergencyCodesAnswer lists emergency codes: those just issued (with
// their values), or all of them (without).
type EmergencyCodesAnswer struct {
	Codes []EmergencyCodeView `json:"codes"`
}
