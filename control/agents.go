package control

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"strings"
	"sync"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

// Signer issues what only the server's keys can: agent certificates and
// grants. The server package backs it with the data directory's CA and
// grant key.
type Signer interface {
	// IssueAgentCertificate signs a client certificate for agentID.
	IssueAgentCertificate(pub crypto.PublicKey, agentID string, now time.Time) ([]byte, error)
	// GrantKey signs grants; agents pin its public half at enrolment.
	GrantKey() ed25519.PrivateKey
	// CAPEM is the CA certificate agents pin.
	CAPEM() []byte
	// CAFingerprint is the SHA-256 of the CA certificate, hex.
	CAFingerprint() string
}

// CreateEnrollToken makes a token that enrols up to uses machines into
// group until ttl passes.
func (s *Service) CreateEnrollToken(ctx context.Context, a Actor, group string, ttl time.Duration, uses int) (string, hoist.EnrollToken, error) {
	if err := a.require(hoist.PermitManageAgents); err != nil {
		return "", hoist.EnrollToken{}, err
	}
	if s.signer == nil {
		return "", hoist.EnrollToken{}, hoist.Errorf(hoist.EUnavailable, "this server cannot enrol agents")
	}
	switch {
	case ttl < time.Minute || ttl > 30*24*time.Hour:
		return "", hoist.EnrollToken{}, hoist.Errorf(hoist.EInvalid, "the token's lifetime must be %s", hoist.DurationRange(time.Minute, 720*time.Hour))
	case uses < 1 || uses > 10000:
		return "", hoist.EnrollToken{}, hoist.Errorf(hoist.EInvalid, "uses must be between 1 and 10000")
	case len(group) > 128 || strings.ContainsAny(group, "\x00\n\r"):
		return "", hoist.EnrollToken{}, hoist.Errorf(hoist.EInvalid, "invalid group name")
	}
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	secret := base64.RawURLEncoding.EncodeToString(raw)
	token := wire.EnrollToken{URL: s.url, Fingerprint: s.signer.CAFingerprint(), Secret: secret}.String()
	now := s.now()
	et := hoist.EnrollToken{Hash: tokenHash(secret), Group: group, CreatedBy: a.Name, CreatedAt: now, ExpiresAt: now.Add(ttl), UsesLeft: uses}
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		if err := tx.InsertEnrollToken(ctx, et); err != nil {
			return err
		}
		return audit(ctx, tx, now, a.Name, "agent.token_created", "", map[string]any{"group": group, "uses": uses, "expires_at": et.ExpiresAt})
	})
	return token, et, err
}

// checkFacts refuses facts that are not short printable text. Printable
// also refuses format characters (zero-width marks, bidirectional
// overrides): a hostname that looks like another but is not would slip
// past the duplicate check.
func checkFacts(f wire.AgentFacts) error {
	for _, v := range []string{f.Hostname, f.Version, f.OS, f.Kernel} {
		if len(v) > 253 || strings.ContainsAny(v, "\x00\n\r\x1b\t") || !hoist.Printable(v) {
			return hoist.Errorf(hoist.EInvalid, "agent facts must be short printable text")
		}
	}
	if f.Hostname == "" {
		return hoist.Errorf(hoist.EInvalid, "hostname is required")
	}
	return checkHostnameASCII(f.Hostname)
}

// checkHostnameASCII refuses a hostname with anything but ASCII letters,
// digits, '-', '.' and '_'. Hostnames travel as ASCII (an internationalised
// name as punycode, xn--…), and a name in another script can look like a
// real one letter for letter (Cyrillic "ѕ" for "s") and pass the duplicate
// check. os.Hostname on a real machine gives such a name.
func checkHostnameASCII(h string) error {
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return hoist.Errorf(hoist.EInvalid, "hostname %q: only ASCII letters, digits, '-', '.' and '_' are allowed (an internationalised name as punycode, xn--…)", h)
		}
	}
	return nil
}

