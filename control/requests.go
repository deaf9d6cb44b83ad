package control

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
)

// RequestInput is a user's ask for JIT mode, as an agent reports it.
type RequestInput struct {
	User     string
	Host     string
	Agent    string
	Reason   string
	Duration time.Duration // zero: the one-time default
	// ApproverRole, MaxDuration and Policy come from the JIT startup policy
	// that let the request through.
	ApproverRole string
	MaxDuration  time.Duration
	Policy       string
	// Durations, ApprovalsRequired and PendingTTL are the policy's too:
	// the windows an approver may give, how many approvers must agree, and
	// how long the request may wait (zero: the server's default).
	Durations         []time.Duration
	ApprovalsRequired int
	PendingTTL        time.Duration
	// Kind is jit (empty) or extension; an extension names the session it
	// is for and that session's end when asked.
	Kind       hoist.RequestKind
	Extends    string
	SessionEnd time.Time
}

// settingsFor returns the server's approval settings as the request's
// policy overrides them: the policy is the one source of the longest
// window and of the pending TTL; the server's flags are only defaults.
func (s *Service) settingsFor(maxDur, pendingTTL time.Duration) hoist.ApprovalSettings {
	set := s.settings
	if maxDur > 0 {
		set.MaxDuration = maxDur
		set.OneTimeDuration = min(set.OneTimeDuration, maxDur)
	}
	if pendingTTL > 0 {
		set.PendingTTL = pendingTTL
	}
	return set
}

// CreateRequest records a new pending request, or returns the user's open
// request on that agent (or host, for a request without an agent; created
// is then false): asking again never makes a second one.
func (s *Service) CreateRequest(ctx context.Context, in RequestInput) (r hoist.Request, created bool, err error) {
	now := s.now()
	r, err = hoist.NewRequest(in.User, in.Host, in.Agent, in.Reason, in.Duration, s.settingsFor(in.MaxDuration, in.PendingTTL), now)
	if err != nil {
		return hoist.Request{}, false, err
	}
	r.ApproverRole, r.MaxDuration, r.Policy = in.ApproverRole, in.MaxDuration, in.Policy
	r.Durations, r.ApprovalsRequired = in.Durations, in.ApprovalsRequired
	if in.Kind != "" {
		r.Kind, r.Extends, r.SessionEnd = in.Kind, in.Extends, in.SessionEnd
	}
	for range 3 {
		err = s.store.Update(ctx, func(tx hoist.Tx) error {
			tx.SealAuditAfterCommit() // one open request: the store's unique index, not the audit head
			open, err := tx.Requests(ctx, openFilter(in))
			if err != nil {
				return err
			}
			if len(open) == 1 && (open[0].KindOrJIT() != r.KindOrJIT() || open[0].Extends != r.Extends) {
				// An extension of a session that has ended since, or a
				// new session asked beside one: the new ask replaces it.
				if err := s.supersede(ctx, tx, open[0], now); err != nil {
					return err
				}
				open = nil
			}
			if len(open) == 1 && now.Before(open[0].ExpiresAt) {
				// Found by agent: another agent going by the same name has
				// its own request, and an approver's "yes" for one machine
				// never reaches the other.
				r, created = open[0], false
				return nil
			}
			if len(open) == 1 { // undecided too long: expire it first
				if err := s.expireRequest(ctx, tx, open[0], now); err != nil {
					return err
				}
			}
			if err := tx.InsertRequest(ctx, r); err != nil {
				return err
			}
			created = true
			return audit(ctx, tx, now, r.User, hoist.AuditRequestCreated, r.ID, map[string]any{
				"user": r.User, "host": r.Host, "agent": r.Agent, "reason": r.Reason,
				"requested_duration": hoist.FormatDuration(r.RequestedDuration),
			})
		})
		if hoist.ErrorCode(err) != hoist.EConflict {
			break // a conflict means another call made the open request just now: read it
		}
	}
	return r, created, err
}

