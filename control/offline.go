package control

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
)

// Offline approval on the server (docs/offline.md): each agent has an
// offline key, made at enrolment and delivered with it (or, to an agent
// enrolled before offline approval, once at its next check-in); an
// approver turns a challenge the agent showed its user into a response
// made with that key. Each response issued is an audit record, so that
// when the agent reports the session the response started, the server
// records it as that approver's decision.

// Audit actions of offline approval.
const (
	AuditOfflineResponse  = "offline.response_issued"
	AuditOfflineUsed      = "offline.approval_used"
	AuditOfflineDelivered = "agent.offline_key_delivered"
)

// newOfflineKey makes and stores a fresh offline key for agentID;
// delivered says it goes out with the enrolment's answer.
func (s *Service) newOfflineKey(ctx context.Context, tx hoist.Tx, agentID string, now time.Time, delivered bool) ([]byte, error) {
	key := make([]byte, hoist.OfflineKeySize)
	_, _ = rand.Read(key) // crypto/rand does not fail on Linux
	sealed, err := s.sealOfflineKey(agentID, key)
	if err != nil {
		return nil, err
	}
	rec := hoist.OfflineKeyRecord{AgentID: agentID, Key: sealed, KeyID: hoist.OfflineKeyID(key), CreatedAt: now}
	if delivered {
		rec.DeliveredAt = now
	}
	return key, tx.PutOfflineKey(ctx, rec)
}

// sealOfflineKey is the key as stored: sealed with the server's secret
// key where it has one (bound to the agent), plain base64 where it has
// none (tests, and servers without a data directory).
func (s *Service) sealOfflineKey(agentID string, key []byte) (string, error) {
	plain := base64.StdEncoding.EncodeToString(key)
	if s.box == nil {
		return plain, nil
	}
	return s.box.seal("offline-key/"+agentID, plain)
}

// openOfflineKey reverses sealOfflineKey.
func (s *Service) openOfflineKey(rec hoist.OfflineKeyRecord) ([]byte, error) {
	plain := rec.Key
	if strings.HasPrefix(rec.Key, sealedPrefix) {
		var err error
		if plain, err = s.box.open("offline-key/"+rec.AgentID, rec.Key); err != nil {
			return nil, err
		}
	}
	key, err := base64.StdEncoding.DecodeString(plain)
	if err != nil || len(key) != hoist.OfflineKeySize {
		return nil, hoist.Errorf(hoist.EInternal, "the stored offline key of %s is damaged", rec.AgentID)
	}
	return key, nil
}

// AgentOfflineKey delivers the offline key to the agent a that has none
// (one enrolled before offline approval), making it on first ask. Once the
// agent acknowledged a key (AckOfflineKey) it is never sent again: the
// call fails with EConflict, and only a re-enrolment makes a new one.
func (s *Service) AgentOfflineKey(ctx context.Context, a hoist.AgentRecord) (key []byte, keyID string, err error) {
	now := s.now()
	err = s.store.Update(ctx, func(tx hoist.Tx) error {
		rec, err := tx.OfflineKey(ctx, a.ID)
		switch {
		case hoist.ErrorCode(err) == hoist.ENotFound:
			if key, err = s.newOfflineKey(ctx, tx, a.ID, now, false); err != nil {
				return err
			}
			keyID = hoist.OfflineKeyID(key)
			return audit(ctx, tx, now, a.Name(), "agent.offline_key_made", a.ID, map[string]any{"key_id": keyID})
		case err != nil:
			return err
		case !rec.DeliveredAt.IsZero():
			return hoist.Errorf(hoist.EConflict, "this agent's offline key was delivered on %s and is not sent again: re-enrol the machine for a new one", rec.DeliveredAt.UTC().Format(time.RFC3339))
		}
		key, err = s.openOfflineKey(rec)
		keyID = rec.KeyID
		return err
	})
	return key, keyID, err
}

