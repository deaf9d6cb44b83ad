package control

import (
	"context"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

// The session watch compares what agents say about their sessions with the
// server's records, and raises an alert where they disagree in a way that
// keeps root alive longer than granted: a session the server ended that the
// agent still keeps (alive after end), a window the agent holds longer than
// the server granted (window mismatch), and a command started in a session
// after its end (activity after end). Each alert is an audit record whose
// action starts with "alert." (docs/alerts.md), raised once per session and
// condition, in the same transaction as the revoke it sends: the server ends
// its record of the session if it is still active and pushes a revoke to the
// agent, the path an administrator's revoke takes.
//
// What it catches is an agent that is buggy or was tampered with by someone
// who did not also silence it: an agent that lies in every report hides from
// it. It is detection, as the audit log is; the signed grant and the
// agent's own checks are the prevention.

// Alert actions: audit records an integration forwards by their prefix.
const (
	// AlertSessionAliveAfterEnd: an agent reports active a session the
	// server has ended, later than the agent could not have known.
	AlertSessionAliveAfterEnd = "alert.session_alive_after_end"
	// AlertSessionWindowMismatch: an agent reports a session whose end of
	// window is later than the one the server granted.
	AlertSessionWindowMismatch = "alert.session_window_mismatch"
	// AlertActivityAfterEnd: an agent reports a command started in a
	// session after the session's end.
	AlertActivityAfterEnd = "alert.activity_after_end"
	// AuditLocalSessionReported records, once, a session an agent reports
	// that the server has no record of on that agent: root's local grant
	// ("hoistd grant"). Not an alert by itself.
	AuditLocalSessionReported = "session.local_reported"
)

// AlertPrefix starts the action of every alert.
const AlertPrefix = "alert."

const (
	// reportAllowance is how long after a session's end an agent may still
	// report it active without alarm: the agent ends a session by its own
	// clock, which may be a little behind the server's, and a check-in can
	// cross the push of a revoke. Check-ins come minutes apart, so it costs
	// nothing in what is caught.
	reportAllowance = time.Minute
	// activitySkew is how much later than a session's end an agent's
	// command may be stamped without alarm: the agent's clock against the
	// server's, kept close by NTP.
	activitySkew = 5 * time.Second
	// windowSlack is how much later than the server's an agent's end of
	// window may be: the encodings on the way round to less than this.
	windowSlack = time.Second
)

// finding is a disagreement between an agent and the server about one
// session, as judged on a read of the server's records.
type finding struct {
	action   string
	session  string
	reported *wire.AgentSession // what the agent reported at check-in
	command  *wire.AgentAuditEvent
}

// watchSessions judges the sessions agentID reports at a check-in and
// raises what it finds. A report that is not well-formed is refused with
// EInvalid before anything is read or written. Called before the check-in
// records the agent as seen, so that the agent's last check-in is the one
// before this.
func (s *Service) watchSessions(ctx context.Context, agentID string, reported []wire.AgentSession) error {
	if len(reported) == 0 {
		return nil
	}
	if err := wire.CheckSessions(reported); err != nil {
		return err
	}
	now := s.now()
	var (
		a     hoist.AgentRecord
		found []finding
	)
	// One read for the whole report: a check-in where all is well, the
	// common case, writes nothing here.
	err := s.store.View(ctx, func(tx hoist.Tx) (err error) {
		if a, err = tx.AgentByID(ctx, agentID); err != nil {
			return err
		}
		for i := range reported {
			sess, known, err := agentSession(ctx, tx, a.ID, reported[i].ID)
			if err != nil {
				return err
			}
			if action := judgeReport(sess, known, reported[i], a.LastSeen, now); action != "" {
				found = append(found, finding{action: action, session: sess.ID, reported: &reported[i]})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.raiseAll(ctx, a, found, a.LastSeen)
}

// watchActivity raises AlertActivityAfterEnd for each session of a in which
// events report a command started after the session's end. It judges the
// latest such command of each session.
func (s *Service) watchActivity(ctx context.Context, a hoist.AgentRecord, events []wire.AgentAuditEvent) error {
	latest := map[string]int{}
	for i, ev := range events {
		if ev.Action != "command.started" || !hoist.ValidID(hoist.SessionIDPrefix, ev.Subject) {
			continue
		}
		if j, ok := latest[ev.Subject]; !ok || ev.Time.After(events[j].Time) {
			latest[ev.Subject] = i
		}
	}
	if len(latest) == 0 {
		return nil
	}
	var found []finding
	err := s.store.View(ctx, func(tx hoist.Tx) error {
		for sid, i := range latest {
			sess, known, err := agentSession(ctx, tx, a.ID, sid)
			if err != nil {
				return err
			}
			if known && activityAfterEnd(sess, events[i].Time) {
				found = append(found, finding{action: AlertActivityAfterEnd, session: sid, command: &events[i]})
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.raiseAll(ctx, a, found, time.Time{})
}

// agentSession reads the session id of agent agentID; known is false when
// the server has no such session on that agent.
func agentSession(ctx context.Context, tx hoist.Tx, agentID, id string) (sess hoist.Session, known bool, err error) {
	sess, err = tx.Session(ctx, id)
	switch {
	case hoist.ErrorCode(err) == hoist.ENotFound:
		return hoist.Session{ID: id}, false, nil
	case err != nil:
		return sess, false, err
	case sess.Agent != agentID:
		// Another machine's session: this agent cannot have it from the
		// server, so for this agent it is one the server does not know.
		return hoist.Session{ID: id}, false, nil
	}
	return sess, true, nil
}

// judgeReport is what the server makes of an agent's report r of sess at
// now, the agent's previous check-in having come at prevSeen: an action to
// raise, or "" when all is well. It is a pure function of its arguments.
func judgeReport(sess hoist.Session, known bool, r wire.AgentSession, prevSeen, now time.Time) string {
	switch {
	case !known:
		return AuditLocalSessionReported
	case r.State == wire.SessionReportActive && mustHaveEnded(sess, prevSeen, now):
		return AlertSessionAliveAfterEnd
	case r.State != wire.SessionReportEnded && r.NotAfter.After(sess.NotAfter.Add(windowSlack)):
		return AlertSessionWindowMismatch
	}
	return ""
}

// mustHaveEnded reports whether an agent that works as it should would
// have ended sess by now. A window that is over ends by the agent's own
// clock, whether the agent can reach the server or not. A revoke reaches
// the agent by push, which an agent that was offline missed until it is
// back: only an agent that checked in after the revoke (and so was
// connected, its long poll with it) must have heard it. Any other end
// ("hoist exit") was the agent's own.
func mustHaveEnded(sess hoist.Session, prevSeen, now time.Time) bool {
	switch {
	case sess.State == hoist.SessionActive || sess.EndReason == hoist.EndExpired || !sess.EndedAt.Before(sess.NotAfter):
		return !now.Before(sess.NotAfter.Add(reportAllowance))
	case sess.EndReason == hoist.EndRevoked:
		return prevSeen.After(sess.EndedAt) && !now.Before(sess.EndedAt.Add(reportAllowance))
	}
	return !now.Before(sess.EndedAt.Add(reportAllowance))
}

// activityAfterEnd reports whether a command stamped at by the agent came
// after sess's end, beyond the clock skew allowed.
func activityAfterEnd(sess hoist.Session, at time.Time) bool {
	return at.After(serverEnd(sess).Add(activitySkew))
}

// serverEnd is when sess ends for the server: the end of its window, or
// the moment it was ended before that.
func serverEnd(sess hoist.Session) time.Time {
	if sess.State == hoist.SessionEnded && sess.EndedAt.Before(sess.NotAfter) {
		return sess.EndedAt
	}
	return sess.NotAfter
}

// raiseAll raises each finding in its own transaction.
func (s *Service) raiseAll(ctx context.Context, a hoist.AgentRecord, found []finding, prevSeen time.Time) error {
	for _, f := range found {
		if err := s.raise(ctx, a, f, prevSeen); err != nil {
			return err
		}
	}
	return nil
}

// raise records f once: the delivered set, which keeps agent events from
// being stored twice, also keeps the alerts raised, by a key of their own,
// so that two check-ins (on two replicas, even) record one alert. The
// finding is judged again on the records of this transaction, and an alert
// revokes the session in the same transaction: never one without the
// other.
func (s *Service) raise(ctx context.Context, a hoist.AgentRecord, f finding, prevSeen time.Time) error {
	now := s.now()
	// Agent events are kept as "agt_…/evt_…": these keys cannot meet them.
	key := f.action + "/" + f.session
	if f.action == AuditLocalSessionReported {
		key = f.action + "/" + a.ID + "/" + f.session
	}
	raised := false
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		sess, known, err := agentSession(ctx, tx, a.ID, f.session)
		if err != nil {
			return err
		}
		if !f.stillHolds(sess, known, prevSeen, now) {
			return nil
		}
		fresh, err := tx.MarkDelivered(ctx, key)
		if err != nil || !fresh {
			return err
		}
		if err := audit(ctx, tx, now, SystemActor, f.action, f.session, f.detail(a, sess, known)); err != nil {
			return err
		}
		raised = true
		if f.action == AuditLocalSessionReported {
			return nil
		}
		return s.revokeOnAgent(ctx, tx, sess, alertNote[f.action], now)
	})
	if err != nil || !raised {
		return err
	}
	if f.action == AuditLocalSessionReported {
		s.log.Info("an agent reports a session the server does not know", "session", f.session, "agent", a.ID, "host", a.Hostname)
		return nil
	}
	s.log.Warn("alert", "action", f.action, "session", f.session, "agent", a.ID, "host", a.Hostname)
	s.notify.wake(a.ID)
	return nil
}

// stillHolds judges f again on sess as this transaction reads it.
func (f finding) stillHolds(sess hoist.Session, known bool, prevSeen, now time.Time) bool {
	if f.command != nil {
		return known && activityAfterEnd(sess, f.command.Time)
	}
	return judgeReport(sess, known, *f.reported, prevSeen, now) == f.action
}

// alertNote is why the revoke that goes with each alert was sent, as the
// session's history and the agent's log show it.
var alertNote = map[string]string{
	AlertSessionAliveAfterEnd:  "the server had ended this session but the machine reported it active",
	AlertSessionWindowMismatch: "the machine reported a later end than the server granted",
	AlertActivityAfterEnd:      "the machine reported a command started after the session's end",
}

// revokeOnAgent ends sess on the server if it is still active and queues
// a revoke for its agent, as an administrator's revoke does.
func (s *Service) revokeOnAgent(ctx context.Context, tx hoist.Tx, sess hoist.Session, note string, now time.Time) error {
	if sess.State == hoist.SessionActive {
		ended, err := s.endSession(ctx, tx, sess, hoist.EndRevoked, SystemActor, note)
		if err != nil {
			return err
		}
		sess = ended
	}
	return s.pushDecision(ctx, tx, hoist.AgentEvent{AgentID: sess.Agent, Kind: hoist.AgentEventRevoked, RequestID: sess.RequestID,
		SessionID: sess.ID, User: sess.User, Reason: note, CreatedAt: now})
}

// detail is the alert's audit detail: what the server knows next to what
// the agent said.
func (f finding) detail(a hoist.AgentRecord, sess hoist.Session, known bool) map[string]any {
	d := map[string]any{"agent": a.ID, "host": a.Hostname}
	if known {
		d["user"], d["request_id"], d["server_state"], d["server_not_after"] = sess.User, sess.RequestID, sess.State, sess.NotAfter
		if sess.State == hoist.SessionEnded {
			d["end_reason"], d["ended_at"] = sess.EndReason, sess.EndedAt
		}
		d["server_end"] = serverEnd(sess)
	}
	if r := f.reported; r != nil {
		d["reported_user"], d["reported_state"], d["reported_not_after"] = r.User, r.State, r.NotAfter
		if !r.EndedAt.IsZero() {
			d["reported_ended_at"] = r.EndedAt
		}
		if r.Local {
			d["local"] = true
		}
		if len(r.Unkillable) > 0 {
			d["unkillable"] = r.Unkillable
		}
	}
	if ev := f.command; ev != nil {
		d["event_id"], d["command_at"], d["actor"] = ev.ID, ev.Time, ev.Actor
		if argv, ok := ev.Detail["argv"]; ok {
			d["argv"] = argv
		}
	}
	return d
}