// supersede cancels r, replaced by a new request of another kind.
func (s *Service) supersede(ctx context.Context, tx hoist.Tx, r hoist.Request, now time.Time) error {
	next, err := r.Next(hoist.RequestEvent{To: hoist.RequestCancelled, Actor: SystemActor, Reason: "replaced by a new request"}, now)
	if err != nil {
		return err
	}
	if err := tx.UpdateRequest(ctx, next); err != nil {
		return err
	}
	return audit(ctx, tx, now, SystemActor, hoist.AuditRequestCancelled, r.ID, map[string]any{"user": r.User, "host": r.Host, "reason": "replaced by a new request"})
}

// openFilter selects the one open request in may have: per user and
// agent, so that another agent reporting the same host name cannot take
// the slot; per user and host for a request without an agent.
func openFilter(in RequestInput) hoist.RequestFilter {
	if in.Agent != "" {
		return hoist.RequestFilter{User: in.User, Agent: in.Agent, State: hoist.RequestPending, Limit: 1}
	}
	return hoist.RequestFilter{User: in.User, Host: in.Host, State: hoist.RequestPending, Limit: 1}
}

// Request returns one request.
func (s *Service) Request(ctx context.Context, a Actor, id string) (r hoist.Request, err error) {
	if err := a.require(hoist.PermitReadRequests); err != nil {
		return r, err
	}
	if !hoist.ValidID(hoist.RequestIDPrefix, id) {
		return r, hoist.Errorf(hoist.ENotFound, "no request %q", id)
	}
	err = s.store.View(ctx, func(tx hoist.Tx) (err error) {
		if r, err = tx.Request(ctx, id); err != nil {
			return err
		}
		adm, err := accountOf(ctx, tx, a)
		if err != nil {
			return err
		}
		return checkScope(ctx, tx, &groupCache{}, adm, r.Agent, r.Host, "see requests")
	})
	return r, err
}

// Requests lists requests that match f, newest first. An account with
// approver groups sees only the requests of machines in them: those it may
// decide.
func (s *Service) Requests(ctx context.Context, a Actor, f hoist.RequestFilter) (rs []hoist.Request, err error) {
	if err := a.require(hoist.PermitReadRequests); err != nil {
		return nil, err
	}
	err = s.store.View(ctx, func(tx hoist.Tx) (err error) {
		adm, err := accountOf(ctx, tx, a)
		if err != nil {
			return err
		}
		limit := hoist.ListLimit(f.Limit)
		if adm.Scoped() {
			f.Limit = hoist.MaxListLimit // filtered below, then cut to the limit asked
		}
		if rs, err = tx.Requests(ctx, f); err != nil || !adm.Scoped() {
			return err
		}
		rs, err = inScope(ctx, tx, adm, rs, limit, func(x hoist.Request) (string, string) { return x.Agent, x.Host })
		return err
	})
	return rs, err
}

// Approve approves each request For d, or One Time when d is zero. Each id
// is decided in a transaction of its own, on PostgreSQL several at once (see eachID), so
// the audit records of a batch's requests may interleave; the results, in
// the order of ids, say which succeeded.
// A request of one of the approver's identities (the account's name or
// one of its Unix names), or from a machine outside the approver's groups,
// is refused with EForbidden.
// Of two approvers deciding one request at once, exactly one succeeds; the
// other's result is EConflict.
func (s *Service) Approve(ctx context.Context, a Actor, ids []string, d time.Duration, note string) ([]Result, error) {
	return s.approve(ctx, a, ids, d, note, nil)
}

// ApproveStepped is Approve with the approver's passkey step-up for the
// decision (VerifyStepUp), which the requests whose JIT startup policy
// wants a passkey need.
func (s *Service) ApproveStepped(ctx context.Context, a Actor, ids []string, d time.Duration, note string, proof StepUp) ([]Result, error) {
	return s.approve(ctx, a, ids, d, note, &proof)
}