// AckOfflineKey records that the agent a holds the offline key keyID.
func (s *Service) AckOfflineKey(ctx context.Context, a hoist.AgentRecord, keyID string) error {
	now := s.now()
	return s.store.Update(ctx, func(tx hoist.Tx) error {
		rec, err := tx.OfflineKey(ctx, a.ID)
		if err != nil {
			return err
		}
		if rec.KeyID != keyID {
			return &hoist.Error{Code: hoist.EInvalid, Message: "that is not this agent's offline key", Fields: map[string]string{"key_id": "not this agent's key"}}
		}
		if !rec.DeliveredAt.IsZero() {
			return nil
		}
		rec.DeliveredAt = now
		if err := tx.PutOfflineKey(ctx, rec); err != nil {
			return err
		}
		return audit(ctx, tx, now, a.Name(), AuditOfflineDelivered, a.ID, map[string]any{"key_id": keyID})
	})
}

// OfflineChallengeView is what a challenge decodes to, as the server
// knows it: the machine by its tag, the user among the names seen on
// that machine, the window asked, and the reason when the agent reported
// its challenge before.
type OfflineChallengeView struct {
	Challenge string `json:"challenge"`
	AgentID   string `json:"agent_id"`
	Host      string `json:"host"`
	// User is the user's name when exactly one name seen on the machine
	// fits the challenge; empty when none does (the approver asks the
	// caller).
	User string `json:"user,omitempty"`
	// Users are the names seen on the machine that fit.
	Users     []string      `json:"users"`
	Requested time.Duration `json:"-"`
	Reason    string        `json:"reason,omitempty"`
}

// DecodeOfflineChallenge says what challenge decodes to. agentID picks
// the machine when two agents share the challenge's tag. A caller that may
// not decide requests gets EForbidden; a challenge that is no challenge
// EInvalid naming "challenge"; one of no machine ENotFound.
func (s *Service) DecodeOfflineChallenge(ctx context.Context, a Actor, challenge, agentID string) (v OfflineChallengeView, err error) {
	if err := a.require(hoist.PermitDecide); err != nil {
		return v, err
	}
	ch, err := hoist.ParseChallenge(challenge)
	if err != nil {
		return v, err
	}
	err = s.store.View(ctx, func(tx hoist.Tx) error {
		var ag hoist.AgentRecord
		if v, ag, err = s.decodeChallenge(ctx, tx, ch, agentID); err != nil {
			return err
		}
		// An approver outside the machine's computer groups learns
		// nothing of it.
		adm, err := accountOf(ctx, tx, a)
		if err != nil {
			return err
		}
		return checkScope(ctx, tx, &groupCache{}, adm, ag.ID, ag.Name(), "approve")
	})
	if err != nil {
		v = OfflineChallengeView{}
	}
	return v, err
}

