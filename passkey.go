package hoist

import (
	"encoding/json"
	"time"
)

// Passkey is a WebAuthn credential an account registered: the console asks
// for an assertion of one of them where a policy wants a fresh second
// factor (see JITStartup.RequirePasskey).
type Passkey struct {
	// ID is the credential id, base64url.
	ID      string `json:"id"`
	AdminID string `json:"admin_id"`
	// Name is what the owner called it ("laptop", "YubiKey 5").
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	LastUsed  time.Time `json:"last_used"`
	// Credential is the library's record of the key (public key, sign
	// count, flags), kept as it encodes it.
	Credential json.RawMessage `json:"-"`
}

// MaxPasskeys bounds the passkeys of one account.
const MaxPasskeys = 16

// Audit actions of passkeys.
const (
	AuditPasskeyAdded   = "admin.passkey_added"
	AuditPasskeyRemoved = "admin.passkey_removed"
	// AuditStepUp: an approver proved a passkey for one decision (its
	// request ids and window).
	AuditStepUp = "admin.step_up"
)
