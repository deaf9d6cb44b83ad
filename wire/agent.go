package wire

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
)

// The agent protocol: what hoistd and hoist-server exchange under /agent/v1.
// Enrolment is answered with a token's secret; everything after it goes over
// mutual TLS with the certificate enrolment issued. These shapes live here,
// not beside the server's handlers, so that the root daemon links none of
// the server.

// EnrollTokenPrefix starts every enrolment token.
const EnrollTokenPrefix = "hoist1."

// maxEnrollToken bounds what ParseEnrollToken decodes.
const maxEnrollToken = 2048

// EnrollToken is what an enrolment token carries: where the server is, the
// fingerprint of its CA (the agent refuses any other), and the secret that
// pays for one enrolment.
type EnrollToken struct {
	URL         string `json:"u"`
	Fingerprint string `json:"f"` // SHA-256 of the CA certificate, hex
	Secret      string `json:"s"`
}

// String is the token as administrators copy it: EnrollTokenPrefix and the
// base64url of its JSON.
func (t EnrollToken) String() string {
	body, _ := json.Marshal(t) // three strings: cannot fail
	return EnrollTokenPrefix + base64.RawURLEncoding.EncodeToString(body)
}

// ParseEnrollToken reads a token that String made. It fails with
// hoist.EInvalid, saying only that this is not a token, for anything else.
func ParseEnrollToken(token string) (EnrollToken, error) {
	bad := hoist.Errorf(hoist.EInvalid, "this is not a Hoist enrolment token")
	rest, ok := strings.CutPrefix(strings.TrimSpace(token), EnrollTokenPrefix)
	if !ok || len(rest) > maxEnrollToken {
		return EnrollToken{}, bad
	}
	data, err := base64.RawURLEncoding.DecodeString(rest)
	if err != nil {
		return EnrollToken{}, bad
	}
	var t EnrollToken
	if err := json.Unmarshal(data, &t); err != nil || t.URL == "" || len(t.Fingerprint) != 64 || len(t.Secret) < 20 {
		return EnrollToken{}, bad
	}
	return t, nil
}

// AgentFacts is what an agent reports about its machine, at enrolment and
// at every check-in.
type AgentFacts struct {
	Hostname string `json:"hostname"`
	Version  string `json:"version"`
	OS       string `json:"os"`
	Kernel   string `json:"kernel"`
	// Revision is the policy bundle the agent holds; Skipped what in it
	// the agent could not process.
	Revision string                `json:"revision,omitempty"`
	Skipped  []hoist.SkippedPolicy `json:"skipped,omitempty"`
	// Sessions are the JIT sessions the agent holds (see AgentSession).
	Sessions []AgentSession `json:"sessions,omitempty"`
}

// EnrollBody is the body of POST /agent/v1/enroll.
type EnrollBody struct {
	Secret string     `json:"secret"`
	CSR    string     `json:"csr"` // base64 DER
	Facts  AgentFacts `json:"facts"`
}

// Enrolment is the answer to an enrolment: what a newly enrolled agent
// keeps.
type Enrolment struct {
	AgentID     string `json:"agent_id"`
	Certificate string `json:"certificate"` // PEM
	CA          string `json:"ca"`          // PEM
	GrantKey    string `json:"grant_key"`   // base64 Ed25519 public key
	// OfflineKey is the agent's key for offline approval (base64 in
	// JSON), sent this once; servers older than offline approval send
	// none.
	OfflineKey []byte `json:"offline_key,omitempty"`
}

// OfflineKeyAnswer answers POST /agent/v1/offline-key: the offline key of
// an agent that enrolled before offline approval, sent until the agent
// acknowledges it (POST /agent/v1/offline-key/ack), never after.
type OfflineKeyAnswer struct {
	Key   []byte `json:"key"` // base64 in JSON
	KeyID string `json:"key_id"`
}

// OfflineKeyAck is the body of POST /agent/v1/offline-key/ack.
type OfflineKeyAck struct {
	KeyID string `json:"key_id"`
}

// CheckinAnswer carries the agent's new bundle; a check-in that changes
// nothing is answered 204 with no body.
type CheckinAnswer struct {
	// Bundle is a hoist.Bundle's JSON, byte for byte as the server signed
	// it: the signature covers these bytes, not a re-encoding of them.
	Bundle json.RawMessage `json:"bundle"`
	// Signature is the Ed25519 signature of "hoist-bundle-v1\n" followed by
	// Bundle, by the grant key the agent pinned at enrolment (see
	// hoist.VerifyBundle); base64 in JSON. Agents older than the signature
	// ignore it.
	Signature []byte `json:"signature"`
}

// AgentRequestBody is the body of POST /agent/v1/requests.
type AgentRequestBody struct {
	User     string `json:"user"`
	Duration string `json:"duration,omitempty"`
	Reason   string `json:"reason,omitempty"`
	// Extends names the user's active session: the request is then an
	// extension asking Duration more on it.
	Extends string `json:"extends,omitempty"`
	// UnixGroups are the user's groups on the machine, for the startup
	// policy's automatic approval rules.
	UnixGroups []string `json:"unix_groups,omitempty"`
}

// AgentRequestAnswer says which request stands for the user's ask.
type AgentRequestAnswer struct {
	Request RequestView `json:"request"`
	Created bool        `json:"created"`
}

// AgentCancelBody is the body of POST /agent/v1/requests/cancel.
type AgentCancelBody struct {
	User string `json:"user"`
}

// EventsAnswer carries an agent's events and where to resume.
type EventsAnswer struct {
	Events []hoist.AgentEvent `json:"events"`
	Cursor int64              `json:"cursor"`
}

// AuditBody is the body of POST /agent/v1/audit.
type AuditBody struct {
	Events []AgentAuditEvent `json:"events"`
}

// AgentAuditEvent is an audit event an agent produced. The server stores
// each ID once, so an agent may send it again after a lost answer.
type AgentAuditEvent struct {
	ID string `json:"id"`
	// Seq is the event's number in the agent's outbox: 1, 2, 3, … in the
	// order the agent wrote them, so that the server can tell one that
	// never arrived. Zero (left out) for an older agent's events and for
	// the outbox's markers of unreadable lines.
	Seq     int64          `json:"seq,omitempty"`
	Time    time.Time      `json:"time"`
	Action  string         `json:"action"`
	Actor   string         `json:"actor"`
	Subject string         `json:"subject,omitempty"`
	Detail  map[string]any `json:"detail,omitempty"`
}

// RecordingChunk is one piece of a terminal recording an agent uploads
// (PUT /agent/v1/recordings/{id}): the recording's description, and Data
// from Offset. The server stores a piece only when Offset is the size it
// has; otherwise it answers the size it has, and the agent goes on from
// there, so an upload resumes after any failure.
type RecordingChunk struct {
	Session   string    `json:"session_id"`
	User      string    `json:"user"`
	Argv      []string  `json:"argv,omitempty"`
	Started   time.Time `json:"started"`
	Ended     time.Time `json:"ended"`
	Truncated bool      `json:"truncated,omitempty"`
	Input     bool      `json:"input,omitempty"`
	Offset    int64     `json:"offset"`
	Data      []byte    `json:"data"`
	// Final says Data ends the recording.
	Final bool `json:"final,omitempty"`
}

// RecordingAnswer is how much of a recording the server has.
type RecordingAnswer struct {
	Size     int64 `json:"size"`
	Complete bool  `json:"complete"`
}
