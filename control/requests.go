package control

import (
	"context"
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
}

// CreateRequest records a new pending request, or returns the user's open
// request on that agent (or host, for a request without an agent; created
// is then false): asking again never makes a second one.
func (s *Service) CreateRequest(ctx context.Context, in RequestInput) (r hoist.Request, created bool, err error) {
	now := s.now()
	r, err = hoist.NewRequest(in.User, in.Host, in.Agent, in.Reason, in.Duration, s.settings, now)
	if err != nil {
		return hoist.Request{}, false, err
	}
	r.ApproverRole, r.MaxDuration, r.Policy = in.ApproverRole, in.MaxDuration, in.Policy
	for range 3 {
		err = s.store.Update(ctx, func(tx hoist.Tx) error {
			open, err := tx.Requests(ctx, openFilter(in))
			if err != nil {
				return err
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
		gc := &groupCache{}
		kept := rs[:0]
		for _, r := range rs {
			if err := checkScope(ctx, tx, gc, adm, r.Agent, r.Host, ""); hoist.ErrorCode(err) == hoist.EForbidden {
				continue
			} else if err != nil {
				return err
			}
			if kept = append(kept, r); len(kept) == limit {
				break
			}
		}
		rs = kept
		return nil
	})
	return rs, err
}

// Approve approves each request For d, or One Time when d is zero. Each id
// is decided in a transaction of its own; the results say which succeeded.
// A request of one of the approver's identities (the account's name or
// one of its Unix names), or from a machine outside the approver's groups,
// is refused with EForbidden.
// Of two approvers deciding one request at once, exactly one succeeds; the
// other's result is EConflict.
func (s *Service) Approve(ctx context.Context, a Actor, ids []string, d time.Duration, note string) ([]Result, error) {
	if err := a.require(hoist.PermitDecide); err != nil {
		return nil, err
	}
	if err := checkBatch(ids); err != nil {
		return nil, err
	}
	if d != 0 {
		if err := s.settings.CheckDuration(d); err != nil {
			return nil, err
		}
	}
	if err := s.settings.CheckDecisionNote(note); err != nil {
		return nil, err
	}
	results := make([]Result, 0, len(ids))
	for _, id := range ids {
		var (
			next hoist.Request
			sess hoist.Session
		)
		err := s.decide(ctx, id, func(tx hoist.Tx, r hoist.Request, now time.Time) (err error) {
			if err := mayDecide(ctx, tx, a, r, true); err != nil {
				return err
			}
			if r.ApproverRole == string(hoist.RoleAdmin) && a.Role != hoist.RoleAdmin {
				return hoist.Errorf(hoist.EForbidden, "policy %q wants an admin to approve this request", r.Policy)
			}
			if r.MaxDuration > 0 && d > r.MaxDuration {
				return hoist.Errorf(hoist.EInvalid, "at most %s may be granted on %s (the lower of policy %q's longest window and the agent configuration's)", hoist.DescribeDuration(r.MaxDuration), r.Host, r.Policy)
			}
			if err := jitStillOn(ctx, tx, r); err != nil {
				return err
			}
			grant := d
			if grant == 0 && r.MaxDuration > 0 && s.settings.OneTimeDuration > r.MaxDuration {
				grant = r.MaxDuration // One Time, within the policy's maximum
			}
			next, sess, err = r.Approve(hoist.Approval{Approver: a.Name, Duration: grant, Reason: note, OneTime: d == 0}, s.settings, now)
			if err != nil {
				return err
			}
			if err := tx.UpdateRequest(ctx, next); err != nil {
				return err
			}
			if err := tx.InsertSession(ctx, sess); err != nil {
				return err
			}
			if err := s.pushGrant(ctx, tx, next, sess, now); err != nil {
				return err
			}
			once := d == 0
			if err := audit(ctx, tx, now, a.Name, hoist.AuditRequestApproved, r.ID, map[string]any{
				"user": r.User, "host": r.Host, "duration": hoist.FormatDuration(next.GrantedDuration),
				"one_time": once, "reason": note, "session_id": sess.ID,
			}); err != nil {
				return err
			}
			return audit(ctx, tx, now, a.Name, hoist.AuditSessionStarted, sess.ID, map[string]any{
				"request_id": r.ID, "user": sess.User, "host": sess.Host,
				"not_before": sess.NotBefore, "not_after": sess.NotAfter,
			})
		})
		res := resultOf(id, err)
		if err == nil {
			res.Request, res.Session = &next, &sess
			s.notify.wake(next.Agent)
			s.log.Info("request approved", "request", id, "session", sess.ID, "by", a.Name, "duration", next.GrantedDuration)
		}
		results = append(results, res)
	}
	return results, nil
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
