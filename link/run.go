package link

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/wire"
)

// PollWait is how long one long poll waits for an event. Decisions arrive
// the moment they are made; the wait only bounds an idle connection.
const PollWait = 25 * time.Second

// Link keeps an agent connected to its server.
type Link struct {
	c        *Client
	a        *agent.Agent
	stateDir string
	facts    wire.AgentFacts
	log      *slog.Logger
	clock    agent.Clock   // the link's time and its waits: settable in tests
	kick     chan struct{} // wakes the audit delivery
	answered chan struct{} // the server answered a call: ends the delivery's backoff
	recheck  chan struct{} // asks for a check-in now: policies changed
	reports  sessionReporter
	seqs     seqSender
	// refusedRecs are the recordings the server refused, not retried until
	// a restart (used by the delivery loop only).
	refusedRecs map[string]bool
	// unacked is the offline key this link installed and has not yet
	// acknowledged (offline approval): retried at each check-in.
	unacked struct {
		sync.Mutex
		id string
	}
	unsaved unsavedGrants
}

// New links a to the server c talks to, and puts in force the policy
// bundle a stored, if its signature is the server's. Call Run to connect.
func New(c *Client, a *agent.Agent, stateDir string, facts wire.AgentFacts, log *slog.Logger) *Link {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Link{c: c, a: a, stateDir: stateDir, facts: facts, log: log, clock: agent.RealClock{}, kick: make(chan struct{}, 1), answered: make(chan struct{}, 1), recheck: make(chan struct{}, 1), refusedRecs: map[string]bool{}}
	// Bundles are signed with the key grants are: the agent checks the one
	// it stored, and every new one, against the key pinned at enrolment.
	a.SetBundleKey(c.GrantKey())
	a.SetUpstream(l)
	return l
}

// Request implements agent.Upstream.
func (l *Link) Request(ctx context.Context, user, reason string, d time.Duration) (agent.RequestInfo, error) {
	ans, err := l.c.RequestAs(ctx, user, agent.UnixGroups(user), reason, d)
	if err != nil {
		return agent.RequestInfo{}, err
	}
	info := agent.RequestInfo{ID: ans.Request.ID, State: string(ans.Request.State)}
	if ans.Request.State == hoist.RequestApproved {
		// Approved at once, by a rule of the policy: the user is told so.
		info.Reason = ans.Request.DecisionReason
	}
	return info, nil
}

// Extend implements agent.Extender.
func (l *Link) Extend(ctx context.Context, user, sid, reason string, d time.Duration) (agent.RequestInfo, error) {
	ans, err := l.c.Extend(ctx, user, sid, reason, d)
	if err != nil {
		return agent.RequestInfo{}, err
	}
	return agent.RequestInfo{ID: ans.Request.ID, State: string(ans.Request.State)}, nil
}

// Cancel implements agent.Upstream.
func (l *Link) Cancel(ctx context.Context, user string) (agent.RequestInfo, error) {
	ans, err := l.c.Cancel(ctx, user)
	if err != nil {
		return agent.RequestInfo{}, err
	}
	return agent.RequestInfo{ID: ans.Request.ID, State: string(ans.Request.State)}, nil
}

// SessionEnded implements agent.Upstream: the server hears of it through the
// audit queue too, but this makes its session view right at once.
func (l *Link) SessionEnded(sessionID string) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := l.c.SessionEnded(ctx, sessionID); err != nil {
			l.log.Warn("cannot tell the server a session ended", "session", sessionID, "err", err)
		}
	}()
	l.Kick()
}

// Kick asks for the audit queue to be delivered now.
func (l *Link) Kick() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

func (l *Link) cursorPath() string { return filepath.Join(l.stateDir, "events.cursor") }

func (l *Link) cursor() int64 {
	data, _ := os.ReadFile(l.cursorPath())
	n, _ := strconv.ParseInt(strings.TrimSpace(string(data)), 10, 64)
	return n
}

// Run keeps the link up until ctx ends: check-in, the event long poll, and
// audit delivery, each retrying with backoff and jitter.
func (l *Link) Run(ctx context.Context) {
	go l.deliverLoop(ctx)
	go l.checkinLoop(ctx)
	go l.retryUnsaved(ctx)
	l.pollEvents(ctx)
}

