package control

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"time"

	"github.com/hoist-jit/hoist"
)

// Emergency codes (docs/offline.md): one-time codes an admin issues for a
// machine or a computer group, for when no approver can be reached. The
// server keeps their hashes; agents get the outstanding ones in their
// bundle (so a revoke reaches them at their next check-in, which the
// change asks for at once) and report a use, which the server records as
// used and raises as an alert.

// Audit actions of emergency codes.
const (
	AuditEmergencyIssued  = "emergency_code.issued"
	AuditEmergencyRevoked = "emergency_code.revoked"
	// AuditEmergencyUsed is also the integrations' event (hoist.EventEmergencyCodeUsed).
	AuditEmergencyUsed = hoist.EventEmergencyCodeUsed
)

// Limits of an issue.
const (
	MaxEmergencyCount     = 20
	DefaultEmergencyCount = 5
	// EmergencyCodeTTL is how long an issued code stays usable.
	EmergencyCodeTTL = 90 * 24 * time.Hour
)

// IssuedCode is an emergency code as issued: its value, shown this once.
type IssuedCode struct {
	hoist.EmergencyCode
	Code string `json:"code"`
}

// IssueEmergencyCodes makes count codes (DefaultEmergencyCount when zero,
// at most MaxEmergencyCount) for the agent (id or name) or the computer
// group, each granting window (hoist.EmergencyWindow when zero, at most
// hoist.MaxEmergencyWindow). Only the hashes are stored. Admins only.
func (s *Service) IssueEmergencyCodes(ctx context.Context, a Actor, agent, group string, count int, window time.Duration) ([]IssuedCode, error) {
	if err := a.require(hoist.PermitManageAgents); err != nil {
		return nil, err
	}
	bad := func(field, why string) error {
		return &hoist.Error{Code: hoist.EInvalid, Message: field + ": " + why, Fields: map[string]string{field: why}}
	}
	switch {
	case (agent == "") == (group == ""):
		return nil, bad("agent", "name either an agent or a group")
	case count < 0 || count > MaxEmergencyCount:
		return nil, bad("count", "from 1 to 20")
	case window < 0 || window > hoist.MaxEmergencyWindow || window > 0 && window < time.Minute:
		return nil, bad("window", "from 1m to "+hoist.FormatDuration(hoist.MaxEmergencyWindow))
	}
	if count == 0 {
		count = DefaultEmergencyCount
	}
	if window == 0 {
		window = hoist.EmergencyWindow
	}
	now := s.now()
	var out []IssuedCode
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		out = nil
		agentID, err := s.emergencyTarget(ctx, tx, agent, group)
		if err != nil {
			return err
		}
		for range count {
			v := randomEmergencyValue()
			c := hoist.EmergencyCode{ID: hoist.NewID(hoist.EmergencyIDPrefix), Hash: hoist.EmergencyCodeHash(v), Agent: agentID, Group: group,
				Window: window, CreatedBy: a.Name, CreatedAt: now, ExpiresAt: now.Add(EmergencyCodeTTL), Version: 1}
			if err := tx.InsertEmergencyCode(ctx, c); err != nil {
				return err
			}
			if err := audit(ctx, tx, now, a.Name, AuditEmergencyIssued, c.ID, map[string]any{"agent": agentID, "group": group,
				"window": hoist.FormatDuration(window), "expires_at": c.ExpiresAt}); err != nil {
				return err
			}
			out = append(out, IssuedCode{EmergencyCode: c, Code: hoist.FormatCode(v)})
		}
		return broadcastPolicyChange(ctx, tx) // agents check in for the codes
	})
	return out, err
}

// emergencyTarget checks what codes are issued for: the agent's id, or
// "" for an existing group.
func (s *Service) emergencyTarget(ctx context.Context, tx hoist.Tx, agent, group string) (string, error) {
	if group != "" {
		if _, err := tx.Group(ctx, group); err != nil {
			if hoist.ErrorCode(err) == hoist.ENotFound {
				return "", &hoist.Error{Code: hoist.ENotFound, Message: "no computer group " + group, Fields: map[string]string{"group": "no such group"}}
			}
			return "", err
		}
		return "", nil
	}
	agents, err := tx.Agents(ctx)
	if err != nil {
		return "", err
	}
	for _, ag := range agents {
		if !ag.Revoked && (ag.ID == agent || hoist.SameAgentName(ag.Name(), agent)) {
			return ag.ID, nil
		}
	}
	return "", &hoist.Error{Code: hoist.ENotFound, Message: "no enrolled agent " + agent, Fields: map[string]string{"agent": "no such agent"}}
}

