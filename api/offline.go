package api

import (
	"net/http"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/wire"
)

// Offline approval: the admin side (decode a challenge, issue a response)
// and the agent side (the offline key of an agent enrolled before it).

// parseOffline decodes and checks an offline body; approving says a
// window (For or One Time) must be given. Duration zero is One Time.
func parseOffline(body []byte, approving bool) (wire.OfflineBody, time.Duration, error) {
	var in wire.OfflineBody
	if err := decodeStrict(body, &in); err != nil {
		return in, 0, err
	}
	field := func(name, why string) error {
		return &hoist.Error{Code: hoist.EInvalid, Message: name + ": " + why, Fields: map[string]string{name: why}}
	}
	switch {
	case in.Challenge == "":
		return in, 0, field("challenge", "required")
	case len(in.Agent) > hoist.MaxAgentName+32:
		return in, 0, field("agent", "too long")
	case !approving && (in.Duration != "" || in.Once):
		return in, 0, field("duration", "only an approval takes a window")
	case approving && in.Once && in.Duration != "":
		return in, 0, field("duration", "give either duration (For) or once (One Time), not both")
	case approving && !in.Once && in.Duration == "":
		return in, 0, field("duration", `give duration (For, e.g. "1h") or once: true (One Time)`)
	}
	var d time.Duration
	if in.Duration != "" {
		var err error
		if d, err = hoist.ParseDuration(in.Duration); err != nil {
			return in, 0, err
		}
	}
	return in, d, nil
}

func offlineChallengeView(v control.OfflineChallengeView) wire.OfflineChallengeView {
	return wire.OfflineChallengeView{Challenge: v.Challenge, AgentID: v.AgentID, Host: v.Host, User: v.User, Users: v.Users,
		RequestedDuration: hoist.FormatDuration(v.Requested), Reason: v.Reason}
}

func (h *Handler) decodeOffline(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	in, _, err := parseOffline(body, false)
	if err != nil {
		return err
	}
	v, err := h.svc.DecodeOfflineChallenge(r.Context(), actorFrom(r.Context()), in.Challenge, in.Agent)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, offlineChallengeView(v))
	return nil
}

func (h *Handler) approveOffline(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	in, d, err := parseOffline(body, true)
	if err != nil {
		return err
	}
	out, err := h.svc.ApproveOffline(r.Context(), actorFrom(r.Context()), in.Challenge, in.Agent, d)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.OfflineResponseView{OfflineChallengeView: offlineChallengeView(out.OfflineChallengeView),
		Response: out.Response, ApprovedDuration: hoist.FormatDuration(out.Approved), Approver: out.Approver})
	return nil
}

// agentOfflineKey delivers the calling agent's offline key, until it is
// acknowledged.
func (h *Handler) agentOfflineKey(w http.ResponseWriter, r *http.Request) error {
	key, id, err := h.svc.AgentOfflineKey(r.Context(), agentFrom(r.Context()))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, wire.OfflineKeyAnswer{Key: key, KeyID: id})
	return nil
}

func (h *Handler) agentOfflineKeyAck(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	var in wire.OfflineKeyAck
	if err := decodeStrict(body, &in); err != nil {
		return err
	}
	if len(in.KeyID) != 16 {
		return &hoist.Error{Code: hoist.EInvalid, Message: "key_id: 16 hex digits", Fields: map[string]string{"key_id": "16 hex digits"}}
	}
	if err := h.svc.AckOfflineKey(r.Context(), agentFrom(r.Context()), in.KeyID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func emergencyView(c hoist.EmergencyCode, code string, now time.Time) wire.EmergencyCodeView {
	v := wire.EmergencyCodeView{ID: c.ID, Code: code, Agent: c.Agent, Group: c.Group, Window: hoist.FormatDuration(c.Window), State: c.State(now),
		CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt, ExpiresAt: c.ExpiresAt, RevokedBy: c.RevokedBy, UsedOn: c.UsedOn, UsedBy: c.UsedBy}
	if !c.RevokedAt.IsZero() {
		v.RevokedAt = &c.RevokedAt
	}
	if !c.UsedAt.IsZero() {
		v.UsedAt = &c.UsedAt
	}
	return v
}

func (h *Handler) issueEmergencyCodes(w http.ResponseWriter, r *http.Request) error {
	body, err := readBody(w, r)
	if err != nil {
		return err
	}
	var in wire.EmergencyIssueBody
	if err := decodeStrict(body, &in); err != nil {
		return err
	}
	if len(in.Agent) > hoist.MaxAgentName+32 || len(in.Group) > 200 {
		return &hoist.Error{Code: hoist.EInvalid, Message: "agent or group: too long", Fields: map[string]string{"agent": "too long"}}
	}
	var d time.Duration
	if in.Window != "" {
		if d, err = hoist.ParseDuration(in.Window); err != nil {
			return err
		}
	}
	codes, err := h.svc.IssueEmergencyCodes(r.Context(), actorFrom(r.Context()), in.Agent, in.Group, in.Count, d)
	if err != nil {
		return err
	}
	out := make([]wire.EmergencyCodeView, 0, len(codes))
	for _, c := range codes {
		out = append(out, emergencyView(c.EmergencyCode, c.Code, time.Now()))
	}
	writeJSON(w, http.StatusCreated, wire.EmergencyCodesAnswer{Codes: out})
	return nil
}

func (h *Handler) listEmergencyCodes(w http.ResponseWriter, r *http.Request) error {
	codes, err := h.svc.EmergencyCodes(r.Context(), actorFrom(r.Context()))
	if err != nil {
		return err
	}
	out := make([]wire.EmergencyCodeView, 0, len(codes))
	for _, c := range codes {
		out = append(out, emergencyView(c, "", time.Now()))
	}
	writeJSON(w, http.StatusOK, wire.EmergencyCodesAnswer{Codes: out})
	return nil
}

func (h *Handler) revokeEmergencyCode(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	if !hoist.ValidID(hoist.EmergencyIDPrefix, id) {
		return hoist.Errorf(hoist.ENotFound, "no emergency code %q", clipID(id))
	}
	c, err := h.svc.RevokeEmergencyCode(r.Context(), actorFrom(r.Context()), id)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, emergencyView(c, "", time.Now()))
	return nil
}

// clipID cuts a caller's id for a message.
func clipID(s string) string {
	if len(s) > 40 || !hoist.Printable(s) {
		return "(not shown)"
	}
	return s
}
