package hoist

import (
	"context"
	"time"
)

// Store keeps Hoist's records. Two implementations pass one conformance
// suite (package storetest): sqlite, the embedded default, and postgres, for
// several servers on one database.
//
// A Store holds no business rules: it stores what it is given and reports
// ENotFound for a missing record and EConflict for a write that lost a race.
type Store interface {
	// Update runs fn in a read-write transaction and commits when fn returns
	// nil. Transactions that lose a race to a concurrent writer fail with
	// EConflict rather than overwrite.
	Update(ctx context.Context, fn func(Tx) error) error
	// View runs fn in a read-only transaction.
	View(ctx context.Context, fn func(Tx) error) error
	// Read runs fn with reads of one record each, outside any transaction:
	// each call of r is one statement that sees what was committed when it
	// runs (not a snapshot shared by the calls, as in View). On PostgreSQL
	// that is one round trip per read instead of a transaction's begin,
	// read and commit: for the reads every agent's poll and every admin's
	// call start with.
	Read(ctx context.Context, fn func(r Reads) error) error
	// Ping reports whether the store can serve.
	Ping(ctx context.Context) error
	Close() error
}

// Reads are the reads of Store.Read: each one statement, the same as
// Tx's methods of the same names.
type Reads interface {
	Request(ctx context.Context, id string) (Request, error)
	Token(ctx context.Context, hash string) (Token, error)
	Admin(ctx context.Context, id string) (Admin, error)
	AgentByID(ctx context.Context, id string) (AgentRecord, error)
	AgentEvents(ctx context.Context, agentID string, after int64, limit int) ([]AgentEvent, error)
}

