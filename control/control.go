// Package control is the control server's application layer: it applies the
// domain rules of package hoist to the records of a hoist.Store, one
// transaction per decision, and writes every change to the audit log in the
// same transaction, so that nothing happens that is not recorded.
//
// Authorization lives here, in one layer: every method that acts for an
// admin takes the Actor and asks hoist.Can before anything else.
package control

import (
	"context"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/hoist-jit/hoist"
)

// Service is the control server's business logic.
type Service struct {
	store    hoist.Store
	settings hoist.ApprovalSettings
	clock    func() time.Time
	log      *slog.Logger
	// TokenTTL is how long a login token lasts.
	tokenTTL time.Duration
	signer   Signer
	url      string
	notify   *notifier
	presence *presence // the agents whose long poll this server holds
	// hashSlots bounds concurrent password checks.
	hashSlots chan struct{}
	// exportSlots bounds concurrent audit exports.
	exportSlots chan struct{}
	agents      agentCache
	anchor      *anchor // nil: no checkpoints
	// batchSlots bounds the decisions of all batches under way together
	// (see eachID); nil: no bound.
	batchSlots chan struct{}
	// deviceKey signs device tokens (see device.go).
	deviceKey []byte

	// loginFailures counts the failed logins this server recorded, to
	// prune the throttle's counters every so often.
	loginFailures atomic.Int64

	// The integrations' delivery engine (delivery.go).
	sink        Sink
	box         *secretBox
	selfURLs    []string
	jitter      func() float64
	lease       time.Duration
	remindAfter time.Duration
	counts      DeliveryCounts
	pruneMu     sync.Mutex
	prunedAt    time.Time

	sso      SSO                // sign-in through the identity provider (sso.go)
	webauthn *webauthn.WebAuthn // passkeys (passkey.go); nil: none
}

// Config configures a Service.
type Config struct {
	Store    hoist.Store
	Settings hoist.ApprovalSettings
	// Clock returns the current time; time.Now when nil.
	Clock    func() time.Time
	Logger   *slog.Logger
	TokenTTL time.Duration // default 12h
	// Signer issues agent certificates and signs grants; without one, agents
	// cannot enrol.
	Signer Signer
	// URL is the server's address as agents reach it, put in enrolment
	// tokens.
	URL string
	// Checkpoints is where the audit log's signed checkpoints go (see
	// CheckpointAudit); none are written without it or without a Signer.
	Checkpoints CheckpointLog
	// DeviceKey signs the device tokens handed out at sign-in (at least 32
	// bytes; servers sharing a database should share it). Without one, a
	// random key is drawn and the tokens last until the server restarts.
	DeviceKey []byte

	// Sink sends to integrations; without one, events queue in the outbox
	// and nothing is delivered.
	Sink Sink
	// SecretKey (32 bytes) seals integration secrets in the store; without
	// one, integrations that need a secret cannot be added.
	SecretKey []byte
	// SelfURLs are the addresses of this server's own API, which no
	// integration may point at.
	SelfURLs []string
	// Jitter returns a number in [0,1) that spreads retries; random when nil.
	Jitter func() float64
	// DeliveryLease is how long a server owns a send before another may
	// retry it; DefaultLease when zero.
	DeliveryLease time.Duration
	// ReminderAfter is how long a request waits before its approvers are
	// reminded (approval.reminder); zero: DefaultReminderAfter, negative:
	// never.
	ReminderAfter time.Duration

	// SSO is sign-in through an OpenID Connect provider (sso.go); none
	// when its Provider is nil.
	SSO SSO
	// Passkeys is the relying party of passkeys (passkey.go); none when
	// its RPID is empty.
	Passkeys PasskeyConfig
}

// New returns a Service. It fails with EInvalid when the settings are out of
// range.
func New(cfg Config) (*Service, error) {
	if err := cfg.Settings.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = 12 * time.Hour
	}
	if len(cfg.DeviceKey) < 32 {
		cfg.DeviceKey = newDeviceKey()
	}
	wa, err := newWebAuthn(cfg.Passkeys)
	if err != nil {
		return nil, err
	}
	box, err := newSecretBox(cfg.SecretKey)
	if err != nil {
		return nil, err
	}
	if cfg.Jitter == nil {
		cfg.Jitter = defaultJitter
	}
	if cfg.DeliveryLease <= 0 {
		cfg.DeliveryLease = DefaultLease
	}
	if cfg.ReminderAfter == 0 {
		cfg.ReminderAfter = DefaultReminderAfter
	}
	return &Service{sink: cfg.Sink, box: box, selfURLs: cfg.SelfURLs, jitter: cfg.Jitter, lease: cfg.DeliveryLease, remindAfter: cfg.ReminderAfter,
		store: cfg.Store, settings: cfg.Settings, clock: cfg.Clock, log: cfg.Logger, tokenTTL: cfg.TokenTTL,
		signer: cfg.Signer, url: cfg.URL, notify: newNotifier(), presence: newPresence(), hashSlots: make(chan struct{}, max(2, runtime.GOMAXPROCS(0))), exportSlots: make(chan struct{}, 2), batchSlots: make(chan struct{}, batchSlots),
		anchor: newAnchor(cfg.Checkpoints, cfg.Signer), deviceKey: cfg.DeviceKey, sso: cfg.SSO, webauthn: wa}, nil
}

