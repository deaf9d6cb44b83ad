package control

import (
	"context"
	"crypto/subtle"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/hoist-jit/hoist"
)

// TOTP (github.com/pquerna/otp): an authenticator app as the fallback
// second factor of local accounts, for the console sign-in. The secret is
// sealed by the server's key; a code is taken once (the step of the last
// one is kept) and only after the account's password was right, so that
// each guess costs a password sign-in, which is throttled.

const totpPeriod = 30

// TOTPSetup is a secret being set up: shown once, to type into the app.
type TOTPSetup struct {
	Secret string
	URL    string // otpauth://…
}

// BeginTOTP draws a new secret for a's account, kept unconfirmed until
// ConfirmTOTP; EConflict when one is in use already.
func (s *Service) BeginTOTP(ctx context.Context, a Actor) (TOTPSetup, error) {
	if s.box == nil {
		return TOTPSetup{}, hoist.Errorf(hoist.EUnavailable, "this server has no key to keep authenticator secrets with")
	}
	if err := s.requireFreshSignIn(ctx, a, "totp_add"); err != nil {
		return TOTPSetup{}, err
	}
	now := s.now()
	var out TOTPSetup
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		adm, err := accountOf(ctx, tx, a)
		if err != nil {
			return err
		}
		if o, err := tx.TOTP(ctx, adm.ID); err == nil && !o.ConfirmedAt.IsZero() {
			return hoist.Errorf(hoist.EConflict, "an authenticator app is set up already; remove it first")
		} else if err != nil && hoist.ErrorCode(err) != hoist.ENotFound {
			return err
		}
		key, err := totp.Generate(totp.GenerateOpts{Issuer: "Hoist", AccountName: adm.Name, Period: totpPeriod})
		if err != nil {
			return hoist.WrapError(hoist.EInternal, "cannot make an authenticator secret", err)
		}
		sealed, err := s.box.seal("totp:"+adm.ID, key.Secret())
		if err != nil {
			return err
		}
		out = TOTPSetup{Secret: key.Secret(), URL: key.URL()}
		return tx.PutTOTP(ctx, hoist.TOTP{AdminID: adm.ID, Secret: sealed, CreatedAt: now})
	})
	return out, err
}

// ConfirmTOTP turns a's secret on once code proves the app has it.
func (s *Service) ConfirmTOTP(ctx context.Context, a Actor, code string) error {
	if err := s.requireFreshSignIn(ctx, a, "totp_add"); err != nil {
		return err
	}
	now := s.now()
	return s.store.Update(ctx, func(tx hoist.Tx) error {
		adm, err := accountOf(ctx, tx, a)
		if err != nil {
			return err
		}
		o, err := tx.TOTP(ctx, adm.ID)
		if err != nil {
			return err
		}
		if !o.ConfirmedAt.IsZero() {
			return hoist.Errorf(hoist.EConflict, "the authenticator app is set up already")
		}
		step, err := s.checkCode(o, code, now)
		if err != nil {
			return &hoist.Error{Code: hoist.EInvalid, Message: "that code is not the app's current one; type the code it shows now", Fields: map[string]string{"code": "the 6 digits the app shows"}}
		}
		o.ConfirmedAt, o.LastStep = now, step
		if err := tx.PutTOTP(ctx, o); err != nil {
			return err
		}
		return audit(ctx, tx, now, adm.Name, hoist.AuditTOTPAdded, adm.ID, nil)
	})
}

// TOTPOn reports whether a's account has a confirmed authenticator app.
func (s *Service) TOTPOn(ctx context.Context, a Actor) (bool, error) {
	var on bool
	err := s.store.View(ctx, func(tx hoist.Tx) error {
		adm, err := accountOf(ctx, tx, a)
		if err != nil {
			return err
		}
		o, err := tx.TOTP(ctx, adm.ID)
		if hoist.ErrorCode(err) == hoist.ENotFound {
			return nil
		}
		on = err == nil && !o.ConfirmedAt.IsZero()
		return err
	})
	return on, err
}

// RemoveTOTP removes a's authenticator app.
func (s *Service) RemoveTOTP(ctx context.Context, a Actor) error {
	if err := s.requireFreshSignIn(ctx, a, "totp_remove"); err != nil {
		return err
	}
	now := s.now()
	return s.store.Update(ctx, func(tx hoist.Tx) error {
		adm, err := accountOf(ctx, tx, a)
		if err != nil {
			return err
		}
		if err := tx.DeleteTOTP(ctx, adm.ID); err != nil {
			return err
		}
		return audit(ctx, tx, now, adm.Name, hoist.AuditTOTPRemoved, adm.ID, nil)
	})
}

// checkCode returns the step of code when it is the code of o's secret
// at now (or the step before or after, for clocks a little apart) and
// later than the last code taken.
func (s *Service) checkCode(o hoist.TOTP, code string, now time.Time) (int64, error) {
	bad := hoist.Errorf(hoist.EUnauthorized, "wrong or used code")
	if len(code) != 6 {
		return 0, bad
	}
	secret, err := s.box.open("totp:"+o.AdminID, o.Secret)
	if err != nil {
		return 0, err
	}
	cur := now.Unix() / totpPeriod
	for _, step := range []int64{cur - 1, cur, cur + 1} {
		want, err := totp.GenerateCodeCustom(secret, time.Unix(step*totpPeriod, 0), totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err != nil {
			return 0, hoist.WrapError(hoist.EInternal, "cannot check the code", err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 && step > o.LastStep {
			return step, nil
		}
	}
	return 0, bad
}

// FinishTOTPSignIn spends the ticket of a sign-in whose password was
// right and signs it in when code is the account's current TOTP code
// (once). Refusals are EUnauthorized and audited; the ticket is spent
// either way, so that each guess needs the password again.
func (s *Service) FinishTOTPSignIn(ctx context.Context, ticket, code, from string, idle time.Duration) (LoginResult, error) {
	denied := hoist.Errorf(hoist.EUnauthorized, "that code did not sign you in; type your password again")
	if ticket == "" || len(ticket) > 200 || s.box == nil {
		return LoginResult{}, denied
	}
	now := s.now()
	var (
		adm  hoist.Admin
		fail bool
		at   attempt
	)
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		l, err := tx.TakeSSOLogin(ctx, "factor:"+codeHash(ticket), now)
		if err != nil {
			return denied
		}
		if adm, err = tx.Admin(ctx, l.AdminID); err != nil {
			return err
		}
		at = ticketAttempt(l.Nonce, adm.Name, from)
		o, err := tx.TOTP(ctx, adm.ID)
		if err != nil || o.ConfirmedAt.IsZero() {
			fail = true
			return nil
		}
		step, err := s.checkCode(o, code, now)
		if err != nil || adm.Disabled {
			fail = true
			return nil // the ticket stays spent
		}
		o.LastStep = step
		if err := tx.PutTOTP(ctx, o); err != nil {
			return err
		}
		return signedIn(ctx, tx, at, now) // the whole sign-in succeeded: as a password-only one
	})
	if err != nil {
		return LoginResult{}, err
	}
	if fail {
		s.auditFailure(ctx, adm, at, from, "totp", now)
		return LoginResult{}, denied
	}
	return s.issueLogin(ctx, adm, min(idle, s.tokenTTL), map[string]any{"from": from, "via": "console", "second_factor": "totp"})
}
