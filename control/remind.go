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
// each request pending longer than the reminder time. Several servers may
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
		err := s.store.Update(ctx, func(tx hoist.Tx) error {
			reminded := false
			err := tx.Audit(ctx, hoist.AuditFilter{Action: hoist.EventApprovalReminder, Subject: r.ID, Limit: 1}, func(hoist.AuditRecord) error {
				reminded = true
				return nil
			})
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