// Enroll spends one use of the token's secret and returns the agent's
// identity: a client certificate for the key in csr, the CA, and the key
// grants are signed with.
func (s *Service) Enroll(ctx context.Context, secret string, csrDER []byte, facts wire.AgentFacts) (wire.Enrolment, error) {
	if s.signer == nil {
		return wire.Enrolment{}, hoist.Errorf(hoist.EUnavailable, "this server cannot enrol agents")
	}
	if err := checkFacts(facts); err != nil {
		return wire.Enrolment{}, err
	}
	csr, err := x509.ParseCertificateRequest(csrDER)
	if err != nil || csr.CheckSignature() != nil {
		return wire.Enrolment{}, hoist.Errorf(hoist.EInvalid, "the certificate request is not valid")
	}
	now := s.now()
	id := hoist.NewID(hoist.AgentIDPrefix)
	var offlineKey []byte
	hash := tokenHash(secret)
	refused := hoist.Errorf(hoist.EUnauthorized, "the enrolment token is unknown, used up or expired")
	err = s.store.Update(ctx, func(tx hoist.Tx) error {
		// A fleet enrols with one token: spending its use first held the
		// token's row, and every other enrolment with it, for the whole
		// transaction (BENCHMARKS.md, 3 replicas). So the token is read
		// first, unlocked, and its use spent last, just before the commit;
		// the spend alone decides a race for the last use.
		tok, err := tx.EnrollToken(ctx, hash)
		if err != nil || !tok.Usable(now) {
			return refused
		}
		// The token's spend, not the audit head, is what enrolments race
		// on: see hoist.Tx.SealAuditAfterCommit.
		tx.SealAuditAfterCommit()
		rec := hoist.AgentRecord{ID: id, Hostname: facts.Hostname, Version: facts.Version, OS: facts.OS, Kernel: facts.Kernel,
			Group: tok.Group, EnrolledAt: now, LastSeen: now}
		if err := tx.InsertAgent(ctx, rec); err != nil {
			return err
		}
		// The offline key goes out with the answer: a new one at every
		// enrolment, so re-enrolling rotates it (see offline.go).
		if offlineKey, err = s.newOfflineKey(ctx, tx, id, now, true); err != nil {
			return err
		}
		if err := audit(ctx, tx, now, facts.Hostname, "agent.enrolled", id, map[string]any{"hostname": facts.Hostname, "group": tok.Group, "version": facts.Version}); err != nil {
			return err
		}
		if err := tx.SpendEnrollToken(ctx, hash, now); hoist.ErrorCode(err) == hoist.ENotFound {
			return refused // another enrolment took the last use meanwhile: nothing of this one stays
		} else if err != nil {
			return err
		}
		return nil
	})
	if err != nil {
		return wire.Enrolment{}, err
	}
	certPEM, err := s.signer.IssueAgentCertificate(csr.PublicKey, id, now)
	if err != nil {
		return wire.Enrolment{}, hoist.WrapError(hoist.EInternal, "cannot issue the agent certificate", err)
	}
	return wire.Enrolment{AgentID: id, Certificate: string(certPEM), CA: string(s.signer.CAPEM()),
		GrantKey: base64.StdEncoding.EncodeToString(s.signer.GrantKey().Public().(ed25519.PublicKey)), OfflineKey: offlineKey}, nil
}

// Agent returns the agent whose certificate names id, refusing a revoked
// one. Agent-facing calls start here.
//
// Every agent request starts here, so a record read is kept for
// agentCacheTTL: profiles of a large fleet showed this read transaction as
// the server's largest cost (BENCHMARKS.md). A revoke on this server drops
// the record at once; a revoke on another replica is seen within the TTL.
func (s *Service) Agent(ctx context.Context, id string) (a hoist.AgentRecord, err error) {
	if a, ok := s.agents.get(id, s.clock()); ok {
		return a, nil
	}
	// Apart: an agent's long poll parks after this read (see viewApart).
	err = s.viewApart(ctx, func(r hoist.Reads) (err error) { a, err = r.AgentByID(ctx, id); return err })
	if hoist.ErrorCode(err) == hoist.ENotFound {
		return a, hoist.Errorf(hoist.EUnauthorized, "unknown agent")
	}
	if err != nil {
		return a, err
	}
	if a.Revoked {
		return a, hoist.Errorf(hoist.EUnauthorized, "this agent was revoked")
	}
	s.agents.put(a, s.clock())
	return a, nil
}