func (s *Service) approve(ctx context.Context, a Actor, ids []string, d time.Duration, note string, proof *StepUp) ([]Result, error) {
	if err := a.require(hoist.PermitDecide); err != nil {
		return nil, err
	}
	if err := checkBatch(ids); err != nil {
		return nil, err
	}
	if err := s.checkBatchWindow(ctx, ids, d); err != nil {
		return nil, err
	}
	if err := s.settings.CheckDecisionNote(note); err != nil {
		return nil, err
	}
	results := make([]Result, len(ids))
	s.eachID(ctx, ids, func(i int, id string) { results[i] = s.approveOne(ctx, a, id, d, note, proof) })
	return results, nil
}

// approveOne decides one request of an Approve batch in a transaction of
// its own.
func (s *Service) approveOne(ctx context.Context, a Actor, id string, d time.Duration, note string, proof *StepUp) Result {
	var (
		next hoist.Request
		sess hoist.Session
	)
	err := s.decide(ctx, id, func(tx hoist.Tx, r hoist.Request, now time.Time) (err error) {
		if err := mayDecide(ctx, tx, a, r, true); err != nil {
			return err
		}
		// Before the step-up's check: the policy it reads is then one of
		// those jitStillOn read with the groups (no round trip of its own).
		if err := jitStillOn(ctx, tx, r); err != nil {
			return err
		}
		if err := checkStepUp(ctx, tx, a.ID, r, d, proof); err != nil {
			return err
		}
		if r.ApproverRole == string(hoist.RoleAdmin) && a.Role != hoist.RoleAdmin {
			return hoist.Errorf(hoist.EForbidden, "policy %q wants an admin to approve this request", r.Policy)
		}
		if r.MaxDuration > 0 && d > r.MaxDuration {
			return &hoist.Error{Code: hoist.EInvalid, Message: fmt.Sprintf("at most %s may be granted on %s (the lower of policy %q's longest window and the agent configuration's)", hoist.DescribeDuration(r.MaxDuration), r.Host, r.Policy),
				Fields: map[string]string{"duration": "at most " + hoist.FormatDuration(r.MaxDuration)}}
		}
		// One Time (d zero) is the one-time window, cut to the policy's maximum.
		next, sess, err = r.Approve(hoist.Approval{Approver: a.Name, Duration: d, Reason: note, OneTime: d == 0}, s.settingsFor(r.MaxDuration, 0), now)
		if err != nil {
			return err
		}
		if err := tx.UpdateRequest(ctx, next); err != nil {
			return err
		}
		switch {
		case next.State == hoist.RequestPending:
			return audit(ctx, tx, now, a.Name, AuditApprovalAdded, r.ID, map[string]any{
				"user": r.User, "host": r.Host, "duration": hoist.FormatDuration(next.Approvals[len(next.Approvals)-1].Duration),
				"one_time": d == 0, "reason": note, "approvals": next.ApprovalsNeeded(),
			})
		case next.Kind == hoist.RequestKindExtension:
			sess, err = s.extendSession(ctx, tx, next, a.Name, note, now)
			return err
		}
		return s.startSession(ctx, tx, next, sess, a.Name, note, now)
	})
	res := resultOf(id, err)
	if err == nil && next.State == hoist.RequestPending {
		res.Request = &next
		s.log.Info("approval recorded", "request", id, "by", a.Name, "approvals", next.ApprovalsNeeded())
	} else if err == nil {
		res.Request, res.Session = &next, &sess
		s.notify.wake(next.Agent)
		s.log.Info("request approved", "request", id, "session", sess.ID, "by", a.Name, "duration", next.GrantedDuration)
	}
	return res
}

