package control

import (
	"context"
	"time"

	"github.com/hoist-jit/hoist"
)

// Sessions lists sessions that match f. Sessions whose window is over but
// that the sweeper has not ended yet are reported as they are stored; callers
// show Remaining(now), which is zero for them.
func (s *Service) Sessions(ctx context.Context, a Actor, f hoist.SessionFilter) (ss []hoist.Session, err error) {
	if err := a.require(hoist.PermitReadRequests); err != nil {
		return nil, err
	}
	err = s.store.View(ctx, func(tx hoist.Tx) (err error) {
		adm, err := accountOf(ctx, tx, a)
		if err != nil {
			return err
		}
		limit := hoist.ListLimit(f.Limit)
		if adm.Scoped() {
			f.Limit = hoist.MaxListLimit // filtered below, then cut to the limit asked
		}
		if ss, err = tx.Sessions(ctx, f); err != nil || !adm.Scoped() {
			return err
		}
		ss, err = inScope(ctx, tx, adm, ss, limit, func(x hoist.Session) (string, string) { return x.Agent, x.Host })
		return err
	})
	return ss, err
}

// Session returns one session, by its id or by the id of the request that
// started it.
func (s *Service) Session(ctx context.Context, a Actor, id string) (sess hoist.Session, err error) {
	if err := a.require(hoist.PermitReadRequests); err != nil {
		return sess, err
	}
	err = s.store.View(ctx, func(tx hoist.Tx) (err error) {
		if sess, err = sessionByAnyID(ctx, tx, id); err != nil {
			return err
		}
		adm, err := accountOf(ctx, tx, a)
		if err != nil {
			return err
		}
		return checkScope(ctx, tx, &groupCache{}, adm, sess.Agent, sess.Host, "see sessions")
	})
	return sess, err
}

func sessionByAnyID(ctx context.Context, tx hoist.Tx, id string) (hoist.Session, error) {
	switch {
	case hoist.ValidID(hoist.SessionIDPrefix, id):
		return tx.Session(ctx, id)
	case hoist.ValidID(hoist.RequestIDPrefix, id):
		r, err := tx.Request(ctx, id)
		if err != nil {
			return hoist.Session{}, err
		}
		if r.SessionID == "" {
			return hoist.Session{}, hoist.Errorf(hoist.ENotFound, "request %s has no session (it is %s)", id, r.State)
		}
		return tx.Session(ctx, r.SessionID)
	}
	return hoist.Session{}, hoist.Errorf(hoist.ENotFound, "no session %q", id)
}

// Revoke ends each active session now. ids may name sessions or the requests
// that started them.
func (s *Service) Revoke(ctx context.Context, a Actor, ids []string, reason string) ([]Result, error) {
	if err := a.require(hoist.PermitDecide); err != nil {
		return nil, err
	}
	if err := checkBatch(ids); err != nil {
		return nil, err
	}
	if err := s.settings.CheckDecisionNote(reason); err != nil {
		return nil, err
	}
	results := make([]Result, 0, len(ids))
	for _, id := range ids {
		var ended hoist.Session
		err := s.store.Update(ctx, func(tx hoist.Tx) error {
			sess, err := sessionByAnyID(ctx, tx, id)
			if err != nil {
				return err
			}
			adm, err := accountOf(ctx, tx, a)
			if err != nil {
				return err
			}
			if err := checkScope(ctx, tx, &groupCache{}, adm, sess.Agent, sess.Host, "revoke"); err != nil {
				return err
			}
			ended, err = s.endSession(ctx, tx, sess, hoist.EndRevoked, a.Name, reason)
			if err != nil {
				return err
			}
			return s.pushDecision(ctx, tx, hoist.AgentEvent{AgentID: sess.Agent, Kind: hoist.AgentEventRevoked, RequestID: sess.RequestID,
				SessionID: sess.ID, User: sess.User, Reason: reason, CreatedAt: ended.EndedAt})
		})
		res := resultOf(id, err)
		if err == nil {
			res.Session = &ended
			s.notify.wake(ended.Agent)
			s.log.Info("session ended", "session", ended.ID, "reason", ended.EndReason, "by", a.Name)
		}
		results = append(results, res)
	}
	return results, nil
}

func (s *Service) endSession(ctx context.Context, tx hoist.Tx, sess hoist.Session, reason hoist.EndReason, actor, note string) (hoist.Session, error) {
	now := s.now()
	ended, err := sess.End(reason, actor, note, now)
	if err != nil {
		return sess, err
	}
	if err := tx.UpdateSession(ctx, ended); err != nil {
		return sess, err
	}
	return ended, audit(ctx, tx, now, actor, hoist.AuditSessionEnded, sess.ID, map[string]any{
		"request_id": sess.RequestID, "user": sess.User, "host": sess.Host,
		"reason": ended.EndReason, "note": note, "not_after": sess.NotAfter,
	})
}

// Sweep expires what time has ended: pending requests nobody decided in time,
// and active sessions whose window is over. Several servers may sweep at
// once; a record another one ended first is skipped. It returns how many
// records it changed.
func (s *Service) Sweep(ctx context.Context) (int, error) {
	now := s.now()
	var (
		pending  []hoist.Request
		sessions []hoist.Session
	)
	err := s.store.View(ctx, func(tx hoist.Tx) (err error) {
		if pending, err = tx.Requests(ctx, hoist.RequestFilter{PendingBefore: now.Add(time.Microsecond), Limit: hoist.MaxListLimit}); err != nil {
			return err
		}
		sessions, err = tx.Sessions(ctx, hoist.SessionFilter{State: hoist.SessionActive, EndsBefore: now.Add(time.Microsecond), Limit: hoist.MaxListLimit})
		return err
	})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, r := range pending {
		err := s.store.Update(ctx, func(tx hoist.Tx) error {
			cur, err := tx.Request(ctx, r.ID)
			if err != nil {
				return err
			}
			return s.expireRequest(ctx, tx, cur, now)
		})
		if err == nil {
			s.notify.wake(r.Agent)
		}
		n, err = count(n, err)
		if err != nil {
			return n, err
		}
	}
	for _, sess := range sessions {
		err := s.store.Update(ctx, func(tx hoist.Tx) error {
			cur, err := tx.Session(ctx, sess.ID)
			if err != nil {
				return err
			}
			_, err = s.endSession(ctx, tx, cur, hoist.EndExpired, SystemActor, "")
			return err
		})
		n, err = count(n, err)
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// count adds one for a change made and ignores a change someone else made
// first.
func count(n int, err error) (int, error) {
	switch {
	case err == nil:
		return n + 1, nil
	case hoist.ErrorCode(err) == hoist.EConflict:
		return n, nil
	}
	return n, err
}