// agentCacheTTL is how long an agent record read for authentication is
// trusted without reading it again.
const agentCacheTTL = 5 * time.Second

// agentCache keeps recently read, unrevoked agent records.
type agentCache struct {
	mu   sync.Mutex
	recs map[string]cachedAgent
}

type cachedAgent struct {
	rec     hoist.AgentRecord
	expires time.Time
}

func (c *agentCache) get(id string, now time.Time) (hoist.AgentRecord, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.recs[id]
	if !ok || !now.Before(e.expires) {
		return hoist.AgentRecord{}, false
	}
	return e.rec, true
}

func (c *agentCache) put(a hoist.AgentRecord, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.recs == nil || len(c.recs) > 1_000_000 {
		c.recs = map[string]cachedAgent{} // bounded: a fresh start costs one read each
	}
	c.recs[a.ID] = cachedAgent{rec: a, expires: now.Add(agentCacheTTL)}
}

func (c *agentCache) drop(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.recs, id)
}

// Checkin records that the agent is alive, what it runs, which bundle it
// holds and what it could not process. It returns the agent's bundle,
// signed with the grant key (hoist.SignBundle), when that differs from the
// revision the agent holds, and nil otherwise.
func (s *Service) Checkin(ctx context.Context, agentID string, facts wire.AgentFacts) (*wire.CheckinAnswer, error) {
	if err := checkFacts(facts); err != nil {
		return nil, err
	}
	if len(facts.Revision) > 64 || len(facts.Skipped) > 1000 {
		return nil, hoist.Errorf(hoist.EInvalid, "agent facts must be short")
	}
	for _, sk := range facts.Skipped {
		if len(sk.ID)+len(sk.Name)+len(sk.Reason) > 2000 {
			return nil, hoist.Errorf(hoist.EInvalid, "agent facts must be short")
		}
	}
	if err := s.watchSessions(ctx, agentID, facts.Sessions); err != nil { // before LastSeen moves: see sessionwatch.go
		return nil, err
	}
	now := s.now()
	var (
		out   *hoist.Bundle
		fresh hoist.AgentRecord
	)
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		a, err := tx.AgentByID(ctx, agentID)
		if err != nil {
			return err
		}
		old, renamed := a.NoteHostname(facts.Hostname, now)
		if renamed {
			// A new hostname is audited, and its record must not be lost
			// to a crash: this check-in waits for the disk.
			if err := auditHostname(ctx, tx, now, a, old); err != nil {
				return err
			}
			if err := notePinHolder(ctx, tx, &a); err != nil {
				return err
			}
		} else if err := tx.RelaxDurability(ctx); err != nil {
			// A check-in only records facts the agent sends again at its
			// next one: it need not wait for the disk (on PostgreSQL each
			// such wait was the whole of a check-in's time; see
			// BENCHMARKS.md).
			return err
		}
		a.Version, a.OS, a.Kernel, a.LastSeen = facts.Version, facts.OS, facts.Kernel, now
		a.Revision, a.Skipped = facts.Revision, facts.Skipped
		b, _, err := bundleOf(ctx, tx, a)
		if err != nil {
			return err
		}
		if err := addEmergency(ctx, tx, &b, a.ID, now); err != nil { // see emergency.go
			return err
		}
		if b.Revision != facts.Revision {
			out = &b
		}
		if err := tx.UpdateAgent(ctx, a); err != nil {
			return err
		}
		fresh = a
		return nil
	})
	if err == nil && !fresh.Revoked {
		s.agents.put(fresh, s.clock())
	}
	if err != nil || out == nil {
		return nil, err
	}
	return s.signBundle(*out)
}

