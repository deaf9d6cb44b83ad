package control

import (
	"context"
	"time"

	"github.com/hoist-jit/hoist"
)

// Agents' names. The hostname an agent reports is a claim: any enrolled
// agent may report any hostname. So the server flags what approvers must
// not take on trust — two live agents with one name, a reported hostname
// that changed or that differs from the name an admin pinned — and lets an
// admin pin a name, which from then on is the agent's name everywhere.

// Audit actions about agents' names.
const (
	AuditHostnameChanged  = "agent.hostname_changed"
	AuditHostnameMismatch = "agent.hostname_mismatch"
	AuditNamePinned       = "agent.name_pinned"
	AuditNameUnpinned     = "agent.name_unpinned"
)

// auditHostname records that agent a, which now reports a.Hostname,
// reported old before; and, when its name is pinned and the new hostname is
// not it, that too. The check-in that sees the change calls it, so each
// change is recorded once.
func auditHostname(ctx context.Context, tx hoist.Tx, now time.Time, a hoist.AgentRecord, old string) error {
	detail := map[string]any{"old": old, "new": a.Hostname}
	if a.PinnedName != "" {
		detail["pinned_name"] = a.PinnedName
	}
	if err := audit(ctx, tx, now, a.ID, AuditHostnameChanged, a.ID, detail); err != nil {
		return err
	}
	if !a.HostnameMismatch() {
		return nil
	}
	return audit(ctx, tx, now, a.ID, AuditHostnameMismatch, a.ID, map[string]any{"pinned_name": a.PinnedName, "hostname": a.Hostname})
}

// notePinHolder sets a.NameTakenBy to the live agent whose pinned name a
// now reports (none: empty). Only a check-in that changed the hostname
// calls it, so that the usual check-in does not read every agent; pinning
// and unpinning update the others (see repin).
func notePinHolder(ctx context.Context, tx hoist.Tx, a *hoist.AgentRecord) error {
	agents, err := tx.Agents(ctx)
	if err != nil {
		return err
	}
	a.NameTakenBy = a.PinHolder(agents)
	return nil
}

// repin brings every other agent's NameTakenBy up to date after the pinned
// name of rec changed, and returns the ids of those it changed.
func repin(ctx context.Context, tx hoist.Tx, rec hoist.AgentRecord) ([]string, error) {
	agents, err := tx.Agents(ctx)
	if err != nil {
		return nil, err
	}
	for i := range agents {
		if agents[i].ID == rec.ID {
			agents[i] = rec
		}
	}
	var changed []string
	for _, o := range agents {
		if o.ID == rec.ID || o.Revoked {
			continue
		}
		if holder := o.PinHolder(agents); holder != o.NameTakenBy {
			o.NameTakenBy = holder
			if err := tx.UpdateAgent(ctx, o); err != nil {
				return nil, err
			}
			changed = append(changed, o.ID)
		}
	}
	return changed, nil
}

// AgentNames returns every agent's name with its warnings (see
// hoist.NameAgents), for showing requests and sessions beside the agents
// that filed them.
func (s *Service) AgentNames(ctx context.Context, a Actor) (hoist.AgentNames, error) {
	if err := a.require(hoist.PermitReadRequests); err != nil {
		return nil, err
	}
	var agents []hoist.AgentRecord
	err := s.store.View(ctx, func(tx hoist.Tx) (err error) { agents, err = tx.Agents(ctx); return err })
	if err != nil {
		return nil, err
	}
	return hoist.NameAgents(agents), nil
}

