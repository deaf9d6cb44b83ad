package control

import (
	"context"
	"time"

	"github.com/hoist-jit/hoist"
)

// DefaultReminderAfter is how long a request waits before its approvers are
// reminded of it.
const DefaultReminderAfter = 10 * time.Minute

// remind audits an approval.reminder (and so queues the event) once for
// each request pending longer than the reminder time. Deliver calls it
// only while some sink is routed reminders. Several servers may
// remind at once: the check and the record are one transaction per request,
// and a request reminded meanwhile is skipped.
func (s *Service) remind(ctx context.Context) error {
	if s.remindAfter < 0 {
		return nil
	}
	now := s.now()
	var pending []hoist.Request
	err := s.store.View(ctx, func(tx hoist.Tx) (err error) {
		pending, err = tx.Requests(ctx, hoist.RequestFilter{State: hoist.RequestPending, Limit: hoist.MaxListLimit})
		return err
	})
	if err != nil {
		return err
	}
	for _, r := range pending {
		if now.Sub(r.CreatedAt) < s.remindAfter || !now.Before(r.ExpiresAt) {
			continue
		}
		// Read first: a write transaction only for a reminder to record.
		var reminded bool
		if err := s.store.View(ctx, func(tx hoist.Tx) (err error) { reminded, err = wasReminded(ctx, tx, r.ID); return err }); err != nil {
			return err
		}
		if reminded {
			continue
		}
		err := s.store.Update(ctx, func(tx hoist.Tx) error {
			reminded, err := wasReminded(ctx, tx, r.ID)
			if err != nil || reminded {
				return err
			}
			cur, err := tx.Request(ctx, r.ID)
			if err != nil || cur.State != hoist.RequestPending {
				return err
			}
			return audit(ctx, tx, now, SystemActor, hoist.EventApprovalReminder, r.ID, map[string]any{
				"waiting": hoist.FormatDuration(now.Sub(r.CreatedAt).Truncate(time.Second))})
		})
		if err != nil && hoist.ErrorCode(err) != hoist.EConflict {
			return err
		}
	}
	return nil
}

// wasReminded reports whether the request's approvers were reminded.
func wasReminded(ctx context.Context, tx hoist.Tx, id string) (bool, error) {
	reminded := false
	err := tx.Audit(ctx, hoist.AuditFilter{Action: hoist.EventApprovalReminder, Subject: id, Limit: 1}, func(hoist.AuditRecord) error {
		reminded = true
		return nil
	})
	return reminded, err
}