// signBundle is b as delivered: its JSON and the signature the agent checks
// against the grant key it pinned at enrolment, so that a bundle edited on
// the machine is noticed.
func (s *Service) signBundle(b hoist.Bundle) (*wire.CheckinAnswer, error) {
	if s.signer == nil {
		return nil, hoist.Errorf(hoist.EUnavailable, "this server cannot sign policy bundles")
	}
	data, sig, err := hoist.SignBundle(s.signer.GrantKey(), b)
	if err != nil {
		return nil, err
	}
	return &wire.CheckinAnswer{Bundle: data, Signature: sig}, nil
}

// AgentRequest files a user's request from the agent a.
func (s *Service) AgentRequest(ctx context.Context, a hoist.AgentRecord, user, reason string, d time.Duration) (hoist.Request, bool, error) {
	return s.AgentRequestOf(ctx, a, user, nil, reason, d)
}

// AgentRequestOf files a user's request from the agent a, unixGroups being
// the user's groups on that machine as the agent reports them (for the
// automatic approval rules). A new request that a rule of the startup
// policy covers comes back approved, by the rule.
func (s *Service) AgentRequestOf(ctx context.Context, a hoist.AgentRecord, user string, unixGroups []string, reason string, d time.Duration) (hoist.Request, bool, error) {
	if user == "root" {
		return hoist.Request{}, false, hoist.Errorf(hoist.EInvalid, "root needs no JIT mode")
	}
	// The agent checks the startup policy first, for a quick answer; the
	// server checks again, since it is the server that approves.
	var (
		jit    hoist.JITPolicies
		rules  *hoist.JITStartup
		groups []string // the machine's computer groups
	)
	err := s.store.View(ctx, func(tx hoist.Tx) error {
		b, _, err := bundleOf(ctx, tx, a)
		if err != nil {
			return err
		}
		var ok bool
		if jit, ok = b.JIT(); !ok {
			return hoist.Errorf(hoist.EForbidden, "JIT mode is not enabled for this machine: the three JIT policies are not all active for any of its computer groups")
		}
		rules = b.StartupRules(jit)
		groups = b.Groups
		return nil
	})
	if err != nil {
		return hoist.Request{}, false, err
	}
	if rules.MaxDuration == 0 {
		rules.MaxDuration = hoist.Duration(s.settings.MaxDuration) // the server's flag is the policy's default
	}
	d, err = rules.CheckWindow(d, reason)
	if err != nil {
		return hoist.Request{}, false, err
	}
	// The request is shown under the agent's name: the pinned one, when an
	// admin pinned it, and not the hostname the agent claims.
	r, created, err := s.CreateRequest(ctx, requestInput(a, user, reason, d, jit.Startup.Name, rules))
	if err != nil || !created {
		return r, created, err
	}
	if len(unixGroups) > 64 {
		unixGroups = unixGroups[:64] // bounded: a rule names few groups
	}
	approved, _, err := s.autoApprove(ctx, r, rules.AutoApprove, hoist.AutoAsk{UnixGroups: unixGroups, ComputerGroups: groups})
	if err != nil {
		// The request stands: an approver decides it.
		s.log.Warn("automatic approval failed", "request", r.ID, "err", err)
		return r, true, nil
	}
	return approved, true, nil
}

// requestInput is the request user files on agent a under the startup
// rules of policy.
func requestInput(a hoist.AgentRecord, user, reason string, d time.Duration, policy string, rules *hoist.JITStartup) RequestInput {
	in := RequestInput{User: user, Host: a.Name(), Agent: a.ID, Reason: reason, Duration: d,
		ApproverRole: rules.ApproverRole, MaxDuration: rules.MaxDuration.D(), Policy: policy,
		ApprovalsRequired: rules.ApprovalsRequired, PendingTTL: rules.PendingTTL.D()}
	for _, w := range rules.Durations {
		in.Durations = append(in.Durations, w.D())
	}
	return in
}

