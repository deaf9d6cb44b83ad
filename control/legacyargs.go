package control

import (
	"context"

	"github.com/hoist-jit/hoist"
)

// deactivateLegacyArgs turns off every active elevate, justify or allow
// policy that still has the old joined-string args, which extra arguments
// could satisfy (`apt-get update -o APT::Update::Pre-Invoke::=…` ran a
// command as root). It fails closed: the policy stays stored with its
// args, so the administrator sees it and its validation error (the field
// to rewrite as argv), and it cannot be activated again until it is
// rewritten. Each deactivation is audited as policy.deactivated by
// "hoist". A policy already inactive is left alone, so every start (and
// every replica) may call it.
//
// A legacy deny or audit stays active: turning it off would elevate what
// it used to deny under a broader elevate policy. Agents receive it with
// args cleared (hoist.BuildBundle), a deny of the whole program and an
// audit of every run, until the administrator rewrites it.
func (s *Service) deactivateLegacyArgs(ctx context.Context) error {
	now := s.now()
	changed := false
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		ps, err := tx.Policies(ctx)
		if err != nil {
			return err
		}
		changed = false // a retried transaction starts over
		for _, p := range ps {
			if !p.Active || p.Kind != hoist.KindApplication || p.Application == nil || p.Application.Args == "" || keptLegacy(p.Application) {
				continue
			}
			prev := p
			p.Active, p.Version, p.UpdatedAt, p.UpdatedBy = false, p.Version+1, now, "hoist"
			if err := tx.UpdatePolicy(ctx, p); err != nil {
				return err
			}
			detail := map[string]any{"name": p.Name, "kind": p.Kind, "active": false, "groups": p.Groups, "version": p.Version,
				"previous_version": prev.Version, "args": p.Application.Args,
				"reason": "its application.args " + hoist.LegacyArgsRefused}
			if err := audit(ctx, tx, now, "hoist", "policy.deactivated", p.ID, detail); err != nil {
				return err
			}
			changed = true
		}
		if changed {
			return broadcastPolicyChange(ctx, tx)
		}
		return nil
	})
	if err != nil || !changed {
		return err
	}
	return s.woke(nil)
}

// keptLegacy reports whether a rule with the old args stays active: a deny
// or an audit, which agents apply to the program whatever its arguments.
func keptLegacy(r *hoist.ApplicationRule) bool {
	return r.Action == hoist.ActionDeny || r.Action == hoist.ActionAudit
}
