package control

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

// Seed makes what a new server needs besides its first admin: the default
// computer group and the three JIT policies, inactive. It adds nothing to a
// store that has them, so every start (and every replica) may call it.
// It also deactivates the stored elevate, justify and allow policies of
// the old args form (see deactivateLegacyArgs).
func (s *Service) Seed(ctx context.Context) error {
	if err := s.seed(ctx); err != nil {
		return err
	}
	return s.deactivateLegacyArgs(ctx)
}

func (s *Service) seed(ctx context.Context) error {
	now := s.now()
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		if _, err := tx.Group(ctx, hoist.DefaultGroup); hoist.ErrorCode(err) != hoist.ENotFound {
			return err
		}
		g := hoist.ComputerGroup{ID: hoist.NewID(hoist.GroupIDPrefix), Name: hoist.DefaultGroup,
			Description: "Every enrolled Linux machine.", Priority: -1000, Version: 1, CreatedAt: now, UpdatedAt: now, UpdatedBy: "hoist"}
		if err := tx.InsertGroup(ctx, g); err != nil {
			return err
		}
		for _, p := range hoist.SamplePolicies(now) {
			if err := tx.InsertPolicy(ctx, p); err != nil {
				return err
			}
		}
		return audit(ctx, tx, now, "hoist", "policy.seeded", g.ID, map[string]any{"group": g.Name})
	})
	if hoist.ErrorCode(err) == hoist.EConflict {
		return nil // another replica seeded first
	}
	return err
}

// Policies lists every policy.
func (s *Service) Policies(ctx context.Context, a Actor) (ps []hoist.Policy, err error) {
	if err := a.require(hoist.PermitReadRequests); err != nil {
		return nil, err
	}
	err = s.store.View(ctx, func(tx hoist.Tx) (err error) { ps, err = tx.Policies(ctx); return err })
	return ps, err
}

// Policy returns the policy with id or exact name key.
func (s *Service) Policy(ctx context.Context, a Actor, key string) (p hoist.Policy, err error) {
	if err := a.require(hoist.PermitReadRequests); err != nil {
		return p, err
	}
	if err := checkKey(key); err != nil {
		return p, err
	}
	err = s.store.View(ctx, func(tx hoist.Tx) (err error) { p, err = tx.Policy(ctx, key); return err })
	return p, err
}

func checkKey(key string) error {
	if key == "" || len(key) > 100 || strings.ContainsAny(key, "\x00\n") {
		return hoist.Errorf(hoist.EInvalid, "name a policy or group by its id or exact name")
	}
	return nil
}

// CreatePolicy validates p and stores it as a new policy.
func (s *Service) CreatePolicy(ctx context.Context, a Actor, p hoist.Policy) (hoist.Policy, error) {
	if err := a.require(hoist.PermitManagePolicies); err != nil {
		return p, err
	}
	now := s.now()
	p.ID, p.Version, p.CreatedAt, p.UpdatedAt, p.UpdatedBy = hoist.NewID(hoist.PolicyIDPrefix), 1, now, now, a.Name
	if err := p.Validate(); err != nil {
		return p, err
	}
	if err := lint(p); err != nil {
		return p, err
	}
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		if err := knownGroups(ctx, tx, p.Groups); err != nil {
			return err
		}
		if err := tx.InsertPolicy(ctx, p); err != nil {
			return err
		}
		return s.policyChanged(ctx, tx, a, "policy.created", p, nil)
	})
	return p, s.woke(err)
}

// UpdatePolicy replaces the policy key with p. p.Version must be the
// version the editor started from: a concurrent change is not overwritten.
func (s *Service) UpdatePolicy(ctx context.Context, a Actor, key string, p hoist.Policy) (hoist.Policy, error) {
	return s.changePolicy(ctx, a, key, "policy.updated", func(cur hoist.Policy) (hoist.Policy, error) {
		if p.Version != 0 && p.Version != cur.Version {
			return cur, hoist.Errorf(hoist.EConflict, "policy %q was changed by someone else (version %d, you edited %d); reload and try again", cur.Name, cur.Version, p.Version)
		}
		p.ID, p.CreatedAt = cur.ID, cur.CreatedAt
		if p.Validate() == nil { // an invalid policy is refused below, with every field named
			if err := lint(p); err != nil {
				return cur, err
			}
		}
		return p, nil
	})
}

