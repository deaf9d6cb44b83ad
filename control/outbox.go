package control

import (
	"context"
	"encoding/json"

	"github.com/hoist-jit/hoist"
)

// enqueueEvent writes the event that the audit record rec reports to the
// integrations' outbox, in rec's transaction: the event exists exactly when
// the change does. Actions that are no event of their own are left to the
// SIEM sinks, which read the audit log itself.
func enqueueEvent(ctx context.Context, tx hoist.Tx, rec hoist.AuditRecord) error {
	typ, ok := hoist.EventOfAudit(rec.Action)
	if !ok {
		return nil
	}
	data, group, err := eventData(ctx, tx, typ, rec)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return hoist.WrapError(hoist.EInternal, "cannot encode an event", err)
	}
	return tx.InsertIntegrationEvent(ctx, hoist.IntegrationEvent{Seq: rec.Seq, Type: typ, At: rec.Time, Subject: rec.Subject, Group: group, Data: raw})
}

// eventData is what a receiver reads about the event: the audit record's
// detail, and for request and session events the record as it stands after
// the change (so that "approved" carries who decided and for how long), and
// the computer group of the machine, for routing.
func eventData(ctx context.Context, tx hoist.Tx, typ string, rec hoist.AuditRecord) (map[string]any, string, error) {
	data := map[string]any{}
	if len(rec.Detail) > 0 && string(rec.Detail) != "null" {
		_ = json.Unmarshal(rec.Detail, &data) // a detail that is no object is kept out, not fatal
	}
	data["actor"] = rec.Actor
	agent := ""
	switch typ {
	case hoist.EventRequestCreated, hoist.EventRequestApproved, hoist.EventRequestDenied,
		hoist.EventRequestCancelled, hoist.EventRequestExpired, hoist.EventApprovalReminder:
		r, err := tx.Request(ctx, rec.Subject)
		if err != nil && hoist.ErrorCode(err) != hoist.ENotFound {
			return nil, "", err
		}
		if err == nil {
			requestData(data, r)
			agent = r.Agent
		}
	case hoist.EventSessionStarted, hoist.EventSessionEnded, hoist.EventSessionExtended:
		sess, err := tx.Session(ctx, rec.Subject)
		if err != nil && hoist.ErrorCode(err) != hoist.ENotFound {
			return nil, "", err
		}
		if err != nil {
			break
		}
		data["session_id"], data["request_id"], data["user"], data["host"] = sess.ID, sess.RequestID, sess.User, sess.Host
		data["approved_by"], data["not_after"] = sess.ApprovedBy, sess.NotAfter
		if sess.EndReason != "" {
			data["how"] = sess.EndReason
		}
		agent = sess.Agent
	case hoist.EventAgentEnrolled, hoist.EventAgentRevoked:
		data["agent_id"] = rec.Subject
		agent = rec.Subject
	case hoist.EventEmergencyCodeUsed:
		agent, _ = data["agent"].(string) // routed by the machine's group
	}
	return data, agentGroup(ctx, tx, agent), nil
}

func requestData(data map[string]any, r hoist.Request) {
	data["request_id"], data["user"], data["host"], data["reason"] = r.ID, r.User, r.Host, r.Reason
	data["requested_duration"], data["state"] = hoist.FormatDuration(r.RequestedDuration), r.State
	if r.DecidedBy != "" {
		data["decided_by"] = r.DecidedBy
	}
	if r.GrantedDuration > 0 {
		data["duration"] = hoist.FormatDuration(r.GrantedDuration)
	}
	if r.DecisionReason != "" {
		data["decision_reason"] = r.DecisionReason
	}
}

// agentGroup is the computer group of the agent, "" when unknown.
func agentGroup(ctx context.Context, tx hoist.Tx, id string) string {
	if id == "" {
		return ""
	}
	a, err := tx.AgentByID(ctx, id)
	if err != nil {
		return ""
	}
	return a.Group
}
