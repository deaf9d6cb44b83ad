package agent

import (
	"context"
	"time"

	"github.com/hoist-jit/hoist"
)

// Extender is an Upstream that can file extension requests: more time on
// a user's active session.
type Extender interface {
	Extend(ctx context.Context, user, sessionID, reason string, d time.Duration) (RequestInfo, error)
}

// RequestExtension asks the server for d more on user's active session.
// It fails with EConflict when the user has no active session here, and
// returns the user's waiting request (Existing set) when one waits.
func (a *Agent) RequestExtension(ctx context.Context, user, reason string, d time.Duration) (RequestInfo, error) {
	a.mu.Lock()
	up := a.upstream
	waiting := a.pending[user]
	a.mu.Unlock()
	ext, ok := up.(Extender)
	if up == nil || !ok {
		return RequestInfo{}, hoist.Errorf(hoist.EUnavailable, "this machine is not enrolled with a hoist-server, so a session cannot be extended here")
	}
	s := a.activeFor(user)
	if s == nil {
		return RequestInfo{}, hoist.Errorf(hoist.EConflict, "JIT elevated access is not active for %s, so there is nothing to extend; ask for it with: hoist request", user)
	}
	if waiting.State == "pending" && waiting.Extension {
		waiting.Existing = true
		return waiting, nil
	}
	if d < hoist.MinDuration || d > MaxWindow {
		return RequestInfo{}, hoist.Errorf(hoist.EInvalid, "an extension must be %s", hoist.DurationRange(hoist.MinDuration, MaxWindow))
	}
	a.mu.Lock()
	sid := s.rec.ID
	a.mu.Unlock()
	info, err := ext.Extend(ctx, user, sid, reason, d)
	if err != nil {
		return info, err
	}
	info.Extension = true
	a.mu.Lock()
	a.pending[user] = info
	a.mu.Unlock()
	a.audit("request.extension_asked", user, sid, map[string]any{"request_id": info.ID, "duration": hoist.FormatDuration(d)})
	return info, nil
}

// Extend moves the end of g's session to g.NotAfter: an approved
// extension, under the server's new signed grant. Only the user's active
// session, not yet over, can be extended, and only to a later end; its
// programs keep running and its timer is armed again.
func (a *Agent) Extend(g Grant) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.cfg.Clock.Now()
	s := a.byUser[g.User]
	switch {
	case s == nil || s.rec.ID != g.SessionID:
		return hoist.Errorf(hoist.ENotFound, "%s has no session %s here", g.User, g.SessionID)
	case s.ending || s.rec.State != stateActive || !now.Before(s.rec.NotAfter):
		return hoist.Errorf(hoist.EConflict, "session %s has ended: an extension comes too late", g.SessionID)
	case g.RequestID != s.rec.RequestID || !g.NotBefore.Equal(s.rec.NotBefore):
		return hoist.Errorf(hoist.EInvalid, "the grant is for another request or window start")
	case !g.NotAfter.After(s.rec.NotAfter):
		return nil // an extension already in force, or an older grant
	case g.NotAfter.Sub(now) > MaxWindow:
		return hoist.Errorf(hoist.EInvalid, "the grant's window is longer than %s", MaxWindow)
	}
	rec := s.rec
	old := rec.NotAfter
	rec.NotAfter, rec.Grant = g.NotAfter, g.Signed
	a.stampExtension(&rec, old)
	// On disk first: a restart must resume the later end, and the file
	// must agree with the grant it carries.
	if err := a.save(rec); err != nil {
		return err
	}
	s.rec = rec
	if s.timer != nil {
		s.timer.Stop()
	}
	a.schedule(s)
	a.auditCritical("session.extension_applied", g.User, rec.ID, map[string]any{"old_not_after": old, "not_after": rec.NotAfter, "by": g.By})
	a.cfg.Logger.Info("session extended", "session", rec.ID, "user", g.User, "not_after", rec.NotAfter)
	return nil
}