// lint refuses what the policy linter refuses (hoist.LintPolicy): a
// policy that elevates a shell, an interpreter, or a program that gives
// root away with the arguments it allows. Its warnings are the caller's to
// show (hoist.LintWarnings); they do not stop the change.
func lint(p hoist.Policy) error {
	return hoist.LintError(hoist.LintPolicy(p))
}

// SetPolicyActive activates or deactivates the policy key.
func (s *Service) SetPolicyActive(ctx context.Context, a Actor, key string, active bool) (hoist.Policy, error) {
	action := "policy.deactivated"
	if active {
		action = "policy.activated"
	}
	return s.changePolicy(ctx, a, key, action, func(cur hoist.Policy) (hoist.Policy, error) {
		cur.Active = active
		if active {
			// A policy stored before the linter existed is not switched on
			// if it refuses it; switching off is always allowed.
			if err := lint(cur); err != nil {
				return cur, err
			}
		}
		return cur, nil
	})
}

// changePolicy applies edit to the stored policy key, validates the result,
// and stores it with the change audited and pushed.
func (s *Service) changePolicy(ctx context.Context, a Actor, key, action string, edit func(hoist.Policy) (hoist.Policy, error)) (p hoist.Policy, err error) {
	if err := a.require(hoist.PermitManagePolicies); err != nil {
		return p, err
	}
	if err := checkKey(key); err != nil {
		return p, err
	}
	now := s.now()
	err = s.store.Update(ctx, func(tx hoist.Tx) error {
		cur, err := tx.Policy(ctx, key)
		if err != nil {
			return err
		}
		if p, err = edit(cur); err != nil {
			return err
		}
		p.Version, p.UpdatedAt, p.UpdatedBy = cur.Version+1, now, a.Name
		if err := p.Validate(); err != nil {
			return err
		}
		if err := knownGroups(ctx, tx, p.Groups); err != nil {
			return err
		}
		if err := tx.UpdatePolicy(ctx, p); err != nil {
			return err
		}
		return s.policyChanged(ctx, tx, a, action, p, &cur)
	})
	return p, s.woke(err)
}

// DuplicatePolicy copies the policy key under a new name, for other groups
// (the same groups when none are named). The copy starts inactive.
func (s *Service) DuplicatePolicy(ctx context.Context, a Actor, key, name string, groups []string) (p hoist.Policy, err error) {
	if err := a.require(hoist.PermitManagePolicies); err != nil {
		return p, err
	}
	if err := checkKey(key); err != nil {
		return p, err
	}
	now := s.now()
	err = s.store.Update(ctx, func(tx hoist.Tx) error {
		src, err := tx.Policy(ctx, key)
		if err != nil {
			return err
		}
		p = src
		p.ID, p.Version, p.Active, p.CreatedAt, p.UpdatedAt, p.UpdatedBy = hoist.NewID(hoist.PolicyIDPrefix), 1, false, now, now, a.Name
		p.Name = name
		if p.Name == "" {
			p.Name = src.Name + " (copy)"
		}
		if len(groups) > 0 {
			p.Groups = groups
		}
		if err := p.Validate(); err != nil {
			return err
		}
		if err := lint(p); err != nil {
			return err
		}
		if err := knownGroups(ctx, tx, p.Groups); err != nil {
			return err
		}
		if err := tx.InsertPolicy(ctx, p); err != nil {
			return err
		}
		return s.policyChanged(ctx, tx, a, "policy.duplicated", p, &src)
	})
	return p, s.woke(err)
}

// DeletePolicy removes the policy key.
func (s *Service) DeletePolicy(ctx context.Context, a Actor, key string) error {
	if err := a.require(hoist.PermitManagePolicies); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	now := s.now()
	return s.woke(s.store.Update(ctx, func(tx hoist.Tx) error {
		cur, err := tx.Policy(ctx, key)
		if err != nil {
			return err
		}
		if err := tx.DeletePolicy(ctx, cur.ID); err != nil {
			return err
		}
		if err := audit(ctx, tx, now, a.Name, "policy.deleted", cur.ID, map[string]any{"name": cur.Name, "kind": cur.Kind}); err != nil {
			return err
		}
		return broadcastPolicyChange(ctx, tx)
	}))
}

