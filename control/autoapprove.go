package control

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/hoist-jit/hoist"
)

// errDayDone stops the count of a rule's approvals at the start of its day.
var errDayDone = errors.New("the day's approvals are counted")

// autoApprove approves the pending jit request r by the first of rules
// that covers it (who, where, how long, when, and how many today), as an
// approval by the rule's actor, rule:NAME: audited like any approval, the
// session started and its grant queued when it was the last approval the
// request needs. It returns the request as it is now and whether a rule
// approved it; no rule covering it is not an error.
func (s *Service) autoApprove(ctx context.Context, r hoist.Request, rules []hoist.AutoRule, ask hoist.AutoAsk) (hoist.Request, bool, error) {
	if r.State != hoist.RequestPending || r.KindOrJIT() != hoist.RequestKindJIT || len(rules) == 0 {
		return r, false, nil
	}
	ask.User, ask.Duration = r.User, r.RequestedDuration
	var (
		next hoist.Request
		sess hoist.Session
		by   string // the rule's actor, once one approved
	)
	err := s.decide(ctx, r.ID, func(tx hoist.Tx, cur hoist.Request, now time.Time) (err error) {
		if cur.State != hoist.RequestPending {
			return nil // decided meanwhile
		}
		rule, ok, err := s.ruleFor(ctx, tx, rules, ask, now)
		if err != nil || !ok {
			return err // no rule: it waits for an approver
		}
		by = hoist.AutoActor(rule.Name)
		note := "approved automatically by rule " + rule.Name
		next, sess, err = cur.Approve(hoist.Approval{Approver: by, Duration: cur.RequestedDuration, Reason: note}, s.settingsFor(cur.MaxDuration, 0), now)
		if err != nil {
			return err
		}
		if err := tx.UpdateRequest(ctx, next); err != nil {
			return err
		}
		if next.State == hoist.RequestPending { // one of several approvals the policy wants
			return audit(ctx, tx, now, by, AuditApprovalAdded, r.ID, map[string]any{
				"user": r.User, "host": r.Host, "duration": hoist.FormatDuration(cur.RequestedDuration),
				"reason": note, "approvals": next.ApprovalsNeeded(), "automatic": true,
			})
		}
		return s.startSession(ctx, tx, next, sess, by, note, now)
	})
	if err != nil || by == "" {
		return r, false, err
	}
	if next.State != hoist.RequestPending {
		s.notify.wake(next.Agent)
	}
	s.log.Info("request approved automatically", "request", r.ID, "by", by, "state", next.State)
	return next, true, nil
}

// ruleFor returns the first rule that covers ask at now and has not yet
// approved its PerDay requests of the user today.
func (s *Service) ruleFor(ctx context.Context, tx hoist.Tx, rules []hoist.AutoRule, ask hoist.AutoAsk, now time.Time) (hoist.AutoRule, bool, error) {
	for _, rule := range rules {
		if !rule.Covers(ask, now) {
			continue
		}
		if rule.PerDay > 0 {
			n, err := approvalsToday(ctx, tx, rule, ask.User, now)
			if err != nil {
				return rule, false, err
			}
			if n >= rule.PerDay {
				continue
			}
		}
		return rule, true, nil
	}
	return hoist.AutoRule{}, false, nil
}

// approvalsToday counts the approvals rule gave user since the start of
// its day, from the audit log (newest first, stopping at the day's start).
func approvalsToday(ctx context.Context, tx hoist.Tx, rule hoist.AutoRule, user string, now time.Time) (int, error) {
	since := rule.DayStart(now)
	n := 0
	err := tx.Audit(ctx, hoist.AuditFilter{Actor: hoist.AutoActor(rule.Name), Newest: true}, func(rec hoist.AuditRecord) error {
		if rec.Time.Before(since) {
			return errDayDone
		}
		if rec.Action != hoist.AuditRequestApproved && rec.Action != AuditApprovalAdded {
			return nil
		}
		var d struct {
			User string `json:"user"`
		}
		if json.Unmarshal(rec.Detail, &d) == nil && d.User == user {
			n++
		}
		return nil
	})
	if errors.Is(err, errDayDone) {
		err = nil
	}
	return n, err
}