// Tx is a transaction of a Store.
type Tx interface {
	Reads
	// RelaxDurability lets this transaction commit without waiting for its
	// write to reach the disk, where the database can (PostgreSQL's
	// synchronous_commit = off): for writes that a crash may lose without
	// harm, such as an agent's last-seen time. A no-op elsewhere.
	RelaxDurability(ctx context.Context) error
	// SealAuditAfterCommit lets the records this transaction appends from
	// now on take their place in the audit chain right after it commits,
	// before Update returns (PostgreSQL), instead of at the append, which
	// holds the log's head, and with it every other writer that appends,
	// until the commit. The records keep their transaction, order and
	// hashes; AppendAudit returns them with Seq 0 and no hashes, and an
	// IntegrationEvent with Seq 0 inserted after one is numbered with it.
	// What such a transaction gives up is the serialization an append
	// otherwise brings (checks after it see every write of other appenders:
	// see control's UpdateAdmin), so only transactions whose checks need
	// none ask for it. A no-op where writers are serialized anyway (SQLite).
	SealAuditAfterCommit()

	// InsertRequest stores a new request. A second pending request of the same
	// user on the same host fails with EConflict.
	InsertRequest(ctx context.Context, r Request) error
	// Request returns the request with id, or ENotFound.
	Request(ctx context.Context, id string) (Request, error)
	// Requests returns the requests that match f, newest first.
	Requests(ctx context.Context, f RequestFilter) ([]Request, error)
	// UpdateRequest replaces the stored request with r if the stored version
	// is r.Version-1, and fails with EConflict otherwise.
	UpdateRequest(ctx context.Context, r Request) error

	InsertSession(ctx context.Context, s Session) error
	Session(ctx context.Context, id string) (Session, error)
	Sessions(ctx context.Context, f SessionFilter) ([]Session, error)
	// UpdateSession replaces the stored session with s if the stored version
	// is s.Version-1, and fails with EConflict otherwise.
	UpdateSession(ctx context.Context, s Session) error

	// InsertAdmin fails with EConflict when the name is taken.
	InsertAdmin(ctx context.Context, a Admin) error
	// AdminByName returns the account, or ENotFound.
	AdminByName(ctx context.Context, name string) (Admin, error)
	Admin(ctx context.Context, id string) (Admin, error)
	Admins(ctx context.Context) ([]Admin, error)
	UpdateAdmin(ctx context.Context, a Admin) error
	// DeleteAdmin removes the account and its tokens.
	DeleteAdmin(ctx context.Context, id string) error

	InsertToken(ctx context.Context, t Token) error
	// Token returns the token with hash, or ENotFound.
	Token(ctx context.Context, hash string) (Token, error)
	DeleteToken(ctx context.Context, hash string) error
	// DeleteTokensOf removes every token of the admin.
	DeleteTokensOf(ctx context.Context, adminID string) error
	// DeleteExpiredTokens removes the tokens expired at now.
	DeleteExpiredTokens(ctx context.Context, now time.Time) error
	// ExtendToken moves the expiry of the token with hash to expires
	// (console logins slide while they are used), or fails with ENotFound.
	ExtendToken(ctx context.Context, hash string, expires time.Time) error

	// InsertSessionCommands stores commands; one already stored (the same
	// Session, Stream and N) is left as it is.
	InsertSessionCommands(ctx context.Context, cmds []SessionCommand) error
	// SetCommandExit records the exit status of command n of session's
	// stream; nothing happens when there is no such command.
	SetCommandExit(ctx context.Context, session, stream string, n, status int) error
	// SessionCommands returns the commands that match f: one session's in
	// their order, or a search's, newest first.
	SessionCommands(ctx context.Context, f CommandFilter) ([]SessionCommand, error)
	// CountSessionCommands returns how many commands session has stored
	// (for the per-session bound).
	CountSessionCommands(ctx context.Context, session string) (int, error)

	// AppendAudit seals ev after the current head of the log and stores it.
	// Concurrent appenders are serialized, so the chain never forks (see
	// SealAuditAfterCommit for the exception).
	AppendAudit(ctx context.Context, ev AuditEvent, now time.Time) (AuditRecord, error)
	// AuditHead returns the sequence number and hash of the last record, as the
	// store keeps them apart from the records (0 and GenesisHash when empty).
	AuditHead(ctx context.Context) (int64, string, error)
	// Audit calls fn for each record that matches f, in sequence order, and
	// stops at fn's first error.
	Audit(ctx context.Context, f AuditFilter, fn func(AuditRecord) error) error

	InsertAgent(ctx context.Context, a AgentRecord) error
	// AgentByID returns the agent, or ENotFound.
	AgentByID(ctx context.Context, id string) (AgentRecord, error)
	Agents(ctx context.Context) ([]AgentRecord, error)
	UpdateAgent(ctx context.Context, a AgentRecord) error

	InsertEnrollToken(ctx context.Context, t EnrollToken) error
	// EnrollToken returns the token with hash, UsesLeft as stored now, or
	// ENotFound. It locks nothing: an enrolment reads its token first and
	// spends the use last (SpendEnrollToken).
	EnrollToken(ctx context.Context, hash string) (EnrollToken, error)
	// SpendEnrollToken spends one use of the token with hash if it is valid
	// at now; ENotFound for an unknown, used-up or expired one. One
	// statement decides, so two transactions racing for the last use cannot
	// both win; it holds the token's row until the transaction ends, and
	// every other spend of that token waits for it, so it belongs just
	// before the commit.
	SpendEnrollToken(ctx context.Context, hash string, now time.Time) error

	// AppendAgentEvent queues ev for its agent (every agent when AgentID is
	// AllAgents; only the latest such broadcast is kept) and returns its
	// sequence number.
	AppendAgentEvent(ctx context.Context, ev AgentEvent) (int64, error)
	// AgentEvents returns the agent's events after seq, oldest first,
	// broadcasts included.
	AgentEvents(ctx context.Context, agentID string, after int64, limit int) ([]AgentEvent, error)
	// NotifyAgent tells every server sharing the store, right after this
	// transaction commits, that the agent has new events (PostgreSQL NOTIFY;
	// a no-op where one server owns the store). A notification lost to a
	// crash at that moment leaves the agent to find its events at its next
	// poll.
	NotifyAgent(ctx context.Context, agentID string) error
	// MarkDelivered records that the agent event id (an audit event an agent
	// sent) is stored; false when it already was, so that a retry is not
	// recorded twice.
	MarkDelivered(ctx context.Context, id string) (bool, error)

	// InsertPolicy fails with EConflict when the name is taken.
	InsertPolicy(ctx context.Context, p Policy) error
	// Policy returns the policy with this id or exact name, or ENotFound.
	Policy(ctx context.Context, idOrName string) (Policy, error)
	// Policies returns every policy, by name.
	Policies(ctx context.Context) ([]Policy, error)
	// UpdatePolicy replaces the stored policy with p if the stored version
	// is p.Version-1, and fails with EConflict otherwise.
	UpdatePolicy(ctx context.Context, p Policy) error
	DeletePolicy(ctx context.Context, id string) error

	// InsertGroup fails with EConflict when the name is taken.
	InsertGroup(ctx context.Context, g ComputerGroup) error
	// Group returns the group with this id or exact name, or ENotFound.
	Group(ctx context.Context, idOrName string) (ComputerGroup, error)
	// Groups returns every computer group, by name.
	Groups(ctx context.Context) ([]ComputerGroup, error)
	// UpdateGroup replaces the stored group with g if the stored version is
	// g.Version-1, and fails with EConflict otherwise.
	UpdateGroup(ctx context.Context, g ComputerGroup) error
	DeleteGroup(ctx context.Context, id string) error

	// LoginCounter returns the sign-in throttle's counter under key, or a
	// counter with only Key set when none is stored.
	LoginCounter(ctx context.Context, key string) (LoginCounter, error)
	// PutLoginCounter stores c in place of was, the counter under c.Key as
	// this transaction read it; it fails with EConflict when the stored
	// counter is no longer was (a concurrent login counted under the same
	// key), so that no failure is lost to a race.
	PutLoginCounter(ctx context.Context, was, c LoginCounter) error
	// DeleteLoginCounter removes the counter under key, if there is one.
	DeleteLoginCounter(ctx context.Context, key string) error
	// PruneLoginCounters removes the counters expired at now, then, while
	// more than keep remain, those that expire first.
	PruneLoginCounters(ctx context.Context, now time.Time, keep int) error

	// InsertIntegration fails with EConflict when the name is taken.
	InsertIntegration(ctx context.Context, i Integration) error
	// Integration returns the integration with this id or exact name, or
	// ENotFound.
	Integration(ctx context.Context, idOrName string) (Integration, error)
	// Integrations returns every integration, by name.
	Integrations(ctx context.Context) ([]Integration, error)
	// LockIntegration returns the integration with id, locked for this
	// transaction, so that one server at a time delivers for it; ENotFound
	// when there is none and EConflict when another transaction holds it
	// (PostgreSQL's SKIP LOCKED: a busy sink is skipped, not waited for).
	LockIntegration(ctx context.Context, id string) (Integration, error)
	// UpdateIntegration replaces the stored integration with i if the stored
	// version is i.Version-1, and fails with EConflict otherwise.
	UpdateIntegration(ctx context.Context, i Integration) error
	// DeleteIntegration removes the integration and its deliveries.
	DeleteIntegration(ctx context.Context, id string) error
	// InsertIntegrationEvent adds ev to the outbox; ev.Seq is the audit
	// record it was written with.
	InsertIntegrationEvent(ctx context.Context, ev IntegrationEvent) error
	// IntegrationEvents returns the outbox's events after seq, oldest first.
	IntegrationEvents(ctx context.Context, after int64, limit int) ([]IntegrationEvent, error)
	// LastIntegrationEvent returns the outbox's last sequence, 0 when empty.
	LastIntegrationEvent(ctx context.Context) (int64, error)
	// InsertDelivery queues d unless the integration already has a delivery
	// of d.Event.Seq, so that fanning an event out twice queues it once.
	InsertDelivery(ctx context.Context, d Delivery) error
	// NextDelivery returns the integration's oldest pending delivery, with
	// its event, or ENotFound.
	NextDelivery(ctx context.Context, integrationID string) (Delivery, error)
	// Delivery returns one delivery with its event, or ENotFound.
	Delivery(ctx context.Context, id string) (Delivery, error)
	// Deliveries returns the deliveries that match f, oldest event first.
	Deliveries(ctx context.Context, f DeliveryFilter) ([]Delivery, error)
	// UpdateDelivery stores d's state, attempts, next attempt and error.
	UpdateDelivery(ctx context.Context, d Delivery) error
	// CountDeliveries returns how many of the integration's deliveries are
	// in each state.
	CountDeliveries(ctx context.Context, integrationID string) (map[DeliveryState]int, error)
	// PruneIntegrations removes the deliveries delivered before
	// deliveredBefore, then the outbox's events up to seq upTo that no
	// delivery refers to.
	PruneIntegrations(ctx context.Context, upTo int64, deliveredBefore time.Time) error
	// IntegrationRef returns what the integration's sink answered about
	// subject (a Slack message's address), "" when nothing is kept.
	IntegrationRef(ctx context.Context, integrationID, subject string) (string, error)
	// PutIntegrationRef keeps ref for the integration and subject, in place
	// of any earlier one.
	PutIntegrationRef(ctx context.Context, integrationID, subject, ref string) error

	// InsertRecording stores a new recording's description (Size 0); it
	// fails with EConflict when the id is taken.
	InsertRecording(ctx context.Context, r Recording) error
	// Recording returns the recording with id, or ENotFound.
	Recording(ctx context.Context, id string) (Recording, error)
	// Recordings returns a session's recordings, oldest first.
	Recordings(ctx context.Context, sessionID string) ([]Recording, error)
	// AppendRecording stores data as the recording's bytes from offset,
	// which must be its stored Size (EConflict otherwise), and marks it
	// complete when complete is set.
	AppendRecording(ctx context.Context, id string, offset int64, data []byte, complete bool) error
	// RecordingData calls fn with the recording's bytes, in order, in the
	// pieces they were stored in; it stops at fn's first error.
	RecordingData(ctx context.Context, id string, fn func([]byte) error) error
	// DeleteRecordings removes the recordings (bytes and all) stored
	// before before, at most limit of them, and returns how many it removed.
	DeleteRecordings(ctx context.Context, before time.Time, limit int) (int, error)
	// OfflineKey returns the agent's offline key, or ENotFound.
	OfflineKey(ctx context.Context, agentID string) (OfflineKeyRecord, error)
	// PutOfflineKey stores k as its agent's offline key, in place of any
	// earlier one.
	PutOfflineKey(ctx context.Context, k OfflineKeyRecord) error
	// InsertEmergencyCode stores a new emergency code.
	InsertEmergencyCode(ctx context.Context, c EmergencyCode) error
	// EmergencyCodes returns every emergency code, newest first.
	EmergencyCodes(ctx context.Context) ([]EmergencyCode, error)
	// UpdateEmergencyCode replaces the stored code with c if the stored
	// version is c.Version-1, and fails with EConflict otherwise.
	UpdateEmergencyCode(ctx context.Context, c EmergencyCode) error
	// InsertSSOLogin keeps a sign-in in flight (see SSOLogin), and removes
	// those expired at now; EConflict when l.Key is taken.
	InsertSSOLogin(ctx context.Context, l SSOLogin, now time.Time) error
	// TakeSSOLogin removes the sign-in under key and returns it when it
	// has not expired at now, and fails with ENotFound otherwise: each is
	// spent at most once, by one replica.
	TakeSSOLogin(ctx context.Context, key string, now time.Time) (SSOLogin, error)
	// SSOAccount returns the id of the account the subject of the identity
	// provider issuer signs in as, or ENotFound. Deleting the account
	// removes the link.
	SSOAccount(ctx context.Context, issuer, subject string) (string, error)
	// LinkSSOAccount links subject at issuer to the account adminID;
	// EConflict when the subject is linked already.
	LinkSSOAccount(ctx context.Context, issuer, subject, adminID string) error

	// InsertPasskey stores a registered passkey; EConflict when its id is
	// taken.
	InsertPasskey(ctx context.Context, p Passkey) error
	// Passkeys returns the account's passkeys, oldest first.
	Passkeys(ctx context.Context, adminID string) ([]Passkey, error)
	// UpdatePasskey stores p's credential and last use; ENotFound when the
	// account has no such passkey.
	UpdatePasskey(ctx context.Context, p Passkey) error
	// DeletePasskey removes the account's passkey id; ENotFound when it has
	// none of that id.
	DeletePasskey(ctx context.Context, adminID, id string) error

	// TOTP returns the account's TOTP secret, or ENotFound.
	TOTP(ctx context.Context, adminID string) (TOTP, error)
	// PutTOTP stores t in place of the account's secret, if any.
	PutTOTP(ctx context.Context, t TOTP) error
	// DeleteTOTP removes the account's secret; ENotFound when it has none.
	DeleteTOTP(ctx context.Context, adminID string) error
}

