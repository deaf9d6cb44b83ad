package hoist

import "time"

// SSOLogin is one sign-in through the organisation's identity provider
// (OpenID Connect) while it is in flight, kept in the store so that any
// replica can finish it and each is spent at most once (TakeSSOLogin).
//
// Two kinds share the record, told apart by the prefix of Key:
//
//   - "state:" + SHA-256 of the state parameter, made when a browser is
//     sent to the provider and spent by the callback. Nonce and Verifier
//     (the PKCE code verifier) never leave the server. Next is the console
//     page to go on to; Redirect and Challenge are set for a sign-in of
//     the CLI (its loopback address and its own PKCE S256 challenge).
//   - "handoff:" + SHA-256 of a one-time code, made by the callback of a
//     CLI sign-in and spent when the CLI proves its verifier: AdminID is
//     the account signed in, Challenge the CLI's challenge.
//   - "passkey:" + the WebAuthn challenge of a passkey ceremony of the
//     account AdminID (a registration, or an approval's step-up): Next
//     says which, Nonce is what the challenge was derived from, and
//     Verifier holds the library's session data.
type SSOLogin struct {
	Key       string
	Nonce     string
	Verifier  string
	Next      string
	Redirect  string
	Challenge string
	AdminID   string
	ExpiresAt time.Time
}

// SSOLoginTTL bounds how long a sign-in may take at the identity provider,
// and a CLI has to collect its handoff.
const SSOLoginTTL = 10 * time.Minute

// SSOClaims is what a verified ID token says about the person signing in:
// who they are at which provider, the name to give their account, the
// provider's groups they are in, and (when the provider is set up to say)
// their Unix names.
type SSOClaims struct {
	Issuer    string   `json:"issuer"`
	Subject   string   `json:"subject"`
	Name      string   `json:"name"`
	Groups    []string `json:"groups"`
	UnixNames []string `json:"unix_names,omitempty"`
}

// Audit actions of sign-in through the identity provider. A sign-in itself
// is AuditLogin with "via": "sso"; an account made at its first sign-in is
// AuditAdminCreated by the actor "sso".
const (
	// AuditSSORefused: the provider vouched for someone Hoist did not let
	// in (no role from their groups, a disabled account, a name taken).
	AuditSSORefused = "admin.sso_refused"
	// AuditSSORoleChanged: the groups at the provider gave a known account
	// another role (or none: it is disabled).
	AuditSSORoleChanged = "admin.sso_role_changed"
)

// SSOActor is the audit actor of changes the identity provider's answer
// made (an account created, a role changed).
const SSOActor = "sso"