// policyChanged audits a change of p (from prev, when there was one) and
// tells every agent to fetch its bundle.
func (s *Service) policyChanged(ctx context.Context, tx hoist.Tx, a Actor, action string, p hoist.Policy, prev *hoist.Policy) error {
	detail := map[string]any{"name": p.Name, "kind": p.Kind, "active": p.Active, "groups": p.Groups, "version": p.Version, "policy": p}
	if prev != nil {
		detail["from"] = prev.ID
		detail["previous_version"] = prev.Version
	}
	if err := audit(ctx, tx, p.UpdatedAt, a.Name, action, p.ID, detail); err != nil {
		return err
	}
	return broadcastPolicyChange(ctx, tx)
}

// broadcastPolicyChange queues the event that makes every agent check in
// for its bundle; an agent whose bundle did not change is sent nothing more.
func broadcastPolicyChange(ctx context.Context, tx hoist.Tx) error {
	if _, err := tx.AppendAgentEvent(ctx, hoist.AgentEvent{AgentID: hoist.AllAgents, Kind: hoist.AgentEventPolicy}); err != nil {
		return err
	}
	return tx.NotifyAgent(ctx, hoist.AllAgents)
}

func knownGroups(ctx context.Context, tx hoist.Tx, names []string) error {
	for _, n := range names {
		if _, err := tx.Group(ctx, n); err != nil {
			if hoist.ErrorCode(err) == hoist.ENotFound {
				return &hoist.Error{Code: hoist.EInvalid, Message: fmt.Sprintf("unknown computer group %q", n), Fields: map[string]string{"groups": fmt.Sprintf("no group named %q", n)}}
			}
			return err
		}
	}
	return nil
}

// Groups lists every computer group.
func (s *Service) Groups(ctx context.Context, a Actor) (gs []hoist.ComputerGroup, err error) {
	if err := a.require(hoist.PermitReadRequests); err != nil {
		return nil, err
	}
	err = s.store.View(ctx, func(tx hoist.Tx) (err error) { gs, err = tx.Groups(ctx); return err })
	return gs, err
}

// Group returns the group with id or exact name key.
func (s *Service) Group(ctx context.Context, a Actor, key string) (g hoist.ComputerGroup, err error) {
	if err := a.require(hoist.PermitReadRequests); err != nil {
		return g, err
	}
	if err := checkKey(key); err != nil {
		return g, err
	}
	err = s.store.View(ctx, func(tx hoist.Tx) (err error) { g, err = tx.Group(ctx, key); return err })
	return g, err
}

// CreateGroup stores a new computer group.
func (s *Service) CreateGroup(ctx context.Context, a Actor, g hoist.ComputerGroup) (hoist.ComputerGroup, error) {
	if err := a.require(hoist.PermitManagePolicies); err != nil {
		return g, err
	}
	now := s.now()
	g.ID, g.Version, g.CreatedAt, g.UpdatedAt, g.UpdatedBy = hoist.NewID(hoist.GroupIDPrefix), 1, now, now, a.Name
	if err := g.Validate(); err != nil {
		return g, err
	}
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		if err := checkConfigPolicies(ctx, tx, g); err != nil {
			return err
		}
		if err := tx.InsertGroup(ctx, g); err != nil {
			return err
		}
		if err := audit(ctx, tx, now, a.Name, "group.created", g.ID, map[string]any{"name": g.Name, "group": g}); err != nil {
			return err
		}
		return broadcastPolicyChange(ctx, tx)
	})
	return g, s.woke(err)
}