// decodeChallenge finds ch's agent and user in tx.
func (s *Service) decodeChallenge(ctx context.Context, tx hoist.Tx, ch hoist.Challenge, agentID string) (OfflineChallengeView, hoist.AgentRecord, error) {
	v := OfflineChallengeView{Challenge: ch.String(), Requested: ch.Duration(), Users: []string{}}
	agents, err := tx.Agents(ctx)
	if err != nil {
		return v, hoist.AgentRecord{}, err
	}
	var match []hoist.AgentRecord
	for _, ag := range agents {
		if !ag.Revoked && hoist.AgentTag(ag.ID) == ch.Agent && (agentID == "" || ag.ID == agentID || ag.Name() == agentID) {
			match = append(match, ag)
		}
	}
	switch {
	case len(match) == 0:
		return v, hoist.AgentRecord{}, hoist.Errorf(hoist.ENotFound, "no enrolled machine made challenge %s: check it was read correctly", ch)
	case len(match) > 1:
		names := make([]string, len(match))
		for i, m := range match {
			names[i] = m.Name() + " (" + m.ID + ")"
		}
		return v, hoist.AgentRecord{}, &hoist.Error{Code: hoist.EConflict, Message: "challenge " + ch.String() + " fits several machines: name one (" + strings.Join(names, ", ") + ")",
			Fields: map[string]string{"agent": "choose one of " + strings.Join(names, ", ")}}
	}
	ag := match[0]
	v.AgentID, v.Host = ag.ID, ag.Name()
	reqs, err := tx.Requests(ctx, hoist.RequestFilter{Agent: ag.ID, Limit: hoist.MaxListLimit})
	if err != nil {
		return v, ag, err
	}
	for _, r := range reqs {
		if hoist.UserTag(r.User) == ch.User && !slices.Contains(v.Users, r.User) {
			v.Users = append(v.Users, r.User)
		}
	}
	// The agent's own report of the challenge, if it was online since.
	err = tx.Audit(ctx, hoist.AuditFilter{Action: "agent.offline.challenge", Subject: v.Challenge, Limit: 10}, func(rec hoist.AuditRecord) error {
		var d struct {
			User, Reason, Agent string
		}
		if json.Unmarshal(rec.Detail, &d) == nil && d.Agent == ag.ID {
			v.Reason = d.Reason
			if hoist.UserTag(d.User) == ch.User && !slices.Contains(v.Users, d.User) {
				v.Users = append(v.Users, d.User)
			}
		}
		return nil
	})
	if len(v.Users) == 1 {
		v.User = v.Users[0]
	}
	return v, ag, err
}

// OfflineResponse is a response the server issued.
type OfflineResponse struct {
	OfflineChallengeView
	Response string        `json:"response"`
	Approved time.Duration `json:"-"`
	Approver string        `json:"approver"`
}

// ApproveOffline makes the response approving challenge for d (One Time
// when d is zero: the one-time window, cut to what was asked). The window
// is rounded down to one a response can carry and may not be longer than
// the challenge asks. The approver may not approve their own challenge
// (a Unix name of theirs that fits its user tag), nor a machine out of
// their scope. Each response issued is audited, under the challenge.
func (s *Service) ApproveOffline(ctx context.Context, a Actor, challenge, agentID string, d time.Duration) (out OfflineResponse, err error) {
	if err := a.require(hoist.PermitDecide); err != nil {
		return out, err
	}
	ch, err := hoist.ParseChallenge(challenge)
	if err != nil {
		return out, err
	}
	if d == 0 {
		d = min(hoist.DefaultOneTimeDuration, ch.Duration())
	}
	window, d, err := hoist.OfflineWindow(d)
	if err != nil {
		return out, err
	}
	if d > ch.Duration() {
		return out, &hoist.Error{Code: hoist.EInvalid, Message: fmt.Sprintf("the challenge asks for %s: a longer window cannot be approved", hoist.FormatDuration(ch.Duration())),
			Fields: map[string]string{"duration": "at most " + hoist.FormatDuration(ch.Duration())}}
	}
	now := s.now()
	err = s.store.Update(ctx, func(tx hoist.Tx) error {
		v, ag, err := s.decodeChallenge(ctx, tx, ch, agentID)
		if err != nil {
			return err
		}
		if err := s.mayApproveOffline(ctx, tx, a, ag, ch, v.User); err != nil {
			return err
		}
		rec, err := tx.OfflineKey(ctx, ag.ID)
		if hoist.ErrorCode(err) == hoist.ENotFound {
			return hoist.Errorf(hoist.EConflict, "%s has no offline key yet: it gets one at its next check-in", ag.Name())
		} else if err != nil {
			return err
		}
		key, err := s.openOfflineKey(rec)
		if err != nil {
			return err
		}
		out = OfflineResponse{OfflineChallengeView: v, Response: hoist.Respond(key, ch, window).String(), Approved: d, Approver: a.Name}
		// The response itself is not kept: anyone who reads the audit log
		// could otherwise answer the challenge in its hour.
		return audit(ctx, tx, now, a.Name, AuditOfflineResponse, v.Challenge, map[string]any{"agent": ag.ID, "host": ag.Name(),
			"user": v.User, "requested": hoist.FormatDuration(ch.Duration()), "approved": hoist.FormatDuration(d), "key_id": rec.KeyID})
	})
	return out, err
}

