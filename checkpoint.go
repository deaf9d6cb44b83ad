package hoist

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// AuditCheckpoint anchors the audit log outside its database: the server
// signs, now and then, the sequence number and hash of the log's last
// record. The chain alone shows a record changed or removed in the middle;
// only a checkpoint kept where the database is not shows records cut off
// the end together with the head that named them.
type AuditCheckpoint struct {
	Seq   int64     `json:"seq"`
	Hash  string    `json:"hash"`
	Time  time.Time `json:"time"`
	KeyID string    `json:"key_id"`
	// Sig is the Ed25519 signature of checkpointContext followed by the
	// length-prefixed fields above (see message); base64 in JSON.
	Sig []byte `json:"sig"`
}

// checkpointContext starts every message a checkpoint signature covers, so
// that it never verifies as a grant, a bundle or anything else the same key
// signs.
const checkpointContext = "hoist-audit-checkpoint-v1\n"

// MaxCheckpointLine bounds one line of a checkpoint file; a real one is
// about 250 bytes.
const MaxCheckpointLine = 1024

// message is what a checkpoint's signature covers: every field but Sig,
// length-prefixed so that no two checkpoints encode alike.
func (c AuditCheckpoint) message() []byte {
	var b bytes.Buffer
	b.WriteString(checkpointContext)
	field := func(s string) { fmt.Fprintf(&b, "%d:%s;", len(s), s) }
	field(strconv.FormatInt(c.Seq, 10))
	field(c.Hash)
	field(c.Time.UTC().Format(time.RFC3339Nano))
	field(c.KeyID)
	return b.Bytes()
}

// KeyID names a public key in checkpoints: the first 16 hex digits of its
// SHA-256.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// SignCheckpoint returns the checkpoint of the record seq, whose hash is
// hash, signed at now with key (the server's grant key).
func SignCheckpoint(key ed25519.PrivateKey, seq int64, hash string, now time.Time) AuditCheckpoint {
	c := AuditCheckpoint{Seq: seq, Hash: hash, Time: now.UTC().Truncate(time.Microsecond),
		KeyID: KeyID(key.Public().(ed25519.PublicKey))}
	c.Sig = ed25519.Sign(key, c.message())
	return c
}

// Verify checks that c was signed by pub. It fails with EConflict (the
// code of a tampered log) for a checkpoint of another key or one whose
// signature does not verify.
func (c AuditCheckpoint) Verify(pub ed25519.PublicKey) error {
	switch {
	case len(pub) != ed25519.PublicKeySize:
		return Errorf(EInvalid, "no key to check audit checkpoints with")
	case c.KeyID != KeyID(pub):
		return Errorf(EConflict, "the audit checkpoint of record %d names key %q, not this server's key %s", c.Seq, c.KeyID, KeyID(pub))
	case len(c.Sig) != ed25519.SignatureSize || !ed25519.Verify(pub, c.message(), c.Sig):
		return Errorf(EConflict, "the audit checkpoint of record %d has a signature that does not verify: it was forged or changed", c.Seq)
	}
	return nil
}

// MarshalLine returns c as one line of a checkpoint file, newline included.
func (c AuditCheckpoint) MarshalLine() []byte {
	b, _ := json.Marshal(c) // strings, numbers, a time and bytes: cannot fail
	return append(b, '\n')
}

// ParseCheckpoint reads one line of a checkpoint file (without its
// newline) and checks its signature with pub. Anything that is not a
// checkpoint signed by pub fails with EConflict.
func ParseCheckpoint(line []byte, pub ed25519.PublicKey) (AuditCheckpoint, error) {
	var c AuditCheckpoint
	if len(line) > MaxCheckpointLine {
		return c, Errorf(EConflict, "a line of %d bytes is not an audit checkpoint", len(line))
	}
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil || dec.More() {
		return AuditCheckpoint{}, Errorf(EConflict, "a line that is not an audit checkpoint")
	}
	if c.Seq < 1 || len(c.Hash) != len(GenesisHash) {
		return AuditCheckpoint{}, Errorf(EConflict, "an audit checkpoint of record %d with a malformed hash", c.Seq)
	}
	if err := c.Verify(pub); err != nil {
		return AuditCheckpoint{}, err
	}
	return c, nil
}

// AnchorCheck checks the records of a log, handed to it in order one at a
// time beside a ChainVerifier, against the log's signed checkpoints: each
// checkpoint's record must be there with the hash it signed. Together with
// the chain this shows any record changed, reordered or removed up to the
// last checkpoint, including records cut off the end with the head rolled
// back. What came after the last checkpoint is only as safe as the chain.
//
// The checkpoints must have been verified (ParseCheckpoint); their order
// does not matter.
type AnchorCheck struct {
	cps     []AuditCheckpoint // by seq
	next    int
	last    int64 // seq of the last record seen
	covered *AuditCheckpoint
}

// NewAnchorCheck starts a check of a whole log, from its first record,
// against cps.
func NewAnchorCheck(cps []AuditCheckpoint) *AnchorCheck {
	sorted := append([]AuditCheckpoint(nil), cps...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].Seq < sorted[j].Seq })
	return &AnchorCheck{cps: sorted}
}

// Next checks r, the record after the one Next saw last. It fails with
// EConflict when a checkpoint names a record that was skipped or signed
// another hash for r; BadSeq then says which record.
func (a *AnchorCheck) Next(r AuditRecord) error {
	for a.next < len(a.cps) && a.cps[a.next].Seq <= r.Seq {
		cp := a.cps[a.next]
		if cp.Seq < r.Seq {
			return &AnchorError{Seq: a.last + 1, err: Errorf(EConflict,
				"audit record %d is missing: the checkpoint of %s signed record %d", a.last+1, stamp(cp.Time), cp.Seq)}
		}
		if cp.Hash != r.Hash {
			return &AnchorError{Seq: a.firstSuspect(), err: Errorf(EConflict,
				"audit record %d is not the one the checkpoint of %s signed: a record from %d to %d was changed or replaced",
				r.Seq, stamp(cp.Time), a.firstSuspect(), r.Seq)}
		}
		a.covered = &a.cps[a.next]
		a.next++
	}
	a.last = r.Seq
	return nil
}

// firstSuspect is the first record a mismatched checkpoint may blame: the
// one after the last checkpoint that matched.
func (a *AnchorCheck) firstSuspect() int64 {
	if a.covered == nil {
		return 1
	}
	return a.covered.Seq + 1
}

// End is called after the last record. It fails with EConflict when a
// checkpoint names a record past the end of the log: records were cut off
// the end.
func (a *AnchorCheck) End() error {
	if a.next >= len(a.cps) {
		return nil
	}
	cp := a.cps[len(a.cps)-1]
	return &AnchorError{Seq: a.last + 1, err: Errorf(EConflict,
		"audit record %d is missing, and every record after it up to %d: the log ends at record %d, but the checkpoint of %s signed record %d",
		a.last+1, cp.Seq, a.last, stamp(cp.Time), cp.Seq)}
}

// Covered returns the last checkpoint that matched, if any.
func (a *AnchorCheck) Covered() (AuditCheckpoint, bool) {
	if a.covered == nil {
		return AuditCheckpoint{}, false
	}
	return *a.covered, true
}

// AnchorError is a failed AnchorCheck: Seq is the first record found
// missing or suspect.
type AnchorError struct {
	Seq int64
	err error
}

func (e *AnchorError) Error() string { return e.err.Error() }
func (e *AnchorError) Unwrap() error { return e.err }

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }
