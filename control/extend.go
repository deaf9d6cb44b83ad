package control

import (
	"context"
	"fmt"
	"time"

	"github.com/hoist-jit/hoist"
)

// AuditSessionExtended records that an approved extension moved the end of
// a session.
const AuditSessionExtended = "session.extended"

// AgentExtend files user's request for d more time on their active session
// sid on agent a: a request of kind extension, approved like any other.
// It is refused with EConflict when the session has ended (ask for a new
// one), and with EInvalid when the session would then be longer in total
// than the startup policy's longest window allows.
func (s *Service) AgentExtend(ctx context.Context, a hoist.AgentRecord, user, sid, reason string, d time.Duration) (hoist.Request, bool, error) {
	if d < hoist.MinDuration {
		return hoist.Request{}, false, &hoist.Error{Code: hoist.EInvalid, Message: "an extension needs the time to add, such as 30m",
			Fields: map[string]string{"duration": "required"}}
	}
	if !hoist.ValidID(hoist.SessionIDPrefix, sid) {
		return hoist.Request{}, false, hoist.Errorf(hoist.ENotFound, "no session %q", sid)
	}
	var (
		jit   hoist.JITPolicies
		rules *hoist.JITStartup
		sess  hoist.Session
	)
	err := s.store.View(ctx, func(tx hoist.Tx) (err error) {
		b, _, err := bundleOf(ctx, tx, a)
		if err != nil {
			return err
		}
		var ok bool
		if jit, ok = b.JIT(); !ok {
			return hoist.Errorf(hoist.EForbidden, "JIT mode is not enabled for this machine: the three JIT policies are not all active for any of its computer groups")
		}
		rules = b.StartupRules(jit)
		sess, err = tx.Session(ctx, sid)
		return err
	})
	if hoist.ErrorCode(err) == hoist.ENotFound || (err == nil && (sess.Agent != a.ID || sess.User != user)) {
		return hoist.Request{}, false, hoist.Errorf(hoist.ENotFound, "%s has no session %s on this machine", user, sid)
	}
	if err != nil {
		return hoist.Request{}, false, err
	}
	if sess.State != hoist.SessionActive || sess.Expired(s.now()) {
		return hoist.Request{}, false, hoist.Errorf(hoist.EConflict, "your session has ended, so it cannot be extended; ask for a new one with: hoist request")
	}
	if rules.MaxDuration == 0 {
		rules.MaxDuration = hoist.Duration(s.settings.MaxDuration)
	}
	if err := checkTotal(sess, sess.NotAfter.Add(d), rules.MaxDuration.D()); err != nil {
		return hoist.Request{}, false, err
	}
	if _, err := (&hoist.JITStartup{ReasonRequired: rules.ReasonRequired}).CheckWindow(hoist.MinDuration, reason); err != nil {
		return hoist.Request{}, false, err
	}
	in := requestInput(a, user, reason, d, jit.Startup.Name, rules)
	// The policy's list of windows is for new sessions; an extension
	// is any time up to the longest session it allows.
	in.Durations = nil
	in.Kind, in.Extends, in.SessionEnd = hoist.RequestKindExtension, sess.ID, sess.NotAfter
	return s.CreateRequest(ctx, in)
}

// checkTotal refuses, with EInvalid and the field duration named, an end
// that makes sess longer in total than max.
func checkTotal(sess hoist.Session, end time.Time, max time.Duration) error {
	if end.Sub(sess.NotBefore) <= max {
		return nil
	}
	left := max - sess.NotAfter.Sub(sess.NotBefore)
	msg := fmt.Sprintf("a session may last at most %s in total, extensions included", hoist.DescribeDuration(max))
	if left >= hoist.MinDuration {
		msg += fmt.Sprintf("; this one may get %s more at most", hoist.FormatDuration(left.Truncate(time.Second)))
	} else {
		msg += "; this one has reached it"
	}
	return &hoist.Error{Code: hoist.EInvalid, Message: msg, Fields: map[string]string{"duration": "at most " + hoist.FormatDuration(max.Truncate(time.Second)) + " in total"}}
}

