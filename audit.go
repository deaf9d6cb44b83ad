package hoist

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// AuditRecord is one entry of the append-only audit log. Each record carries
// the hash of the one before, so that changing, removing or reordering any
// record breaks the chain from there on.
type AuditRecord struct {
	Seq     int64     `json:"seq"`
	Time    time.Time `json:"time"`
	Actor   string    `json:"actor"`
	Action  string    `json:"action"`
	Subject string    `json:"subject,omitempty"`
	// Detail is a JSON object, stored verbatim so that its bytes hash the
	// same after any round trip through a database.
	Detail   json.RawMessage `json:"detail,omitempty"`
	PrevHash string          `json:"prev_hash"`
	Hash     string          `json:"hash"`
}

// Audit actions.
const (
	AuditRequestCreated   = "request.created"
	AuditRequestApproved  = "request.approved"
	AuditRequestDenied    = "request.denied"
	AuditRequestCancelled = "request.cancelled"
	AuditRequestExpired   = "request.expired"
	AuditSessionStarted   = "session.started"
	AuditSessionEnded     = "session.ended"
	AuditLogin            = "admin.login"
	AuditLoginFailed      = "admin.login_failed"
	AuditLogout           = "admin.logout"
	AuditAdminCreated     = "admin.created"
	AuditAdminUpdated     = "admin.updated"
	AuditAdminDeleted     = "admin.deleted"
)

// GenesisHash is the PrevHash of the first record.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// AuditEvent is what a caller wants recorded; Seal turns it into a record.
type AuditEvent struct {
	Actor   string
	Action  string
	Subject string
	Detail  any // marshalled to a JSON object
}

// Seal returns the record that follows prev (seq 0 and GenesisHash for an
// empty log) for ev at now.
func (ev AuditEvent) Seal(prevSeq int64, prevHash string, now time.Time) (AuditRecord, error) {
	var detail json.RawMessage
	if ev.Detail != nil {
		b, err := json.Marshal(ev.Detail)
		if err != nil {
			return AuditRecord{}, WrapError(EInternal, "cannot encode audit detail", err)
		}
		detail = b
	}
	rec := AuditRecord{
		Seq:      prevSeq + 1,
		Time:     now.UTC().Truncate(time.Microsecond),
		Actor:    ev.Actor,
		Action:   ev.Action,
		Subject:  ev.Subject,
		Detail:   detail,
		PrevHash: prevHash,
	}
	rec.Hash = rec.ComputeHash()
	return rec, nil
}

// ComputeHash returns the hash the record should carry: SHA-256 over a
// length-prefixed encoding of every field but Hash, so that no two different
// records encode alike.
func (r AuditRecord) ComputeHash() string {
	h := sha256.New()
	field := func(s string) { fmt.Fprintf(h, "%d:%s;", len(s), s) }
	field("hoist-audit-v1")
	field(fmt.Sprint(r.Seq))
	field(r.Time.UTC().Format(time.RFC3339Nano))
	field(r.Actor)
	field(r.Action)
	field(r.Subject)
	field(string(r.Detail))
	field(r.PrevHash)
	return hex.EncodeToString(h.Sum(nil))
}

// ChainVerifier checks records handed to it in order, one at a time, so that
// a log of any size is verified in constant memory.
type ChainVerifier struct {
	seq  int64
	hash string
	n    int64
}

// NewChainVerifier starts at the beginning of the log.
func NewChainVerifier() *ChainVerifier { return &ChainVerifier{hash: GenesisHash} }

// Next checks r against the record before it and returns an error that says
// which record is wrong and how.
func (v *ChainVerifier) Next(r AuditRecord) error {
	switch {
	case r.Seq != v.seq+1:
		return Errorf(EConflict, "audit record %d follows record %d: a record was removed or reordered", r.Seq, v.seq)
	case r.PrevHash != v.hash:
		return Errorf(EConflict, "audit record %d does not link to record %d: a record was removed, reordered or changed", r.Seq, v.seq)
	case r.ComputeHash() != r.Hash:
		return Errorf(EConflict, "audit record %d was changed after it was written", r.Seq)
	}
	v.seq, v.hash = r.Seq, r.Hash
	v.n++
	return nil
}

// Count returns how many records were verified.
func (v *ChainVerifier) Count() int64 { return v.n }

// Head returns the sequence number and hash of the last verified record.
func (v *ChainVerifier) Head() (int64, string) { return v.seq, v.hash }