// AgentCancelRequest withdraws user's waiting request on agent a: the user
// no longer needs it. It fails with ENotFound when none is waiting.
func (s *Service) AgentCancelRequest(ctx context.Context, a hoist.AgentRecord, user string) (hoist.Request, error) {
	if user == "" || len(user) > 256 {
		return hoist.Request{}, hoist.Errorf(hoist.EInvalid, "user must be 1 to 256 bytes")
	}
	var waiting []hoist.Request
	err := s.store.View(ctx, func(tx hoist.Tx) (err error) {
		// Not by host: the agent's name may have been pinned since.
		waiting, err = tx.Requests(ctx, hoist.RequestFilter{State: hoist.RequestPending, User: user, Limit: hoist.MaxListLimit})
		return err
	})
	if err != nil {
		return hoist.Request{}, err
	}
	var id string
	for _, r := range waiting {
		if r.Agent == a.ID {
			id = r.ID
		}
	}
	if id == "" {
		return hoist.Request{}, hoist.Errorf(hoist.ENotFound, "no request of %s is waiting", user)
	}
	var next hoist.Request
	err = s.decide(ctx, id, func(tx hoist.Tx, r hoist.Request, now time.Time) (err error) {
		if r.Agent != a.ID || r.User != user {
			return hoist.Errorf(hoist.ENotFound, "no request of %s is waiting", user)
		}
		if next, err = r.Next(hoist.RequestEvent{To: hoist.RequestCancelled, Actor: user, Reason: "withdrawn by the user"}, now); err != nil {
			return err
		}
		if err := tx.UpdateRequest(ctx, next); err != nil {
			return err
		}
		return audit(ctx, tx, now, user, hoist.AuditRequestCancelled, r.ID, map[string]any{"user": r.User, "host": r.Host, "agent": a.ID})
	})
	if err != nil {
		return hoist.Request{}, err
	}
	s.log.Info("request withdrawn", "request", id, "user", user)
	return next, nil
}

// MaxEventWait caps a long poll.
const MaxEventWait = 60 * time.Second

// AgentEvents returns the agent's events after seq. With wait, an empty
// answer is held until an event comes or wait passes: a long poll, so that
// a decision reaches the agent the moment it is made.
//
// Why a long poll rather than SSE or a WebSocket: each poll is an ordinary
// HTTP request with a JSON answer, so it passes every proxy and load
// balancer, rides HTTP/2 on the agent's one connection, needs no library,
// and holds no state on the server but the agent's cursor — any replica
// can answer the next poll, and an answer lost on the way is simply asked
// for again from the same cursor. The cost, one request per event batch,
// is nothing at the rate decisions are made.
func (s *Service) AgentEvents(ctx context.Context, agentID string, after int64, wait time.Duration) ([]hoist.AgentEvent, error) {
	wait = min(wait, MaxEventWait)
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	if wait > 0 {
		defer s.presence.begin(agentID, s.now)()
	}
	for woke := false; ; woke = true {
		// Subscribe before reading, so that an event committed between the
		// read and the wait still wakes us.
		woken := s.notify.subscribe(agentID)
		var evs []hoist.AgentEvent
		err := s.viewApart(ctx, func(r hoist.Reads) (err error) { // the poll parks next: see viewApart
			evs, err = r.AgentEvents(ctx, agentID, after, 100)
			if err != nil || (len(evs) == 0 && !woke) {
				return err
			}
			// The poll was authenticated when it began, maybe long ago: before
			// a grant goes out, or after a wake (a revoke wakes), the agent's
			// record is read again, uncached and after the events, so that a
			// revoke committed before them is seen and nothing reaches the
			// machine. Events and wakes are rare beside renewals.
			if err := stillEnrolled(ctx, r, agentID); err != nil {
				evs = nil // refused: nothing of them goes out
				return err
			}
			return nil
		})
		if err != nil || len(evs) > 0 || wait <= 0 {
			s.notify.unsubscribe(agentID, woken)
			return evs, err
		}
		select {
		case <-woken:
		case <-deadline.C:
			s.notify.unsubscribe(agentID, woken)
			return nil, nil
		case <-s.notify.closed:
			s.notify.unsubscribe(agentID, woken)
			return nil, nil
		case <-ctx.Done():
			s.notify.unsubscribe(agentID, woken)
			return nil, nil // the agent hung up; nobody reads the answer
		}
	}
}