// extendSession moves the end of the session the approved extension r is
// for, sends the agent the new grant and audits it. A session that has
// ended meanwhile is not extended (EConflict): the approval fails.
func (s *Service) extendSession(ctx context.Context, tx hoist.Tx, r hoist.Request, actor, note string, now time.Time) (hoist.Session, error) {
	sess, err := tx.Session(ctx, r.Extends)
	if err != nil {
		return sess, err
	}
	end := sess.NotAfter.Add(r.GrantedDuration)
	if err := checkTotal(sess, end, r.MaxDuration); r.MaxDuration > 0 && err != nil {
		return sess, err
	}
	old := sess.NotAfter
	if sess, err = sess.Extend(end, actor, now); err != nil {
		return sess, err
	}
	if err := tx.UpdateSession(ctx, sess); err != nil {
		return sess, err
	}
	if err := s.pushExtension(ctx, tx, r, sess, now); err != nil {
		return sess, err
	}
	if err := audit(ctx, tx, now, actor, hoist.AuditRequestApproved, r.ID, map[string]any{
		"user": r.User, "host": r.Host, "duration": hoist.FormatDuration(r.GrantedDuration), "kind": string(hoist.RequestKindExtension),
		"one_time": r.OneTime, "reason": note, "session_id": sess.ID, "approvals": r.Approvers(),
	}); err != nil {
		return sess, err
	}
	return sess, audit(ctx, tx, now, actor, AuditSessionExtended, sess.ID, map[string]any{
		"request_id": r.ID, "user": sess.User, "host": sess.Host, "added": hoist.FormatDuration(r.GrantedDuration),
		"old_not_after": old, "not_after": sess.NotAfter,
	})
}

// pushExtension signs the session's grant again with its later end and
// queues it for the agent. The grant names the session's own request, as
// the first did, so that the agent sees the same session, longer.
func (s *Service) pushExtension(ctx context.Context, tx hoist.Tx, r hoist.Request, sess hoist.Session, now time.Time) error {
	if sess.Agent == "" {
		return nil
	}
	if s.signer == nil {
		return hoist.Errorf(hoist.EUnavailable, "this server cannot sign grants")
	}
	grant, err := hoist.SignGrant(s.signer.GrantKey(), hoist.Grant{Agent: sess.Agent, User: sess.User, Request: sess.RequestID, Session: sess.ID,
		NotBefore: sess.NotBefore, NotAfter: sess.NotAfter, Scope: hoist.GrantScopeJIT})
	if err != nil {
		return err
	}
	return s.pushDecision(ctx, tx, hoist.AgentEvent{AgentID: sess.Agent, Kind: hoist.AgentEventExtended, RequestID: r.ID,
		SessionID: sess.ID, User: sess.User, Grant: grant, CreatedAt: now})
}

// ApproverWarnings returns the warnings about policy p's approvals that
// only the accounts can tell: a jit-startup policy whose
// approvals_required is more than the enabled accounts that may approve
// (of its approver role). Such a policy is saved all the same: accounts
// may be added next; until then its requests can only expire.
func (s *Service) ApproverWarnings(ctx context.Context, p hoist.Policy) ([]hoist.LintFinding, error) {
	if p.Kind != hoist.KindJITStartup || p.Startup == nil || p.Startup.ApprovalsRequired <= 1 {
		return nil, nil
	}
	var as []hoist.Admin
	if err := s.store.View(ctx, func(tx hoist.Tx) (err error) { as, err = tx.Admins(ctx); return err }); err != nil {
		return nil, err
	}
	n := 0
	for _, a := range as {
		if !a.Disabled && (a.Role == hoist.RoleAdmin || (a.Role == hoist.RoleApprover && p.Startup.ApproverRole != string(hoist.RoleAdmin))) {
			n++
		}
	}
	if n >= p.Startup.ApprovalsRequired {
		return nil, nil
	}
	return []hoist.LintFinding{{Severity: hoist.LintWarning, Field: "startup.approvals_required", Code: "too_few_approvers",
		Message: fmt.Sprintf("%d distinct approvers are required, but only %d enabled accounts may approve: requests under this policy cannot be approved until there are more", p.Startup.ApprovalsRequired, n)}}, nil
}
