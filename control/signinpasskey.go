package control

import (
	"context"
	"encoding/json"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/hoist-jit/hoist"
)

// Second sign-in factors of local accounts: an account with a passkey or
// an authenticator app (totp.go) signs in to the console with its
// password and then one of them; a password alone no longer signs it in
// anywhere (the API's password login refuses it: a CLI holds neither).

// secondFactorGate stops the password sign-in of a when a has a second
// factor (a passkey, or a confirmed authenticator app): a console sign-in
// gets a ticket for that step and the factors it may use, any other is
// refused.
func (s *Service) secondFactorGate(ctx context.Context, a hoist.Admin, at attempt, via string, now time.Time) (string, []string, error) {
	var factors []string
	err := s.store.View(ctx, func(tx hoist.Tx) error {
		keys, err := tx.Passkeys(ctx, a.ID)
		if err != nil {
			return err
		}
		if len(keys) > 0 && s.webauthn != nil {
			factors = append(factors, "passkey")
		}
		o, err := tx.TOTP(ctx, a.ID)
		if err == nil && !o.ConfirmedAt.IsZero() && s.box != nil {
			factors = append(factors, "totp")
		} else if err != nil && hoist.ErrorCode(err) != hoist.ENotFound {
			return err
		}
		return nil
	})
	if err != nil || len(factors) == 0 {
		return "", nil, err
	}
	if via != "console" {
		return "", nil, hoist.Errorf(hoist.EUnauthorized, "account %s signs in with a second factor after its password: use the web console, or hoist admin login --sso", a.Name)
	}
	ticket := randomCode()
	err = s.store.Update(ctx, func(tx hoist.Tx) error {
		return tx.InsertSSOLogin(ctx, hoist.SSOLogin{Key: "factor:" + codeHash(ticket), AdminID: a.ID, Nonce: at.encode(), ExpiresAt: now.Add(passkeyTTL)}, now)
	})
	return ticket, factors, err
}

// BeginPasskeySignIn spends the ticket of a sign-in whose password was
// right and returns the options of the passkey check that finishes it
// (for navigator.credentials.get). EUnauthorized when the ticket is
// spent, expired or unknown: the sign-in starts again.
func (s *Service) BeginPasskeySignIn(ctx context.Context, ticket string) (json.RawMessage, error) {
	if err := s.needWebAuthn(); err != nil {
		return nil, err
	}
	stale := hoist.Errorf(hoist.EUnauthorized, "the sign-in took too long or was already used; type your password again")
	if ticket == "" || len(ticket) > 200 {
		return nil, stale
	}
	now := s.now()
	var out json.RawMessage
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		l, err := tx.TakeSSOLogin(ctx, "factor:"+codeHash(ticket), now)
		if hoist.ErrorCode(err) == hoist.ENotFound {
			return stale
		}
		if err != nil {
			return err
		}
		u, err := userOf(ctx, tx, Actor{ID: l.AdminID})
		if err != nil {
			return err
		}
		assertion, session, err := s.webauthn.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationPreferred))
		if err != nil {
			return hoist.WrapError(hoist.EInternal, "cannot start a passkey check", err)
		}
		if out, err = json.Marshal(assertion.Response); err != nil {
			return hoist.WrapError(hoist.EInternal, "cannot start a passkey check", err)
		}
		return s.keepCeremony(ctx, tx, u.adm.ID, "login", l.Nonce, session, now) // the try goes on to the check
	})
	return out, err
}

// FinishPasskeySignIn checks the browser's answer to the passkey check of
// a sign-in and returns the console login, lasting idle. Refusals are
// EUnauthorized and audited as failed logins.
func (s *Service) FinishPasskeySignIn(ctx context.Context, answer []byte, from string, idle time.Duration) (LoginResult, error) {
	if err := s.needWebAuthn(); err != nil {
		return LoginResult{}, err
	}
	denied := hoist.Errorf(hoist.EUnauthorized, "the passkey did not sign you in; type your password again")
	if len(answer) > maxPasskeyAnswer {
		return LoginResult{}, denied
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(answer)
	if err != nil {
		return LoginResult{}, denied
	}
	now := s.now()
	var (
		u      *passkeyUser
		keyID  string
		reason error
		at     attempt
	)
	err = s.store.Update(ctx, func(tx hoist.Tx) error {
		challenge := parsed.Response.CollectedClientData.Challenge
		l, err := tx.TakeSSOLogin(ctx, "passkey:"+challenge, now)
		if err != nil || l.Next != "login" {
			return denied
		}
		var session webauthn.SessionData
		if err := json.Unmarshal([]byte(l.Verifier), &session); err != nil {
			return hoist.WrapError(hoist.EInternal, "a stored passkey challenge cannot be read", err)
		}
		if u, err = userOf(ctx, tx, Actor{ID: l.AdminID}); err != nil {
			return err
		}
		at = ticketAttempt(l.Nonce, u.adm.Name, from)
		cred, err := s.webauthn.ValidateLogin(u, session, parsed)
		if err != nil {
			reason = err
			return nil // audited below, outside the refused transaction
		}
		if err := s.keepUse(ctx, tx, u, cred, now, &keyID); err != nil {
			return err
		}
		if u.adm.Disabled {
			return nil
		}
		return signedIn(ctx, tx, at, now) // the whole sign-in succeeded: as a password-only one
	})
	if err != nil {
		return LoginResult{}, err
	}
	if reason != nil || u.adm.Disabled {
		s.auditFailure(ctx, u.adm, at, from, "passkey", now)
		return LoginResult{}, denied
	}
	return s.issueLogin(ctx, u.adm, min(idle, s.tokenTTL), map[string]any{"from": from, "via": "console", "second_factor": "passkey", "passkey": keyID})
}

// keepUse stores a passkey's new sign count and last use after cred
// proved it.
func (s *Service) keepUse(ctx context.Context, tx hoist.Tx, u *passkeyUser, cred *webauthn.Credential, now time.Time, id *string) error {
	*id = encodeID(cred.ID)
	for _, k := range u.keys {
		if k.ID != *id {
			continue
		}
		data, err := json.Marshal(cred)
		if err != nil {
			return hoist.WrapError(hoist.EInternal, "cannot keep the passkey", err)
		}
		k.Credential, k.LastUsed = data, now
		return tx.UpdatePasskey(ctx, k)
	}
	return hoist.Errorf(hoist.EUnauthorized, "the passkey is not one of the account's")
}

// auditFailure counts and records a refused second factor of adm's
// sign-in, the try at: as a wrong password is counted (its pair or device
// counter was counted at the password step), so that whoever has the
// password meets the account and source rules when guessing the factor.
func (s *Service) auditFailure(ctx context.Context, adm hoist.Admin, at attempt, from, factor string, now time.Time) {
	err := retryConflicts(func() error {
		return s.store.Update(ctx, func(tx hoist.Tx) error {
			if err := s.countFailure(ctx, tx, at, false, now); err != nil {
				return err
			}
			return audit(ctx, tx, now, adm.Name, hoist.AuditLoginFailed, adm.ID, map[string]any{"from": from, "second_factor": factor})
		})
	})
	if err != nil {
		s.log.Warn("cannot audit a refused second factor", "user", adm.Name, "err", err)
	}
}