// Settings returns the approval settings in force.
func (s *Service) Settings() hoist.ApprovalSettings { return s.settings }

// now is the service's clock, at the precision both stores keep.
func (s *Service) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

// Actor is an authenticated admin account acting through the API.
type Actor struct {
	ID   string
	Name string
	Role hoist.Role
	// SignedIn is when the token or console session was made (zero for
	// callers that did not sign in, such as chat buttons); a second factor
	// is added or removed only by a fresh one (FreshSignIn).
	SignedIn time.Time
}

func (a Actor) require(p hoist.Permit) error {
	if !hoist.Can(a.Role, p) {
		return hoist.Errorf(hoist.EForbidden, "role %s may not %s", a.Role, permitVerb[p])
	}
	return nil
}

var permitVerb = map[hoist.Permit]string{
	hoist.PermitReadRequests:       "read requests",
	hoist.PermitDecide:             "approve, deny or revoke",
	hoist.PermitReadAudit:          "read the audit log",
	hoist.PermitManageUsers:        "manage users",
	hoist.PermitManageAgents:       "manage agents",
	hoist.PermitManagePolicies:     "manage policies, computer groups or agent configuration",
	hoist.PermitManageIntegrations: "manage integrations",
}

// Result is the outcome for one id of a batch ("Approve Selected").
type Result struct {
	ID      string         `json:"id"`
	OK      bool           `json:"ok"`
	Code    string         `json:"code,omitempty"`
	Error   string         `json:"error,omitempty"`
	Request *hoist.Request `json:"-"`
	Session *hoist.Session `json:"-"`
}

func resultOf(id string, err error) Result {
	if err != nil {
		return Result{ID: id, Code: hoist.ErrorCode(err), Error: hoist.ErrorMessage(err)}
	}
	return Result{ID: id, OK: true}
}

// MaxBatch is the most ids one batch decision takes.
const MaxBatch = 500

// batchWorkers is how many decisions of one batch run at once on a store
// whose writers commit side by side (concurrentWriters). Each is its own
// transaction: on PostgreSQL their commits (and the seals of their audit
// records) then share flushes to disk instead of queueing one after
// another. SQLite's one writer takes them in turn anyway, and there the
// batch stays one at a time.
const batchWorkers = 4

// batchSlots is how many decisions all the batches under way decide at
// once, together. Each holds one of the pool's connections (16 on
// PostgreSQL) from its begin to its commit: without a bound, four batches
// at once would hold all of them, and every other call — a single
// approval, a check-in, a long poll, the seal the batches wait for — would
// queue behind them. Half the pool lets two batches run at full speed.
const batchSlots = 8

// concurrentWriters is what a store says when its write transactions
// commit side by side (sqlstore.Store on PostgreSQL).
type concurrentWriters interface{ ConcurrentWriters() bool }

// eachID calls fn for every id of a batch, batchWorkers at a time where the
// store commits writers side by side, and returns when all have returned.
// A batch that names one id twice is decided in order, one at a time, so
// that the second sees the first's decision exactly as before. A batch of
// one is decided on the caller's goroutine, like any single call. The
// workers of every batch take their turns from batchSlots; once ctx ends
// they no longer wait for one (fn then fails at once on ctx).
func (s *Service) eachID(ctx context.Context, ids []string, fn func(i int, id string)) {
	workers := 1
	if cw, ok := s.store.(concurrentWriters); ok && cw.ConcurrentWriters() {
		workers = batchWorkers
	}
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		if seen[id] || workers == 1 || len(ids) == 1 {
			for i, id := range ids {
				fn(i, id)
			}
			return
		}
		seen[id] = true
	}
	next := make(chan int)
	var (
		wg sync.WaitGroup
		p  apartPanic // a worker's panic is the caller's, as one at a time (see viewApart)
	)
	for range min(workers, len(ids)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				func() {
					defer p.catch(nil)
					defer s.takeBatchSlot(ctx)()
					fn(i, ids[i])
				}()
			}
		}()
	}
	for i := range ids {
		next <- i
	}
	close(next)
	wg.Wait()
	p.raise()
}

// takeBatchSlot waits for one of batchSlots, or for ctx to end, and
// returns what gives it back.
func (s *Service) takeBatchSlot(ctx context.Context) (release func()) {
	if s.batchSlots == nil {
		return func() {}
	}
	select {
	case s.batchSlots <- struct{}{}:
		return func() { <-s.batchSlots }
	case <-ctx.Done():
		return func() {}
	}
}

func checkBatch(ids []string) error {
	if len(ids) == 0 {
		return hoist.Errorf(hoist.EInvalid, "no ids given")
	}
	if len(ids) > MaxBatch {
		return hoist.Errorf(hoist.EInvalid, "at most %d ids at once", MaxBatch)
	}
	return nil
}

// audit appends ev in tx; a failure fails the whole transaction, so a change
// is never stored without its record.
func audit(ctx context.Context, tx hoist.Tx, now time.Time, actor, action, subject string, detail any) error {
	rec, err := tx.AppendAudit(ctx, hoist.AuditEvent{Actor: actor, Action: action, Subject: subject, Detail: detail}, now)
	if err != nil {
		return err
	}
	return enqueueEvent(ctx, tx, rec)
}