// randomEmergencyValue is 55 random bits.
func randomEmergencyValue() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand does not fail on Linux
	return binary.BigEndian.Uint64(b[:]) >> 9
}

// EmergencyCodes lists the codes, newest first, without their values
// (which are not kept). Readers of requests may list them.
func (s *Service) EmergencyCodes(ctx context.Context, a Actor) (out []hoist.EmergencyCode, err error) {
	if err := a.require(hoist.PermitReadRequests); err != nil {
		return nil, err
	}
	err = s.store.View(ctx, func(tx hoist.Tx) (err error) {
		out, err = tx.EmergencyCodes(ctx)
		return err
	})
	return out, err
}

// RevokeEmergencyCode revokes the code with id; agents drop it at their
// next check-in, which the revoke asks for at once. A used or revoked code
// is EConflict. Admins only.
func (s *Service) RevokeEmergencyCode(ctx context.Context, a Actor, id string) (c hoist.EmergencyCode, err error) {
	if err := a.require(hoist.PermitManageAgents); err != nil {
		return c, err
	}
	now := s.now()
	err = s.store.Update(ctx, func(tx hoist.Tx) error {
		codes, err := tx.EmergencyCodes(ctx)
		if err != nil {
			return err
		}
		c, err = findCode(codes, id)
		if err != nil {
			return err
		}
		if !c.RevokedAt.IsZero() || !c.UsedAt.IsZero() {
			return hoist.Errorf(hoist.EConflict, "emergency code %s is already %s", id, map[bool]string{true: "revoked", false: "used"}[!c.RevokedAt.IsZero()])
		}
		c.RevokedAt, c.RevokedBy, c.Version = now, a.Name, c.Version+1
		if err := tx.UpdateEmergencyCode(ctx, c); err != nil {
			return err
		}
		if err := audit(ctx, tx, now, a.Name, AuditEmergencyRevoked, c.ID, map[string]any{"agent": c.Agent, "group": c.Group}); err != nil {
			return err
		}
		return broadcastPolicyChange(ctx, tx)
	})
	return c, err
}

func findCode(codes []hoist.EmergencyCode, id string) (hoist.EmergencyCode, error) {
	for _, c := range codes {
		if c.ID == id {
			return c, nil
		}
	}
	return hoist.EmergencyCode{}, hoist.Errorf(hoist.ENotFound, "no emergency code %s", id)
}

// addEmergency puts the agent's outstanding codes into its bundle b.
func addEmergency(ctx context.Context, tx hoist.Tx, b *hoist.Bundle, agentID string, now time.Time) error {
	codes, err := tx.EmergencyCodes(ctx)
	if err != nil {
		return err
	}
	b.AddEmergency(codes, agentID, now)
	return nil
}

// recordEmergencyUse records an agent's report that one of its emergency
// codes started a session: the code is used from now on (dropped from
// every bundle), and the use is an alert to the integrations. Called in
// the transaction that stores the agent's event.
func recordEmergencyUse(ctx context.Context, tx hoist.Tx, now time.Time, ag hoist.AgentRecord, sessionID string, detail map[string]any) error {
	id, _ := detail["code_id"].(string)
	user, _ := detail["user"].(string)
	codes, err := tx.EmergencyCodes(ctx)
	if err != nil {
		return err
	}
	out := map[string]any{"agent": ag.ID, "host": ag.Name(), "user": user, "code_id": id, "session_id": sessionID,
		"duration": detail["duration"], "not_after": detail["not_after"]}
	c, err := findCode(codes, id)
	if err == nil && c.UsedAt.IsZero() {
		c.UsedAt, c.UsedOn, c.UsedBy, c.Version = now, ag.ID, user, c.Version+1
		if err := tx.UpdateEmergencyCode(ctx, c); err != nil {
			return err
		}
		if err := broadcastPolicyChange(ctx, tx); err != nil { // a group's other agents drop it
			return err
		}
	} else if err == nil {
		out["already_used_on"] = c.UsedOn // a group's code used on two machines before either reported
	} else {
		out["unknown_code"] = true
	}
	return audit(ctx, tx, now, user, AuditEmergencyUsed, id, out)
}