// quickEmptyPoll: a long poll answered empty sooner than this was not a
// long poll. The server answers empty only when the wait is over (or when
// it shuts down); a proxy that cuts long polls short, or answers them
// itself, would otherwise have the link poll as fast as the round trip
// allows, and a fleet behind it flood the proxy and the server.
const quickEmptyPoll = PollWait / 5

// pollEvents long-polls the server for events and applies them, until ctx
// ends. After a failed poll, and after one that came back empty at once, it
// waits on the backoff.
func (l *Link) pollEvents(ctx context.Context) {
	backoff := newBackoff(l.clock)
	after := l.cursor()
	for ctx.Err() == nil {
		began := l.clock.Now()
		ans, err := l.c.Events(ctx, after, PollWait)
		if err != nil {
			if ctx.Err() == nil {
				l.log.Warn("event poll failed", "err", err)
				backoff.wait(ctx, err)
			}
			continue
		}
		l.serverAnswered()
		for _, ev := range ans.Events {
			l.apply(ev)
		}
		if ans.Cursor > after {
			after = ans.Cursor
			if err := agent.WriteFileAtomic(l.cursorPath(), []byte(strconv.FormatInt(after, 10))); err != nil {
				l.log.Warn("cannot save the event cursor", "err", err)
			}
		}
		if took := l.clock.Now().Sub(began); len(ans.Events) == 0 && took < quickEmptyPoll {
			l.log.Warn("the event poll came back empty at once; is a proxy cutting long polls short?", "took", took, "poll_wait", PollWait)
			backoff.wait(ctx, nil)
			continue
		}
		backoff.reset()
	}
}

// apply acts on one event. A grant is checked against the pinned key, this
// agent and the clock before anything happens.
func (l *Link) apply(ev hoist.AgentEvent) {
	switch ev.Kind {
	case hoist.AgentEventApproved:
		g, err := hoist.VerifyGrant(l.c.GrantKey(), ev.Grant, l.c.ID.AgentID, l.clock.Now())
		if err != nil {
			l.log.Warn("refusing a grant", "request", ev.RequestID, "err", err)
			return
		}
		if _, err := user.Lookup(g.User); err != nil {
			l.log.Warn("refusing a grant for a user this machine does not have", "user", g.User, "request", g.Request)
			return
		}
		err = l.a.Activate(agent.Grant{SessionID: g.Session, RequestID: g.Request, User: g.User, NotBefore: g.NotBefore, NotAfter: g.NotAfter, By: "server", Signed: ev.Grant})
		if err != nil {
			l.log.Warn("cannot start the granted session", "session", g.Session, "err", err)
		}
		if errors.Is(err, agent.ErrNotRecorded) {
			// No room to record the session (a full disk): the user hears
			// why, and the grant is tried again until it starts or its
			// window ends, so that the session the server shows is the
			// one the machine gets once there is room.
			l.a.Decided(g.User, ev.RequestID, "refused", hoist.ErrorMessage(err))
			l.unsaved.add(ev, g.NotAfter)
		}
		if errors.Is(err, agent.ErrPreviousEnding) {
			// Asked for the moment the last window closed: it starts once
			// that session's end is done.
			l.unsaved.add(ev, g.NotAfter)
		}
	case hoist.AgentEventExtended:
		l.applyExtension(ev)
	case hoist.AgentEventPolicy:
		select {
		case l.recheck <- struct{}{}:
		default:
		}
	case hoist.AgentEventDenied, hoist.AgentEventExpired:
		l.a.Decided(ev.User, ev.RequestID, ev.Kind, ev.Reason)
	case hoist.AgentEventRevoked:
		go func() {
			if _, err := l.a.EndSession(ev.SessionID, string(hoist.EndRevoked), "server"); err != nil && hoist.ErrorCode(err) != hoist.ENotFound {
				l.log.Warn("cannot end a revoked session", "session", ev.SessionID, "err", err)
			}
			l.Kick()
		}()
	default:
		l.log.Info("skipping an event of a kind this agent does not know", "kind", ev.Kind)
	}
}

