package hoist

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

// RequestState is where a JIT request stands. Pending is the only state that
// can be left; the others are terminal.
type RequestState string

const (
	RequestPending   RequestState = "pending"
	RequestApproved  RequestState = "approved"
	RequestDenied    RequestState = "denied"
	RequestCancelled RequestState = "cancelled"
	RequestExpired   RequestState = "expired" // nobody decided within the pending TTL
)

// Terminal reports whether no event can move a request out of s.
func (s RequestState) Terminal() bool { return s != RequestPending }

// Transition is one recorded change of state, of a request or a session.
type Transition struct {
	From   string    `json:"from"`
	To     string    `json:"to"`
	Actor  string    `json:"actor"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// Request is a user's request for JIT elevated access on one machine.
type Request struct {
	ID                string        `json:"id"`
	User              string        `json:"user"`
	Host              string        `json:"host"`
	Agent             string        `json:"agent,omitempty"`
	Reason            string        `json:"reason"`
	RequestedDuration time.Duration `json:"requested_duration"`
	State             RequestState  `json:"state"`
	CreatedAt         time.Time     `json:"created_at"`
	UpdatedAt         time.Time     `json:"updated_at"`
	// ExpiresAt is when a pending request expires undecided.
	ExpiresAt time.Time `json:"expires_at"`
	// DecidedBy, DecisionReason and GrantedDuration are set by a decision.
	DecidedBy       string        `json:"decided_by,omitempty"`
	DecisionReason  string        `json:"decision_reason,omitempty"`
	GrantedDuration time.Duration `json:"granted_duration,omitempty"`
	// OneTime says the approver chose One Time rather than For a window.
	OneTime   bool   `json:"one_time,omitempty"`
	SessionID string `json:"session_id,omitempty"`
	// Policy names the JIT startup policy that admitted the request;
	// ApproverRole (admin, or any approver when empty) and MaxDuration are
	// its rules for the decision.
	Policy       string        `json:"policy,omitempty"`
	ApproverRole string        `json:"approver_role,omitempty"`
	MaxDuration  time.Duration `json:"max_duration,omitempty"`
	// Durations, when set, are the only windows the policy allows an
	// approver to give (One Time aside, which is always the one-time
	// window).
	Durations []time.Duration `json:"durations,omitempty"`
	// Kind is jit (a new session) or extension (more time on the session
	// Extends). An empty kind, from a record stored before kinds, is jit.
	Kind RequestKind `json:"kind,omitempty"`
	// Extends and SessionEnd are the session an extension is for and its
	// end when the extension was asked.
	Extends    string    `json:"extends,omitempty"`
	SessionEnd time.Time `json:"session_end,omitzero"`
	// ApprovalsRequired is how many distinct approvers must approve (the
	// policy's approvals_required; zero means one). Approvals are those
	// given so far; the request is approved when there are enough.
	ApprovalsRequired int            `json:"approvals_required,omitempty"`
	Approvals         []ApprovalMark `json:"approvals,omitempty"`
	// Version counts the changes; stores use it to refuse a write based on a
	// stale read, so that of two approvers exactly one wins.
	Version int          `json:"version"`
	History []Transition `json:"history"`
}

// NewRequest validates a user's ask and returns a pending request. An empty
// duration means the one-time default.
func NewRequest(user, host, agent, reason string, d time.Duration, set ApprovalSettings, now time.Time) (Request, error) {
	if err := checkName("user", user, 256); err != nil {
		return Request{}, err
	}
	if err := checkName("host", host, 253); err != nil {
		return Request{}, err
	}
	if d == 0 {
		d = set.OneTimeDuration
	}
	if err := set.CheckDuration(d); err != nil {
		return Request{}, err
	}
	reason = strings.TrimSpace(reason)
	if err := set.CheckReason(reason); err != nil {
		return Request{}, err
	}
	return Request{
		ID:                NewID(RequestIDPrefix),
		User:              user,
		Host:              host,
		Agent:             agent,
		Reason:            reason,
		RequestedDuration: d,
		Kind:              RequestKindJIT,
		State:             RequestPending,
		CreatedAt:         now,
		UpdatedAt:         now,
		ExpiresAt:         now.Add(set.PendingTTL),
		Version:           1,
		History:           []Transition{{From: "", To: string(RequestPending), Actor: user, Reason: reason, At: now}},
	}, nil
}

// RequestEvent is something that happens to a pending request.
type RequestEvent struct {
	To     RequestState // approved, denied, cancelled or expired
	Actor  string
	Reason string
	// Duration is the granted window, for approvals.
	Duration time.Duration
	// SessionID names the session an approval starts.
	SessionID string
}

// Next returns r after ev at now. It refuses any event on a terminal request
// with EConflict, and events that make no sense with EInvalid. r is not
// changed; the result carries the recorded transition and a new version.
func (r Request) Next(ev RequestEvent, now time.Time) (Request, error) {
	if r.State.Terminal() {
		return r, Errorf(EConflict, "request %s is already %s", r.ID, r.State)
	}
	switch ev.To {
	case RequestApproved:
		if ev.Duration <= 0 || ev.SessionID == "" {
			return r, Errorf(EInvalid, "an approval needs a duration and a session")
		}
		r.GrantedDuration = ev.Duration
		r.SessionID = ev.SessionID
	case RequestDenied, RequestCancelled:
	case RequestExpired:
		if now.Before(r.ExpiresAt) {
			return r, Errorf(EConflict, "request %s has not expired yet", r.ID)
		}
	default:
		return r, Errorf(EInvalid, "a pending request cannot become %q", ev.To)
	}
	if ev.To == RequestApproved || ev.To == RequestDenied {
		r.DecidedBy = ev.Actor
		r.DecisionReason = ev.Reason
	}
	r.History = append(append([]Transition(nil), r.History...),
		Transition{From: string(r.State), To: string(ev.To), Actor: ev.Actor, Reason: ev.Reason, At: now})
	r.State = ev.To
	r.UpdatedAt = now
	r.Version++
	return r, nil
}

// Approval is an approver's decision to grant a request: For a duration, or
// One Time (the settings' one-time window).
type Approval struct {
	Approver string
	Duration time.Duration // zero means One Time
	Reason   string
	// OneTime marks a One Time approval whose window was given anyway (the
	// One Time default cut to a policy's maximum).
	OneTime bool
}

// Approve checks an approval against the rules — no self-approval, no
// approver twice, a window the settings and the request's policy allow —
// and records it. When it is the last approval the request needs, the
// result is approved, and for a jit request it carries the session that
// starts now with the shortest window of all the approvals; before that the
// result is still pending, with the approval in Approvals, and the Session
// is zero. An extension gets no session: the caller moves the end of the
// one it extends (see Session.Extend).
func (r Request) Approve(a Approval, set ApprovalSettings, now time.Time) (Request, Session, error) {
	if r.State.Terminal() {
		return r, Session{}, Errorf(EConflict, "request %s is already %s", r.ID, r.State)
	}
	if SameUser(a.Approver, r.User) {
		return r, Session{}, Errorf(EForbidden, "%s cannot approve their own request", a.Approver)
	}
	for _, m := range r.Approvals {
		if SameUser(m.By, a.Approver) {
			return r, Session{}, Errorf(EConflict, "%s has already approved request %s: it needs %s", a.Approver, r.ID, r.ApprovalsNeeded())
		}
	}
	d := a.Duration
	if d == 0 {
		d = set.OneTimeDuration
	}
	if err := set.CheckDuration(d); err != nil {
		return r, Session{}, err
	}
	if err := r.CheckAllowed(d, a.OneTime || a.Duration == 0); err != nil {
		return r, Session{}, err
	}
	if err := set.CheckDecisionNote(a.Reason); err != nil {
		return r, Session{}, err
	}
	marks := append(append([]ApprovalMark(nil), r.Approvals...),
		ApprovalMark{By: a.Approver, At: now, Duration: d, OneTime: a.OneTime || a.Duration == 0})
	if len(marks) < r.Required() {
		next := r
		next.Approvals = marks
		next.History = append(append([]Transition(nil), r.History...), Transition{From: string(r.State), To: string(r.State),
			Actor: a.Approver, Reason: joinNote(fmt.Sprintf("approval %d of %d", len(marks), r.Required()), a.Reason), At: now})
		next.UpdatedAt = now
		next.Version++
		return next, Session{}, nil
	}
	win := shortest(marks)
	var s Session
	ev := RequestEvent{To: RequestApproved, Actor: a.Approver, Reason: a.Reason, Duration: win.Duration, SessionID: r.Extends}
	if r.Kind != RequestKindExtension {
		s = NewSession(r, win.Duration, approvers(marks), now)
		ev.SessionID = s.ID
	}
	next, err := r.Next(ev, now)
	if err != nil {
		return r, Session{}, err
	}
	next.Approvals = marks
	next.OneTime = win.OneTime
	return next, s, nil
}

// CheckAllowed refuses, with EInvalid and the field duration named, a
// window the request's policy does not allow an approver to give: outside
// its list of durations, when it has one. One Time is the policy's own
// one-time window and always allowed.
func (r Request) CheckAllowed(d time.Duration, oneTime bool) error {
	if r.MaxDuration > 0 && d > r.MaxDuration {
		return &Error{Code: EInvalid, Message: fmt.Sprintf("at most %s may be granted on %s (policy %q)", DescribeDuration(r.MaxDuration), r.Host, r.Policy),
			Fields: map[string]string{"duration": "at most " + FormatDuration(r.MaxDuration)}}
	}
	if oneTime || len(r.Durations) == 0 || slices.Contains(r.Durations, d) {
		return nil
	}
	allowed := make([]string, len(r.Durations))
	for i, a := range r.Durations {
		allowed[i] = FormatDuration(a)
	}
	list := strings.Join(allowed, ", ")
	return &Error{Code: EInvalid, Message: fmt.Sprintf("policy %q allows approving %s only for %s, or One Time", r.Policy, r.Host, list),
		Fields: map[string]string{"duration": "one of " + list + ", or One Time"}}
}

// Deny returns r denied by approver. Denying one's own request is allowed:
// it harms no one.
func (r Request) Deny(approver, reason string, set ApprovalSettings, now time.Time) (Request, error) {
	if err := set.CheckDecisionNote(reason); err != nil {
		return r, err
	}
	return r.Next(RequestEvent{To: RequestDenied, Actor: approver, Reason: reason}, now)
}

// CheckDecisionNote validates the free text an approver attaches to a decision.
func (s ApprovalSettings) CheckDecisionNote(note string) error {
	if len(note) > MaxReasonLength {
		return Errorf(EInvalid, "reason is longer than %d bytes", MaxReasonLength)
	}
	if !printable(note) {
		return Errorf(EInvalid, "reason contains control characters")
	}
	return nil
}

// SameUser reports whether an admin account and a machine user are the same
// person. Hoist matches by name, case-insensitively, which is how directory
// accounts map onto both today.
func SameUser(admin, user string) bool {
	return strings.EqualFold(strings.TrimSpace(admin), strings.TrimSpace(user))
}
