package api

import (
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

// The API's JSON shapes. Durations travel as Go duration strings ("45m"),
// which is how people type them, with seconds beside them for scripts.

// RequestView is defined in package wire, which clients import without the server.
type RequestView = wire.RequestView

func requestView(r hoist.Request) RequestView {
	v := RequestView{
		ID: r.ID, User: r.User, Host: r.Host, Reason: r.Reason, State: r.State,
		RequestedDuration: hoist.FormatDuration(r.RequestedDuration),
		RequestedSeconds:  int64(r.RequestedDuration / time.Second),
		CreatedAt:         r.CreatedAt, ExpiresAt: r.ExpiresAt,
		DecidedBy: r.DecidedBy, DecisionReason: r.DecisionReason, SessionID: r.SessionID,
		OneTime: r.OneTime, History: r.History,
	}
	v.AgentID = r.Agent
	v.Kind, v.Extends, v.ApprovalsRequired = r.KindOrJIT(), r.Extends, r.Required()
	if !r.SessionEnd.IsZero() {
		v.SessionEnd = &r.SessionEnd
	}
	v.Approvals = make([]wire.ApprovalView, 0, len(r.Approvals))
	for _, m := range r.Approvals {
		v.Approvals = append(v.Approvals, wire.ApprovalView{By: m.By, At: m.At, Duration: hoist.FormatDuration(m.Duration), OneTime: m.OneTime})
	}
	if r.GrantedDuration > 0 {
		v.GrantedDuration = hoist.FormatDuration(r.GrantedDuration)
	}
	return v
}

// SessionView is defined in package wire, which clients import without the server.
type SessionView = wire.SessionView

func sessionView(s hoist.Session, now time.Time) SessionView {
	v := SessionView{
		ID: s.ID, RequestID: s.RequestID, User: s.User, Host: s.Host, ApprovedBy: s.ApprovedBy,
		State: s.State, StartedAt: s.NotBefore, ExpiresAt: s.NotAfter,
		RemainingSeconds: int64(s.Remaining(now).Round(time.Second) / time.Second),
		EndReason:        s.EndReason, History: s.History,
	}
	v.AgentID = s.Agent
	if !s.EndedAt.IsZero() {
		v.EndedAt = &s.EndedAt
	}
	return v
}

// UserView is defined in package wire, which clients import without the server.
type UserView = wire.UserView

func userView(a hoist.Admin) UserView {
	return UserView{Name: a.Name, Role: a.Role, Disabled: a.Disabled, CreatedAt: a.CreatedAt,
		UnixNames: orEmpty(a.UnixNames), ApproverGroups: orEmpty(a.ApproverGroups)}
}

// orEmpty shows a missing list as [], never null.
func orEmpty(names []string) []string {
	if names == nil {
		return []string{}
	}
	return names
}

// ResultView is defined in package wire, which clients import without the server.
type ResultView = wire.ResultView

// SettingsView is defined in package wire, which clients import without the server.
type SettingsView = wire.SettingsView