// applyExtension moves the end of a session under the new grant of an
// approved extension, checked as every grant is, and tells the user's
// waiting request that it was approved.
func (l *Link) applyExtension(ev hoist.AgentEvent) {
	g, err := hoist.VerifyGrant(l.c.GrantKey(), ev.Grant, l.c.ID.AgentID, l.clock.Now())
	if err != nil {
		l.log.Warn("refusing an extension's grant", "request", ev.RequestID, "err", err)
		return
	}
	err = l.a.Extend(agent.Grant{SessionID: g.Session, RequestID: g.Request, User: g.User, NotBefore: g.NotBefore, NotAfter: g.NotAfter, By: "server", Signed: ev.Grant})
	if err != nil {
		l.log.Warn("cannot extend the session", "session", g.Session, "err", err)
		l.a.Decided(g.User, ev.RequestID, "refused", hoist.ErrorMessage(err))
		return
	}
	l.a.Decided(g.User, ev.RequestID, "approved", "")
}

// Checkin reports the agent to the server with the revision of the bundle
// it holds, and applies the new bundle when the server sends one.
func (l *Link) Checkin(ctx context.Context) error {
	defer l.fetchOfflineKey(ctx)
	for range 2 { // once more after a new bundle, to confirm the revision held
		facts := l.facts
		facts.Revision, facts.Skipped = l.a.PolicyState()
		facts.Sessions = l.sessions()
		ans, err := l.c.Checkin(ctx, facts)
		if err != nil {
			return l.checkinFailed(facts, err)
		}
		if ans == nil {
			return nil
		}
		if err := l.a.ApplyBundle(ans.Bundle, ans.Signature); err != nil {
			l.Kick() // the rejection's audit event
			return err
		}
		l.Kick() // the policy audit events
	}
	return nil
}

// checkinLoop checks in at start, at the configured interval, and whenever
// the server says that policies changed.
func (l *Link) checkinLoop(ctx context.Context) {
	backoff := newBackoff(l.clock)
	for ctx.Err() == nil {
		if err := l.Checkin(ctx); err != nil {
			if ctx.Err() == nil {
				l.log.Warn("check-in failed", "err", err)
				backoff.wait(ctx, err)
			}
			continue
		}
		l.serverAnswered()
		backoff.reset()
		every := hoist.DefaultCheckinInterval
		if c := l.a.Bundle().Config.CheckinInterval; c != nil && c.D() > 0 {
			every = c.D()
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-l.recheck:
		}
		t.Stop()
	}
}

// deliverEvery is how often the audit queue and the recordings are tried
// while the server takes them (a kick sends them at once).
const deliverEvery = 2 * time.Second

// deliverLoop sends the audit queue and the recordings to the server: at
// start, every deliverEvery and when kicked, while the server takes them.
// After a failure it waits on its own backoff, and a kick does not cut the
// wait short: the events are safe in the outbox, and a fleet kicked by its
// users would otherwise call a server that is down as often as it is used.
// Another call of the link that got an answer (serverAnswered) ends the
// wait: the server is back, and the queue goes at once.
func (l *Link) deliverLoop(ctx context.Context) {
	backoff := newBackoff(l.clock)
	t := time.NewTicker(deliverEvery)
	defer t.Stop()
	for ctx.Err() == nil {
		taken, err := l.deliver(ctx)
		if taken > 0 {
			backoff.reset() // the server is taking events: a failure after starts a new outage
		}
		if err != nil && ctx.Err() == nil {
			l.log.Debug("audit delivery failed; will retry", "err", err)
		}
		if uerr := l.UploadRecordings(ctx); uerr != nil && ctx.Err() == nil {
			l.log.Debug("recording upload failed; will retry", "err", uerr)
			err = errors.Join(err, uerr)
		}
		if err != nil {
			backoff.waitOr(ctx, err, l.answered)
			continue
		}
		backoff.reset()
		select {
		case <-ctx.Done():
		case <-t.C:
		case <-l.kick:
		}
	}
}

// serverAnswered tells the delivery that a call of the link got an answer
// from the server.
func (l *Link) serverAnswered() {
	select {
	case l.answered <- struct{}{}:
	default:
	}
}

// batchBytes keeps a delivery well under the server's 64 KiB body limit.
const batchBytes = 32 << 10

// Deliver sends everything queued, in batches, acknowledging each batch
// only after the server stored it. An event the server refuses outright is
// logged and passed over, so that one bad event cannot hold back all the
// others for ever.
func (l *Link) Deliver(ctx context.Context) error {
	_, err := l.deliver(ctx)
	return err
}