// stillEnrolled refuses an agent that is unknown or revoked now.
func stillEnrolled(ctx context.Context, r hoist.Reads, agentID string) error {
	a, err := r.AgentByID(ctx, agentID)
	if hoist.ErrorCode(err) == hoist.ENotFound {
		return hoist.Errorf(hoist.EUnauthorized, "unknown agent")
	}
	if err != nil {
		return err
	}
	if a.Revoked {
		return hoist.Errorf(hoist.EUnauthorized, "this agent was revoked")
	}
	return nil
}

// AgentAudit stores the agent's audit events in the audit log, each once:
// a retry after a lost answer records nothing twice.
func (s *Service) AgentAudit(ctx context.Context, a hoist.AgentRecord, events []wire.AgentAuditEvent) (stored int, err error) {
	if len(events) > 1000 {
		return 0, hoist.Errorf(hoist.EInvalid, "at most 1000 events at once")
	}
	for _, ev := range events {
		if !strings.HasPrefix(ev.ID, "evt_") || len(ev.ID) > 64 || ev.Seq < 0 || !strings.Contains(ev.Action, ".") || len(ev.Action) > 64 ||
			len(ev.Actor) > 256 || len(ev.Subject) > 256 || !hoist.Printable(ev.ID+ev.Action+ev.Actor+ev.Subject) {
			return stored, hoist.Errorf(hoist.EInvalid, "malformed agent event %q", ev.ID)
		}
	}
	now := s.now()
	for _, ev := range events {
		err := s.store.Update(ctx, func(tx hoist.Tx) error {
			fresh, err := tx.MarkDelivered(ctx, a.ID+"/"+ev.ID)
			if err != nil {
				return err
			}
			if !fresh {
				// Sent again, or a fact recorded again under the ID it had
				// (agent.OnceID) with a number of its own: that number
				// arrived, and is no gap.
				return s.trackAuditSeq(ctx, tx, a, ev, now)
			}
			detail := map[string]any{}
			for k, v := range ev.Detail {
				detail[k] = v
			}
			// What the server knows wins over what the agent says: an agent
			// cannot write records in another agent's name.
			detail["agent"], detail["host"], detail["event_id"], detail["at"] = a.ID, a.Name(), ev.ID, ev.Time
			if a.PinnedName != "" {
				detail["reported_hostname"] = a.Hostname
			}
			if ev.Seq > 0 {
				detail["agent_seq"] = ev.Seq
			}
			stored++
			if foreign, err := foreignSessionReport(ctx, tx, a, ev); err != nil {
				return err
			} else if foreign {
				// Root on one machine writing another's session record:
				// kept out of the session, and loud.
				if err := audit(ctx, tx, now, a.Name(), "alert.foreign_session_report", ev.Subject, map[string]any{"agent": a.ID, "host": a.Name(),
					"action": ev.Action, "event_id": ev.ID}); err != nil {
					return err
				}
				return s.trackAuditSeq(ctx, tx, a, ev, now)
			}
			if err := audit(ctx, tx, now, ev.Actor, "agent."+ev.Action, ev.Subject, detail); err != nil {
				return err
			}
			if err := storeCommands(ctx, tx, a, ev); err != nil { // see sessionview.go
				return err
			}
			switch ev.Action {
			case "offline.accepted":
				if err := recordOfflineUse(ctx, tx, now, a, ev.Subject, detail); err != nil { // see offline.go
					return err
				}
			case "emergency.used":
				if err := recordEmergencyUse(ctx, tx, now, a, ev.Subject, detail); err != nil { // see emergency.go
					return err
				}
			}
			return s.trackAuditSeq(ctx, tx, a, ev, now) // see agentseq.go
		})
		if err != nil {
			return stored, err
		}
	}
	return stored, s.watchActivity(ctx, a, events) // commands in ended sessions: see sessionwatch.go
}

