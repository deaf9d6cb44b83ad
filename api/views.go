package api

import (
	"time"

	"github.com/hoist-jit/hoist"
)

// The API's JSON shapes. Durations travel as Go duration strings ("45m"),
// which is how people type them, with seconds beside them for scripts.

// RequestView is a request as the API shows it.
type RequestView struct {
	ID                string             `json:"id"`
	User              string             `json:"user"`
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
	SessionID         string             `json:"session_id,omitempty"`
	History           []hoist.Transition `json:"history"`
}

func requestView(r hoist.Request) RequestView {
	v := RequestView{
		ID: r.ID, User: r.User, Host: r.Host, Reason: r.Reason, State: r.State,
		RequestedDuration: hoist.FormatDuration(r.RequestedDuration),
		RequestedSeconds:  int64(r.RequestedDuration / time.Second),
		CreatedAt:         r.CreatedAt, ExpiresAt: r.ExpiresAt,
		DecidedBy: r.DecidedBy, DecisionReason: r.DecisionReason, SessionID: r.SessionID,
		History: r.History,
	}
	if r.GrantedDuration > 0 {
		v.GrantedDuration = hoist.FormatDuration(r.GrantedDuration)
	}
	return v
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
}

func sessionView(s hoist.Session, now time.Time) SessionView {
	v := SessionView{
		ID: s.ID, RequestID: s.RequestID, User: s.User, Host: s.Host, ApprovedBy: s.ApprovedBy,
		State: s.State, StartedAt: s.NotBefore, ExpiresAt: s.NotAfter,
		RemainingSeconds: int64(s.Remaining(now).Round(time.Second) / time.Second),
		EndReason:        s.EndReason, History: s.History,
	}
	if !s.EndedAt.IsZero() {
		v.EndedAt = &s.EndedAt
	}
	return v
}

// UserView is an account as the API shows it; never its password hash.
type UserView struct {
	Name      string     `json:"name"`
	Role      hoist.Role `json:"role"`
	Disabled  bool       `json:"disabled"`
	CreatedAt time.Time  `json:"created_at"`
}

func userView(a hoist.Admin) UserView {
	return UserView{Name: a.Name, Role: a.Role, Disabled: a.Disabled, CreatedAt: a.CreatedAt}
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