// deliver is Deliver that also says how many batches the server took
// (or refused outright: it answered).
func (l *Link) deliver(ctx context.Context) (taken int, err error) {
	ob := l.a.Outbox()
	for ; ; taken++ {
		events, ends, err := ob.Pending(500, batchBytes)
		if err != nil || len(events) == 0 {
			return taken, err
		}
		numbered := l.seqs.on(l.clock.Now())
		convert := func(ev agent.Event) wire.AgentAuditEvent {
			w := wire.AgentAuditEvent{ID: ev.ID, Time: ev.Time, Action: ev.Action, Actor: ev.Actor, Subject: ev.Subject, Detail: ev.Detail}
			if numbered {
				w.Seq = ev.Seq
			}
			return w
		}
		batch := make([]wire.AgentAuditEvent, 0, len(events))
		for _, ev := range events {
			if ev.ID != "" {
				batch = append(batch, convert(ev))
			}
		}
		err = l.sendAudit(ctx, batch)
		if refused(err) && len(batch) > 1 {
			// Find the bad one: deliver one at a time.
			for j, ev := range events {
				if ev.ID != "" {
					if err := l.sendAudit(ctx, []wire.AgentAuditEvent{convert(ev)}); err != nil && !refused(err) {
						return taken, err
					} else if err != nil {
						l.log.Error("the server refused an audit event; passing over it", "event", ev.ID, "action", ev.Action, "err", err)
					}
				}
				if err := ob.Ack(ends[j]); err != nil {
					return taken, err
				}
			}
			continue
		}
		if refused(err) {
			l.log.Error("the server refused an audit event; passing over it", "err", err)
		} else if err != nil {
			return taken, err
		}
		if err := ob.Ack(ends[len(ends)-1]); err != nil {
			return taken, err
		}
	}
}

// sendAudit delivers batch. A server older than the events' numbers
// refuses the field: then the same events go again without them, and
// deliveries leave them out for reportRetryAfter.
func (l *Link) sendAudit(ctx context.Context, batch []wire.AgentAuditEvent) error {
	err := l.c.Audit(ctx, batch)
	if !refused(err) || !slices.ContainsFunc(batch, func(ev wire.AgentAuditEvent) bool { return ev.Seq != 0 }) {
		return err
	}
	bare := slices.Clone(batch)
	for i := range bare {
		bare[i].Seq = 0
	}
	if l.c.Audit(ctx, bare) != nil {
		return err
	}
	l.log.Warn("the server refused numbered audit events; sending them without numbers for a while", "for", reportRetryAfter)
	l.seqs.refused(l.clock.Now())
	return nil
}

// refused reports whether the server rejected what was sent (retrying the
// same bytes cannot help), as opposed to being unreachable.
func refused(err error) bool {
	switch hoist.ErrorCode(err) {
	case hoist.EInvalid, hoist.ETooLarge:
		return true
	}
	return false
}

// Backoff bounds, after a failed call to the server. In the first
// longOutage of an outage the wait grows to maxBackoff and no further: with
// jitter a wait is up to 1.5 times that, so an agent is back within about
// 6 s of a server that was gone for a blip or a restart (the fault suite
// measured up to 10 s after a 3 s outage when the wait grew with the
// outage). Once the server has been gone that long, being back a few
// seconds sooner matters less than the load a fleet puts on it: 50,000
// agents waiting 4 s make ≈ 25,000 connection attempts a second against a
// dead server, and as many TLS handshakes the moment it returns. So the
// wait then goes on doubling to maxOutageBackoff, with full jitter
// (anywhere from 0 to the delay): a fleet spreads its calls evenly over the
// window, ≈ 50,000 / 30 s ≈ 1,700 a second, and an agent is back at most
// maxOutageBackoff after the server is.
const (
	minBackoff       = 100 * time.Millisecond
	maxBackoff       = 4 * time.Second
	longOutage       = time.Minute
	maxOutageBackoff = time.Minute
)

// backoff is the wait between failed calls to the server, on the link's
// clock.
type backoff struct {
	clock agent.Clock
	d     time.Duration
	since time.Time // the first failure since the last success; zero after one
}

func newBackoff(clock agent.Clock) *backoff { return &backoff{clock: clock, d: minBackoff} }

// reset is called after a call succeeded: the next outage starts quick.
func (b *backoff) reset() { b.d, b.since = minBackoff, time.Time{} }