// AgentSessionEnded records that the user ended their session on the agent
// ("hoist exit"), so that the server's view matches.
func (s *Service) AgentSessionEnded(ctx context.Context, a hoist.AgentRecord, sessionID string) error {
	if !hoist.ValidID(hoist.SessionIDPrefix, sessionID) {
		return hoist.Errorf(hoist.ENotFound, "no session %q", sessionID)
	}
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		sess, err := tx.Session(ctx, sessionID)
		if err != nil {
			return err
		}
		if sess.Agent != a.ID {
			return hoist.Errorf(hoist.ENotFound, "no session %q on this agent", sessionID)
		}
		_, err = s.endSession(ctx, tx, sess, hoist.EndExited, sess.User, "ended on the machine")
		return err
	})
	if hoist.ErrorCode(err) == hoist.EConflict {
		return nil // already ended: the answer the agent wants
	}
	return err
}

// Agents lists the enrolled agents.
func (s *Service) Agents(ctx context.Context, a Actor) (as []hoist.AgentRecord, err error) {
	if err := a.require(hoist.PermitReadRequests); err != nil {
		return nil, err
	}
	err = s.store.View(ctx, func(tx hoist.Tx) (err error) { as, err = tx.Agents(ctx); return err })
	return as, err
}

// RevokeAgent cuts an agent off: its certificate is refused from now on.
func (s *Service) RevokeAgent(ctx context.Context, a Actor, id string) error {
	if err := a.require(hoist.PermitManageAgents); err != nil {
		return err
	}
	now := s.now()
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		rec, err := tx.AgentByID(ctx, id)
		if err != nil {
			return err
		}
		if rec.Revoked {
			return hoist.Errorf(hoist.EConflict, "agent %s is already revoked", id)
		}
		rec.Revoked = true
		if err := tx.UpdateAgent(ctx, rec); err != nil {
			return err
		}
		return audit(ctx, tx, now, a.Name, "agent.revoked", id, map[string]any{"hostname": rec.Hostname})
	})
	if err == nil {
		s.agents.drop(id)
		s.notify.wake(id) // a long poll it holds ends, and its next request is refused
	}
	return err
}

// pushDecision queues the event an agent must hear about a decision, in the
// decision's transaction.
func (s *Service) pushDecision(ctx context.Context, tx hoist.Tx, ev hoist.AgentEvent) error {
	if ev.AgentID == "" {
		return nil // a request filed without an agent (tests, imports)
	}
	if _, err := tx.AppendAgentEvent(ctx, ev); err != nil {
		return err
	}
	return tx.NotifyAgent(ctx, ev.AgentID)
}

// Wake answers the long polls of agentID now: another server recorded an
// event for it.
func (s *Service) Wake(agentID string) { s.notify.wake(agentID) }

// notifier wakes the long polls of one agent. It is in-process: replicas on
// one PostgreSQL database will need LISTEN/NOTIFY here.
type notifier struct {
	mu      sync.Mutex
	waiters map[string]map[chan struct{}]bool
	closed  chan struct{}
	once    sync.Once
}

func newNotifier() *notifier {
	return &notifier{waiters: map[string]map[chan struct{}]bool{}, closed: make(chan struct{})}
}

// StopWaiting answers every long poll now, empty, and every later one at
// once: the server is shutting down and agents will reconnect elsewhere.
func (s *Service) StopWaiting() { s.notify.once.Do(func() { close(s.notify.closed) }) }

func (n *notifier) subscribe(agentID string) chan struct{} {
	ch := make(chan struct{})
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.waiters[agentID] == nil {
		n.waiters[agentID] = map[chan struct{}]bool{}
	}
	n.waiters[agentID][ch] = true
	return ch
}

func (n *notifier) unsubscribe(agentID string, ch chan struct{}) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.waiters[agentID], ch)
	if len(n.waiters[agentID]) == 0 {
		delete(n.waiters, agentID)
	}
}

// wake wakes every long poll of agentID (of every agent for
// hoist.AllAgents); each must subscribe again.
func (n *notifier) wake(agentID string) {
	if agentID == "" {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if agentID == hoist.AllAgents {
		for id, chans := range n.waiters {
			for ch := range chans {
				close(ch)
			}
			delete(n.waiters, id)
		}
		return
	}
	for ch := range n.waiters[agentID] {
		close(ch)
	}
	delete(n.waiters, agentID)
}