// UpdateGroup replaces the group key's description, priority, rules and
// configuration with g's. A group keeps its name: policies and enrolment
// tokens name it.
func (s *Service) UpdateGroup(ctx context.Context, a Actor, key string, g hoist.ComputerGroup) (hoist.ComputerGroup, error) {
	return s.changeGroup(ctx, a, key, "group.updated", func(cur hoist.ComputerGroup) (hoist.ComputerGroup, error) {
		if g.Version != 0 && g.Version != cur.Version {
			return cur, hoist.Errorf(hoist.EConflict, "group %q was changed by someone else; reload and try again", cur.Name)
		}
		if g.Name != "" && g.Name != cur.Name {
			return cur, &hoist.Error{Code: hoist.EInvalid, Message: "a group cannot be renamed: policies and enrolment tokens name it", Fields: map[string]string{"name": "cannot be changed"}}
		}
		if cur.Name == hoist.DefaultGroup && !g.Rules.Empty() {
			return cur, &hoist.Error{Code: hoist.EInvalid, Message: "the default group holds every agent; it has no rules", Fields: map[string]string{"rules": "not for the default group"}}
		}
		g.ID, g.Name, g.CreatedAt = cur.ID, cur.Name, cur.CreatedAt
		return g, nil
	})
}

// SetGroupConfig replaces the agent configuration of the group key.
func (s *Service) SetGroupConfig(ctx context.Context, a Actor, key string, c hoist.AgentConfig) (hoist.ComputerGroup, error) {
	return s.SetGroupConfigAt(ctx, a, key, c, 0)
}

// SetGroupConfigAt is SetGroupConfig for an edit made on version of the
// group: when the group has changed since (version is not its current one),
// the edit is refused with EConflict rather than undoing that change.
// Version 0 skips the check.
func (s *Service) SetGroupConfigAt(ctx context.Context, a Actor, key string, c hoist.AgentConfig, version int) (hoist.ComputerGroup, error) {
	return s.changeGroup(ctx, a, key, "group.config_changed", func(cur hoist.ComputerGroup) (hoist.ComputerGroup, error) {
		if version != 0 && version != cur.Version {
			return cur, hoist.Errorf(hoist.EConflict, "group %q was changed by someone else (version %d, you edited %d); reload and try again", cur.Name, cur.Version, version)
		}
		cur.Config = c
		return cur, nil
	})
}

func (s *Service) changeGroup(ctx context.Context, a Actor, key, action string, edit func(hoist.ComputerGroup) (hoist.ComputerGroup, error)) (g hoist.ComputerGroup, err error) {
	if err := a.require(hoist.PermitManagePolicies); err != nil {
		return g, err
	}
	if err := checkKey(key); err != nil {
		return g, err
	}
	now := s.now()
	err = s.store.Update(ctx, func(tx hoist.Tx) error {
		cur, err := tx.Group(ctx, key)
		if err != nil {
			return err
		}
		if g, err = edit(cur); err != nil {
			return err
		}
		g.Version, g.UpdatedAt, g.UpdatedBy = cur.Version+1, now, a.Name
		if err := g.Validate(); err != nil {
			return err
		}
		if configDurationsChanged(cur.Config, g.Config) {
			if err := checkConfigPolicies(ctx, tx, g); err != nil {
				return err
			}
		}
		if err := tx.UpdateGroup(ctx, g); err != nil {
			return err
		}
		if err := audit(ctx, tx, now, a.Name, action, g.ID, map[string]any{"name": g.Name, "group": g, "previous_version": cur.Version}); err != nil {
			return err
		}
		return broadcastPolicyChange(ctx, tx)
	})
	return g, s.woke(err)
}

// checkConfigPolicies checks g's configuration against the active JIT
// startup policies its agents meet (see hoist.AgentConfig.CheckAgainst).
func checkConfigPolicies(ctx context.Context, tx hoist.Tx, g hoist.ComputerGroup) error {
	ps, err := tx.Policies(ctx)
	if err != nil {
		return err
	}
	var startup []hoist.Policy
	for _, p := range ps {
		if p.Active && p.Kind == hoist.KindJITStartup {
			startup = append(startup, p)
		}
	}
	return g.Config.CheckAgainst(g.Name, startup)
}

// configDurationsChanged reports whether an edit touches the fields
// checkConfigPolicies judges: a group whose stored configuration a later
// policy made too long can still have its description edited.
func configDurationsChanged(old, next hoist.AgentConfig) bool {
	same := func(a, b *hoist.Duration) bool { return (a == nil) == (b == nil) && (a == nil || *a == *b) }
	return !same(old.DefaultDuration, next.DefaultDuration) || !same(old.MaxDuration, next.MaxDuration)
}