// next is the wait after err, and moves the delay on: jitter around the
// delay, which doubles up to maxBackoff in the outage's first longOutage,
// then full jitter up to a delay that doubles to maxOutageBackoff. A server
// that answered with a Retry-After (it is up, its database is not: a 503;
// or it is busy: a 429) is called again when it said, plus up to a quarter
// of that so that a fleet does not come back in step: never sooner, or
// every agent of a fleet would send it the calls it asked not to get (the
// wait it asks for is bounded by maxRetryAfter).
func (b *backoff) next(err error) time.Duration {
	now := b.clock.Now()
	if b.since.IsZero() {
		b.since = now
	}
	var d time.Duration
	if now.Sub(b.since) < longOutage {
		d = b.d/2 + rand.N(b.d)
		b.d = min(b.d*2, maxBackoff)
	} else {
		b.d = min(b.d*2, maxOutageBackoff)
		d = rand.N(b.d + 1)
	}
	if after := RetryAfter(err); after > 0 {
		d = after + rand.N(after/4+1)
	}
	return d
}

// wait sleeps for next(err) on the backoff's clock, or until ctx ends.
func (b *backoff) wait(ctx context.Context, err error) { b.waitOr(ctx, err, nil) }

// waitOr is wait that also ends when wake is ready.
func (b *backoff) waitOr(ctx context.Context, err error, wake <-chan struct{}) {
	done := make(chan struct{})
	t := b.clock.AfterFunc(b.next(err), func() { close(done) })
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-done:
	case <-wake:
	}
}

// fetchOfflineKey gets the offline key of an agent enrolled before
// offline approval, stores it, and acknowledges it, so that the server
// never sends it again. A server older than offline approval has no such
// call: the agent goes on without offline approval.
func (l *Link) fetchOfflineKey(ctx context.Context) {
	l.unacked.Lock()
	defer l.unacked.Unlock()
	if l.unacked.id != "" {
		if err := l.c.AckOfflineKey(ctx, l.unacked.id); err == nil {
			l.unacked.id = ""
		}
		return
	}
	if l.a.OfflineKeyID() != "" {
		return
	}
	ans, err := l.c.OfflineKey(ctx)
	if err != nil {
		if hoist.ErrorCode(err) != hoist.ENotFound {
			l.log.Warn("cannot get the offline approval key", "err", err)
		}
		return
	}
	if hoist.OfflineKeyID(ans.Key) != ans.KeyID {
		l.log.Error("the server sent an offline key that is not the one it names", "key_id", ans.KeyID)
		return
	}
	if err := l.a.SetOfflineKey(l.c.ID.AgentID, ans.Key); err != nil {
		l.log.Error("cannot store the offline approval key", "err", err)
		return
	}
	if err := l.c.AckOfflineKey(ctx, ans.KeyID); err != nil {
		l.log.Warn("cannot acknowledge the offline approval key; it is acknowledged at the next check-in", "err", err)
		l.unacked.id = ans.KeyID
	}
	l.Kick()
}

// unsavedRetry is how often grants hoistd could not record are tried again.
const unsavedRetry = 500 * time.Millisecond

// unsavedGrants are approved events whose session hoistd could not start
// yet (agent.ErrNotRecorded, agent.ErrPreviousEnding), each kept until its
// window ends.
type unsavedGrants struct {
	mu   sync.Mutex
	evs  []hoist.AgentEvent
	ends []time.Time
}

func (u *unsavedGrants) add(ev hoist.AgentEvent, notAfter time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.evs, u.ends = append(u.evs, ev), append(u.ends, notAfter)
}

// take empties the list and returns what in it is still within its window.
func (u *unsavedGrants) take(now time.Time) []hoist.AgentEvent {
	u.mu.Lock()
	defer u.mu.Unlock()
	var live []hoist.AgentEvent
	for i, ev := range u.evs {
		if now.Before(u.ends[i]) {
			live = append(live, ev)
		}
	}
	u.evs, u.ends = nil, nil
	return live
}

// retryUnsaved applies again, every unsavedRetry until ctx ends, the grants
// that could not be recorded; apply puts back the ones that still cannot.
func (l *Link) retryUnsaved(ctx context.Context) {
	t := time.NewTicker(unsavedRetry)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for _, ev := range l.unsaved.take(l.clock.Now()) {
			l.apply(ev)
		}
	}
}