// startSession stores the session an approval of the jit request r starts,
// sends its grant to the agent, and audits both.
func (s *Service) startSession(ctx context.Context, tx hoist.Tx, r hoist.Request, sess hoist.Session, actor, note string, now time.Time) error {
	if err := tx.InsertSession(ctx, sess); err != nil {
		return err
	}
	if err := s.pushGrant(ctx, tx, r, sess, now); err != nil {
		return err
	}
	if err := audit(ctx, tx, now, actor, hoist.AuditRequestApproved, r.ID, map[string]any{
		"user": r.User, "host": r.Host, "duration": hoist.FormatDuration(r.GrantedDuration),
		"one_time": r.OneTime, "reason": note, "session_id": sess.ID, "approvals": r.Approvers(),
	}); err != nil {
		return err
	}
	return audit(ctx, tx, now, actor, hoist.AuditSessionStarted, sess.ID, map[string]any{
		"request_id": r.ID, "user": sess.User, "host": sess.Host,
		"not_before": sess.NotBefore, "not_after": sess.NotAfter,
	})
}

// checkBatchWindow refuses the whole batch, with EInvalid and the field
// duration named, when d is more than any of its requests' policies allows
// (each request's own limits are checked again when it is decided). The
// policy is the one source of the longest window; the server's
// --max-duration only stands in for a request that has none.
func (s *Service) checkBatchWindow(ctx context.Context, ids []string, d time.Duration) error {
	if d == 0 {
		return nil
	}
	longest := time.Duration(0)
	// No snapshot needed: each request's limits are checked again in its
	// decision's transaction.
	err := s.store.Read(ctx, func(rd hoist.Reads) error {
		for _, id := range ids {
			r, err := rd.Request(ctx, id)
			if err != nil {
				continue // reported per id
			}
			longest = max(longest, s.settingsFor(r.MaxDuration, 0).MaxDuration)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if longest == 0 {
		longest = s.settings.MaxDuration
	}
	if d < hoist.MinDuration || d > longest {
		return &hoist.Error{Code: hoist.EInvalid, Message: fmt.Sprintf("%s is out of range: a duration must be %s", hoist.FormatDuration(d), hoist.DurationRange(hoist.MinDuration, longest)),
			Fields: map[string]string{"duration": hoist.DurationRange(hoist.MinDuration, longest)}}
	}
	return nil
}

// Deny denies each request with reason.
func (s *Service) Deny(ctx context.Context, a Actor, ids []string, reason string) ([]Result, error) {
	if err := a.require(hoist.PermitDecide); err != nil {
		return nil, err
	}
	if err := checkBatch(ids); err != nil {
		return nil, err
	}
	if strings.TrimSpace(reason) == "" {
		// The requester is told why; the console and the CLI follow this one rule.
		return nil, &hoist.Error{Code: hoist.EInvalid, Message: "a reason is required to deny a request: the requester is shown it",
			Fields: map[string]string{"reason": "required"}}
	}
	if err := s.settings.CheckDecisionNote(reason); err != nil {
		return nil, err
	}
	results := make([]Result, 0, len(ids))
	for _, id := range ids {
		var next hoist.Request
		err := s.decide(ctx, id, func(tx hoist.Tx, r hoist.Request, now time.Time) (err error) {
			// Denying one's own request harms no one (see hoist.Request.Deny);
			// only the approver's groups limit a denial.
			if err := mayDecide(ctx, tx, a, r, false); err != nil {
				return err
			}
			next, err = r.Deny(a.Name, reason, s.settings, now)
			if err != nil {
				return err
			}
			if err := tx.UpdateRequest(ctx, next); err != nil {
				return err
			}
			if err := s.pushDecision(ctx, tx, hoist.AgentEvent{AgentID: r.Agent, Kind: hoist.AgentEventDenied, RequestID: r.ID,
				User: r.User, Reason: reason, CreatedAt: now}); err != nil {
				return err
			}
			return audit(ctx, tx, now, a.Name, hoist.AuditRequestDenied, r.ID, map[string]any{
				"user": r.User, "host": r.Host, "reason": reason,
			})
		})
		res := resultOf(id, err)
		if err == nil {
			res.Request = &next
			s.notify.wake(next.Agent)
			s.log.Info("request denied", "request", id, "by", a.Name)
		}
		results = append(results, res)
	}
	return results, nil
}

// decide loads the pending request id in a write transaction and hands it to
// fn. A request whose pending time is over is expired instead, and the
// decision refused.
func (s *Service) decide(ctx context.Context, id string, fn func(tx hoist.Tx, r hoist.Request, now time.Time) error) error {
	if !hoist.ValidID(hoist.RequestIDPrefix, id) {
		return hoist.Errorf(hoist.ENotFound, "no request %q", id)
	}
	now := s.now()
	var expired bool
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		// Decisions race on the request's version (UpdateRequest), not
		// on the audit head: see hoist.Tx.SealAuditAfterCommit.
		tx.SealAuditAfterCommit()
		r, err := tx.Request(ctx, id)
		if err != nil {
			return err
		}
		if r.State == hoist.RequestPending && !now.Before(r.ExpiresAt) {
			expired = true
			return s.expireRequest(ctx, tx, r, now)
		}
		return fn(tx, r, now)
	})
	if err == nil && expired {
		return hoist.Errorf(hoist.EConflict, "request %s expired before it was decided", id)
	}
	return err
}

func (s *Service) expireRequest(ctx context.Context, tx hoist.Tx, r hoist.Request, now time.Time) error {
	next, err := r.Next(hoist.RequestEvent{To: hoist.RequestExpired, Actor: SystemActor, Reason: "not decided in time"}, now)
	if err != nil {
		return err
	}
	if err := tx.UpdateRequest(ctx, next); err != nil {
		return err
	}
	if err := s.pushDecision(ctx, tx, hoist.AgentEvent{AgentID: r.Agent, Kind: hoist.AgentEventExpired, RequestID: r.ID,
		User: r.User, CreatedAt: now}); err != nil {
		return err
	}
	return audit(ctx, tx, now, SystemActor, hoist.AuditRequestExpired, r.ID, map[string]any{"user": r.User, "host": r.Host})
}

// AuditApprovalAdded records one approval of a request that needs more
// than one (approvals_required): it stays pending.
const AuditApprovalAdded = "request.approval_added"

// SystemActor is the actor of what Hoist does by itself: expiries.
const SystemActor = "hoist"

// pushGrant signs the grant for an approved request and queues it for the
// request's agent.
func (s *Service) pushGrant(ctx context.Context, tx hoist.Tx, r hoist.Request, sess hoist.Session, now time.Time) error {
	if r.Agent == "" {
		return nil
	}
	if s.signer == nil {
		return hoist.Errorf(hoist.EUnavailable, "this server cannot sign grants")
	}
	grant, err := hoist.SignGrant(s.signer.GrantKey(), hoist.Grant{Agent: r.Agent, User: r.User, Request: r.ID, Session: sess.ID,
		NotBefore: sess.NotBefore, NotAfter: sess.NotAfter, Scope: hoist.GrantScopeJIT})
	if err != nil {
		return err
	}
	return s.pushDecision(ctx, tx, hoist.AgentEvent{AgentID: r.Agent, Kind: hoist.AgentEventApproved, RequestID: r.ID,
		SessionID: sess.ID, User: r.User, Grant: grant, CreatedAt: now})
}

// jitStillOn refuses to approve a request from a machine where JIT mode has
// been switched off since it was made: the agent would end the session at
// once, and the approval would record a grant that never was.
func jitStillOn(ctx context.Context, tx hoist.Tx, r hoist.Request) error {
	if r.Agent == "" {
		return nil // a request made without an agent (tests, the API alone)
	}
	a, err := tx.AgentByID(ctx, r.Agent)
	if err != nil {
		return err
	}
	b, _, err := bundleOf(ctx, tx, a)
	if err != nil {
		return err
	}
	if _, ok := b.JIT(); !ok {
		return hoist.Errorf(hoist.EConflict, "JIT mode has been switched off for %s since the request was made (its three JIT policies are not all active); deny it, or turn JIT mode on first", r.Host)
	}
	return nil
}
