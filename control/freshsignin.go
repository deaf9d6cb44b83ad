package control

import (
	"context"
	"time"

	"github.com/hoist-jit/hoist"
)

// FreshSignIn is how young the caller's sign-in (the age of its token or
// console session) must be to add or remove a second factor. A stolen
// token or cookie is most often an old one: without this, its holder adds
// a passkey of their own and passes every step-up with it.
const FreshSignIn = 5 * time.Minute

// AuditSecondFactorRefused records a change of second factor refused for
// a sign-in older than FreshSignIn.
const AuditSecondFactorRefused = "admin.second_factor_refused"

// requireFreshSignIn fails with EForbidden, audited, when a signed in
// FreshSignIn or longer ago (or by no sign-in the server knows of); what
// names the change refused.
func (s *Service) requireFreshSignIn(ctx context.Context, a Actor, what string) error {
	now := s.now()
	if !a.SignedIn.IsZero() && now.Sub(a.SignedIn) < FreshSignIn {
		return nil
	}
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		return audit(ctx, tx, now, a.Name, AuditSecondFactorRefused, a.ID, map[string]any{"change": what, "why": "sign-in older than 5 minutes"})
	})
	if err != nil {
		return err
	}
	return hoist.Errorf(hoist.EForbidden, "sign in again to add or remove a second factor (your sign-in is older than 5 minutes)")
}