// DeleteGroup removes the group key. The default group stays, and so does a
// group that policies still target: say which, rather than leave them
// pointing at nothing.
func (s *Service) DeleteGroup(ctx context.Context, a Actor, key string) error {
	if err := a.require(hoist.PermitManagePolicies); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	now := s.now()
	return s.woke(s.store.Update(ctx, func(tx hoist.Tx) error {
		cur, err := tx.Group(ctx, key)
		if err != nil {
			return err
		}
		if cur.Name == hoist.DefaultGroup {
			return hoist.Errorf(hoist.EConflict, "the default group %q cannot be deleted", cur.Name)
		}
		ps, err := tx.Policies(ctx)
		if err != nil {
			return err
		}
		var using []string
		for _, p := range ps {
			if slices.Contains(p.Groups, cur.Name) {
				using = append(using, p.Name)
			}
		}
		if len(using) > 0 {
			return hoist.Errorf(hoist.EConflict, "policies target group %q: %s; change them first", cur.Name, strings.Join(using, ", "))
		}
		if err := tx.DeleteGroup(ctx, cur.ID); err != nil {
			return err
		}
		if err := audit(ctx, tx, now, a.Name, "group.deleted", cur.ID, map[string]any{"name": cur.Name}); err != nil {
			return err
		}
		// After the audit append, which serializes writers: an account given
		// this group meanwhile is seen (see UpdateAdmin).
		if scoped, err := accountsScopedTo(ctx, tx, cur.Name); err != nil {
			return err
		} else if len(scoped) > 0 {
			return hoist.Errorf(hoist.EConflict, "accounts approve for group %q: %s; change their approver groups first", cur.Name, strings.Join(scoped, ", "))
		}
		return broadcastPolicyChange(ctx, tx)
	}))
}

// woke wakes every agent's long poll once a change that broadcasts has
// committed (err nil); other servers hear of it by NOTIFY.
func (s *Service) woke(err error) error {
	if err == nil {
		s.notify.wake(hoist.AllAgents)
	}
	return err
}

// bundleOf builds agent a's bundle from the store.
func bundleOf(ctx context.Context, tx hoist.Tx, a hoist.AgentRecord) (hoist.Bundle, []hoist.HeldBack, error) {
	groups, err := tx.Groups(ctx)
	if err != nil {
		return hoist.Bundle{}, nil, err
	}
	policies, err := tx.Policies(ctx)
	if err != nil {
		return hoist.Bundle{}, nil, err
	}
	b, held := hoist.BuildBundle(a, groups, policies)
	return b, held, nil
}

// AgentViews lists the agents with their groups and what is held back.
func (s *Service) AgentViews(ctx context.Context, a Actor) (out []wire.AgentView, err error) {
	if err := a.require(hoist.PermitReadRequests); err != nil {
		return nil, err
	}
	err = s.store.View(ctx, func(tx hoist.Tx) error {
		agents, err := tx.Agents(ctx)
		if err != nil {
			return err
		}
		groups, err := tx.Groups(ctx)
		if err != nil {
			return err
		}
		policies, err := tx.Policies(ctx)
		if err != nil {
			return err
		}
		codes, err := tx.EmergencyCodes(ctx)
		if err != nil {
			return err
		}
		names := hoist.NameAgents(agents)
		for _, ag := range agents {
			b, held := hoist.BuildBundle(ag, groups, policies)
			b.AddEmergency(codes, ag.ID, s.now()) // as Checkin delivers it: see emergency.go
			if held == nil {
				held = []hoist.HeldBack{}
			}
			n := names[ag.ID]
			out = append(out, wire.AgentView{AgentRecord: ag, Groups: b.Groups, HeldBack: held, Current: ag.Revision == b.Revision,
				Name: n.Name, DuplicateHostname: n.Duplicate(), DuplicateOf: n.SharedWith, HostnameMismatch: n.Mismatch,
				Connected: !ag.Revoked && s.presence.connected(ag.ID, s.now())})
		}
		return nil
	})
	return out, err
}