// mayApproveOffline is the identity and scope check of an offline
// approval: as for a request, with the user known only by its tag.
func (s *Service) mayApproveOffline(ctx context.Context, tx hoist.Tx, a Actor, ag hoist.AgentRecord, ch hoist.Challenge, user string) error {
	adm, err := accountOf(ctx, tx, a)
	if err != nil {
		return err
	}
	for _, n := range append(slices.Clone(adm.UnixNames), adm.Name) {
		if hoist.UserTag(n) == ch.User {
			return hoist.Errorf(hoist.EForbidden, "%s cannot approve this challenge: it may be their own (its user fits Unix name %s)", adm.Name, n)
		}
	}
	if err := checkNotOwn(adm, hoist.Request{User: user, Agent: ag.ID, Host: ag.Name()}); err != nil {
		return err
	}
	if err := checkScope(ctx, tx, &groupCache{}, adm, ag.ID, ag.Name(), "approve"); err != nil {
		return err
	}
	return checkOfflineRules(ctx, tx, adm, ag)
}

// checkOfflineRules applies the approval rules of ag's JIT startup policy,
// found as AgentRequest finds them, to an offline approval by adm. An
// offline response is one approval by one person with no step-up, so a
// policy that wants a passkey or several approvers has no offline path:
// refused, as is an approver of a lower role than the policy names.
func checkOfflineRules(ctx context.Context, tx hoist.Tx, adm hoist.Admin, ag hoist.AgentRecord) error {
	b, _, err := bundleOf(ctx, tx, ag)
	if err != nil {
		return err
	}
	jit, ok := b.JIT()
	if !ok {
		return nil // no JIT mode here: the agent asks for no offline approval
	}
	rules := b.StartupRules(jit)
	switch {
	case rules.RequirePasskey:
		return hoist.Errorf(hoist.EForbidden, "policy %q wants a passkey to approve, and an offline approval cannot carry one: %s cannot be approved offline", jit.Startup.Name, ag.Name())
	case rules.ApprovalsRequired > 1:
		return hoist.Errorf(hoist.EForbidden, "policy %q wants %d approvers, and an offline approval is one: %s cannot be approved offline", jit.Startup.Name, rules.ApprovalsRequired, ag.Name())
	case rules.ApproverRole == string(hoist.RoleAdmin) && adm.Role != hoist.RoleAdmin:
		return hoist.Errorf(hoist.EForbidden, "policy %q wants an admin to approve: %s may not approve %s offline", jit.Startup.Name, adm.Name, ag.Name())
	}
	return nil
}

// recordOfflineUse records, when an agent reports that an offline
// response started a session, that session as the decision of the
// approver who issued the response (found by the challenge). Called in
// the transaction that stores the agent's event.
func recordOfflineUse(ctx context.Context, tx hoist.Tx, now time.Time, ag hoist.AgentRecord, sessionID string, detail map[string]any) error {
	challenge, _ := detail["challenge"].(string)
	approver := ""
	err := tx.Audit(ctx, hoist.AuditFilter{Action: AuditOfflineResponse, Subject: challenge}, func(rec hoist.AuditRecord) error {
		var d struct{ Agent string }
		if json.Unmarshal(rec.Detail, &d) == nil && d.Agent == ag.ID {
			approver = rec.Actor
		}
		return nil
	})
	if err != nil {
		return err
	}
	out := map[string]any{"agent": ag.ID, "host": ag.Name(), "challenge": challenge, "user": detail["user"], "duration": detail["duration"],
		"not_after": detail["not_after"], "approver": approver}
	if approver == "" {
		// The agent says a response of this server started it, and no
		// response was issued here: loud.
		return audit(ctx, tx, now, ag.Name(), "alert.offline_response_unknown", sessionID, out)
	}
	return audit(ctx, tx, now, approver, AuditOfflineUsed, sessionID, out)
}
