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

// TOTP is an account's authenticator-app secret (RFC 6238), the fallback
// second factor of local accounts.
type TOTP struct {
	AdminID string
	// Secret is sealed by the server's key; never shown after setup.
	Secret string
	// ConfirmedAt is when the owner proved a first code; zero while the
	// setup is unfinished, when it is no factor yet.
	ConfirmedAt time.Time
	// LastStep is the 30-second step of the last code taken: a code is
	// taken once.
	LastStep  int64
	CreatedAt time.Time
}

// Audit actions of TOTP.
const (
	AuditTOTPAdded   = "admin.totp_added"
	AuditTOTPRemoved = "admin.totp_removed"
)
