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