// RequestFilter selects requests. Zero fields match everything.
type RequestFilter struct {
	IDs   []string
	State RequestState
	User  string
	Host  string
	// PendingBefore selects pending requests that expire before it.
	PendingBefore time.Time
	// Limit caps the result; zero means DefaultListLimit.
	Limit int
	// Agent selects the requests of one agent.
	Agent string
}

// SessionFilter selects sessions. Zero fields match everything.
type SessionFilter struct {
	State SessionState
	User  string
	Host  string
	// EndsBefore selects sessions whose window ends before it.
	EndsBefore time.Time
	Limit      int
}

// AuditFilter selects audit records.
type AuditFilter struct {
	AfterSeq  int64 // records with Seq > AfterSeq
	BeforeSeq int64 // when set, records with Seq < BeforeSeq
	// Newest lists from the newest record back, as the console shows it.
	Newest  bool
	Action  string
	Actor   string
	Subject string
	Limit   int // zero: no limit
	// ActionPrefix keeps the records whose action starts with it
	// ("session." for every session record).
	ActionPrefix string
	// Since and Until, when set, keep the records from Since and before
	// Until.
	Since, Until time.Time
}

// List limits.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
)

// ListLimit returns the limit a store applies for n.
func ListLimit(n int) int {
	if n <= 0 {
		return DefaultListLimit
	}
	return min(n, MaxListLimit)
}