// PinAgentName makes name the agent's name: requests and sessions it files
// from now on carry it, computer-group hostname rules match it, and the
// hostname the agent reports is shown beside it and flagged when it
// differs. Pinning the name the agent already has changes nothing.
//
// It fails with EInvalid (field "name") for a name that is not a hostname,
// ENotFound for an unknown agent, and EConflict when the agent is revoked
// or another agent not revoked has the name pinned.
func (s *Service) PinAgentName(ctx context.Context, a Actor, id, name string) (rec hoist.AgentRecord, err error) {
	var others []string
	if err := a.require(hoist.PermitManageAgents); err != nil {
		return rec, err
	}
	if err := hoist.CheckAgentName(name); err != nil {
		return rec, err
	}
	if !hoist.ValidID(hoist.AgentIDPrefix, id) {
		return rec, hoist.Errorf(hoist.ENotFound, "no agent %q", id)
	}
	now := s.now()
	err = s.store.Update(ctx, func(tx hoist.Tx) error {
		if rec, err = tx.AgentByID(ctx, id); err != nil {
			return err
		}
		if rec.Revoked {
			return hoist.Errorf(hoist.EConflict, "agent %s is revoked", id)
		}
		if rec.PinnedName == name {
			return nil
		}
		previous := rec.PinnedName
		rec.PinnedName, rec.PinnedBy = name, a.Name
		// The record first: appending takes the audit head's lock, so that
		// two pins of one name, even on two replicas, are checked one
		// after the other and the second sees the first.
		if err := audit(ctx, tx, now, a.Name, AuditNamePinned, id, map[string]any{
			"name": name, "previous": previous, "hostname": rec.Hostname, "hostname_mismatch": rec.HostnameMismatch()}); err != nil {
			return err
		}
		if err := uniquePin(ctx, tx, rec); err != nil {
			return err
		}
		rec.NameTakenBy = ""
		if err := tx.UpdateAgent(ctx, rec); err != nil {
			return err
		}
		if others, err = repin(ctx, tx, rec); err != nil {
			return err
		}
		return askCheckins(ctx, tx, append(others, id))
	})
	if err != nil {
		return hoist.AgentRecord{}, err
	}
	s.renamed(append(others, id)) // their next requests are filed under their new names
	return rec, nil
}

// uniquePin refuses rec's pinned name when another agent not revoked has
// it pinned.
func uniquePin(ctx context.Context, tx hoist.Tx, rec hoist.AgentRecord) error {
	agents, err := tx.Agents(ctx)
	if err != nil {
		return err
	}
	for _, o := range agents {
		if o.ID != rec.ID && !o.Revoked && o.PinnedName != "" && hoist.SameAgentName(o.PinnedName, rec.PinnedName) {
			return &hoist.Error{Code: hoist.EConflict, Message: "agent " + o.ID + " (reporting " + o.Hostname + ") already has the name " + o.PinnedName + " pinned",
				Fields: map[string]string{"name": "pinned to agent " + o.ID}}
		}
	}
	return nil
}

// UnpinAgentName removes the agent's pinned name: it goes by the hostname
// it reports again. Unpinning an agent without a pin changes nothing. It
// fails with ENotFound for an unknown agent.
func (s *Service) UnpinAgentName(ctx context.Context, a Actor, id string) (rec hoist.AgentRecord, err error) {
	var others []string
	if err := a.require(hoist.PermitManageAgents); err != nil {
		return rec, err
	}
	if !hoist.ValidID(hoist.AgentIDPrefix, id) {
		return rec, hoist.Errorf(hoist.ENotFound, "no agent %q", id)
	}
	now := s.now()
	err = s.store.Update(ctx, func(tx hoist.Tx) error {
		if rec, err = tx.AgentByID(ctx, id); err != nil {
			return err
		}
		if rec.PinnedName == "" {
			return nil
		}
		old := rec.PinnedName
		rec.PinnedName, rec.PinnedBy = "", ""
		if err := notePinHolder(ctx, tx, &rec); err != nil {
			return err
		}
		if err := tx.UpdateAgent(ctx, rec); err != nil {
			return err
		}
		if err := audit(ctx, tx, now, a.Name, AuditNameUnpinned, id, map[string]any{"name": old, "hostname": rec.Hostname}); err != nil {
			return err
		}
		if others, err = repin(ctx, tx, rec); err != nil {
			return err
		}
		return askCheckins(ctx, tx, append(others, id))
	})
	if err != nil {
		return hoist.AgentRecord{}, err
	}
	s.renamed(append(others, id))
	return rec, nil
}

// askCheckins is askCheckin for each of ids.
func askCheckins(ctx context.Context, tx hoist.Tx, ids []string) error {
	for _, id := range ids {
		if err := askCheckin(ctx, tx, id); err != nil {
			return err
		}
	}
	return nil
}

// renamed forgets the cached records of the agents ids, whose names
// changed, and wakes them to check in.
func (s *Service) renamed(ids []string) {
	for _, id := range ids {
		s.agents.drop(id)
		s.notify.wake(id)
	}
}

// askCheckin queues the event that makes agent id check in now: its name
// decides which computer groups' rules it matches, so its bundle may have
// changed.
func askCheckin(ctx context.Context, tx hoist.Tx, id string) error {
	if _, err := tx.AppendAgentEvent(ctx, hoist.AgentEvent{AgentID: id, Kind: hoist.AgentEventPolicy}); err != nil {
		return err
	}
	return tx.NotifyAgent(ctx, id)
}
