package wire

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
