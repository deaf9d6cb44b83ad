package control

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
)

// TokenPrefix marks Hoist login tokens, so that a leaked one is easy to
// recognise and scan for.
const TokenPrefix = "hst_"

func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Login checks name and password from the source address from and returns
// a new token. Guessing is slowed per account and source, per source and
// per account (see throttle.go): a try that must wait gets ERateLimited
// without its password being checked, and the right password signs in once
// the wait for its own account and source is over. Every checked failure
// is audited; unknown names and wrong passwords get the same answer.
func (s *Service) Login(ctx context.Context, name, password, from string) (token string, a hoist.Admin, expires time.Time, err error) {
	r, err := s.login(ctx, name, password, from, "", s.tokenTTL, "api")
	return r.Token, r.Admin, r.Expires, err
}

// LoginResult is a successful sign-in: the token, its account and expiry,
// and a device token for the client to keep and send with its next
// sign-in (see LoginWithDevice).
type LoginResult struct {
	Token   string
	Admin   hoist.Admin
	Expires time.Time
	Device  string
	// SecondFactor, set instead of Token, is the ticket of a console
	// sign-in whose password was right and that must now prove a second
	// factor: one of the account's passkeys (BeginPasskeySignIn) or its
	// authenticator app (FinishTOTPSignIn). Factors names those it has
	// ("passkey", "totp").
	SecondFactor string
	Factors      []string
}

// LoginWithDevice is Login for a client that keeps a device token: device
// is the one it got from its last sign-in to this account (empty for
// none). A valid one makes the try count against this device rather than
// against its address, so that guesses from others behind the same address
// do not lock it out; an invalid, expired or other account's device token
// is ignored. The result carries a fresh device token.
func (s *Service) LoginWithDevice(ctx context.Context, name, password, from, device string) (LoginResult, error) {
	return s.login(ctx, name, password, from, device, s.tokenTTL, "api")
}

// LoginConsole is Login for the web console: the token lasts idle, and
// KeepAlive slides it while the admin works, so that a console left alone
// logs itself out.
func (s *Service) LoginConsole(ctx context.Context, name, password, from string, idle time.Duration) (token string, a hoist.Admin, expires time.Time, err error) {
	r, err := s.LoginConsoleWithDevice(ctx, name, password, from, "", idle)
	return r.Token, r.Admin, r.Expires, err
}

// LoginConsoleWithDevice is LoginConsole with the browser's device token
// (see LoginWithDevice).
func (s *Service) LoginConsoleWithDevice(ctx context.Context, name, password, from, device string, idle time.Duration) (LoginResult, error) {
	return s.login(ctx, name, password, from, device, min(idle, s.tokenTTL), "console")
}

// KeepAlive moves the expiry of a console token to idle from now, never past
// the token's whole lifetime from its login. It writes only when the expiry
// would move by more than a minute, so that a busy console does not write on
// every click.
func (s *Service) KeepAlive(ctx context.Context, token string, idle time.Duration) error {
	now := s.now()
	hash := tokenHash(token)
	// next is the new expiry, or zero when the token needs no write.
	next := func(tx hoist.Tx) (time.Time, error) {
		t, err := tx.Token(ctx, hash)
		if err != nil {
			return time.Time{}, err
		}
		if !now.Before(t.ExpiresAt) {
			return time.Time{}, hoist.Errorf(hoist.EUnauthorized, "not logged in, or the login has expired")
		}
		n := now.Add(idle)
		if limit := t.CreatedAt.Add(s.tokenTTL); n.After(limit) {
			n = limit
		}
		if n.Sub(t.ExpiresAt) < min(time.Minute, idle/10) {
			return time.Time{}, nil
		}
		return n, nil
	}
	// Most clicks need no write: look first, outside the write lock.
	var due time.Time
	if err := s.store.View(ctx, func(tx hoist.Tx) (err error) { due, err = next(tx); return err }); err != nil || due.IsZero() {
		return err
	}
	return s.store.Update(ctx, func(tx hoist.Tx) error {
		n, err := next(tx)
		if err != nil || n.IsZero() {
			return err
		}
		return tx.ExtendToken(ctx, hash, n)
	})
}

func (s *Service) login(ctx context.Context, name, password, from, proof string, ttl time.Duration, via string) (r LoginResult, err error) {
	now := s.now()
	denied := hoist.Errorf(hoist.EUnauthorized, "wrong user name or password")
	at := attempt{src: source(from)}
	if hoist.CheckAdminName(name) != nil || len(password) > 1024 {
		// No such account can exist: nothing to look up, only the source
		// to count.
		if err := s.store.View(ctx, func(tx hoist.Tx) error { return throttled(ctx, tx, at, now) }); err != nil {
			return r, err
		}
		s.recordFailure(ctx, hoist.Admin{}, at, from, false, now)
		return r, denied
	}
	at.name = name
	// Most refusals need no write: look first, outside the write lock.
	if err := s.store.View(ctx, func(tx hoist.Tx) (err error) {
		if at.device, err = s.provenDevice(ctx, tx, name, proof, now); err != nil {
			return err
		}
		return throttled(ctx, tx, at, now)
	}); err != nil {
		return r, err
	}
	// Each check holds ~19 MiB: cap how many run at once, so that a flood of
	// logins cannot exhaust memory.
	select {
	case s.hashSlots <- struct{}{}:
		defer func() { <-s.hashSlots }()
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(5 * time.Second):
		return r, hoist.Errorf(hoist.ERateLimited, "the server is busy with logins; try again shortly")
	}
	if err := s.reserveCheck(ctx, at, now); err != nil {
		return r, err
	}
	var a hoist.Admin
	err = s.store.View(ctx, func(tx hoist.Tx) (err error) {
		a, err = tx.AdminByName(ctx, name)
		return err
	})
	if hoist.ErrorCode(err) == hoist.ENotFound {
		checkPassword(decoyHash(), password) // same time as a real check
		s.recordFailure(ctx, hoist.Admin{Name: name}, at, from, false, now)
		return r, denied
	}
	if err != nil {
		return r, err
	}
	if !checkPassword(a.PasswordHash, password) || a.Disabled {
		s.recordFailure(ctx, a, at, from, false, now)
		return r, denied
	}
	if err := s.checkLocalLogin(a); err != nil {
		s.recordFailure(ctx, a, at, from, false, now)
		return r, err
	}
	if ticket, factors, err := s.secondFactorGate(ctx, a, at, via, now); err != nil || ticket != "" {
		return LoginResult{Admin: a, SecondFactor: ticket, Factors: factors}, err
	}
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	token := TokenPrefix + base64.RawURLEncoding.EncodeToString(raw)
	expires := now.Add(ttl)
	err = retryConflicts(func() error {
		return s.store.Update(ctx, func(tx hoist.Tx) error {
			if err := signedIn(ctx, tx, at, now); err != nil {
				return err
			}
			if err := tx.DeleteExpiredTokens(ctx, now); err != nil {
				return err
			}
			if err := tx.InsertToken(ctx, hoist.Token{Hash: tokenHash(token), AdminID: a.ID, CreatedAt: now, ExpiresAt: expires}); err != nil {
				return err
			}
			return audit(ctx, tx, now, a.Name, hoist.AuditLogin, a.ID, map[string]any{"from": from, "via": via, "known_device": at.device != ""})
		})
	})
	if err != nil {
		return r, err
	}
	return LoginResult{Token: token, Admin: a, Expires: expires, Device: issueDevice(s.deviceKey, a.ID, at.device, now)}, nil
}

// provenDevice returns the device id of proof when it is a valid device
// token for the account name, and "" otherwise (no such account, a forged
// token, another account's, an expired one).
func (s *Service) provenDevice(ctx context.Context, tx hoist.Tx, name, proof string, now time.Time) (string, error) {
	if proof == "" {
		return "", nil
	}
	a, err := tx.AdminByName(ctx, name)
	if hoist.ErrorCode(err) == hoist.ENotFound {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	d, ok := verifyDevice(s.deviceKey, proof, a.ID, now)
	if !ok {
		return "", nil
	}
	return d.id, nil
}

// recordFailure counts and audits a failed password check for a (a zero
// Admin when the name cannot be an account; one with only Name when there
// is no such account) by the try at, from the address from. at.name is
// the throttle's account, empty for a name no account can have; pair says
// the pair (or device) counter is still to be counted (it was not reserved
// before the check).
func (s *Service) recordFailure(ctx context.Context, a hoist.Admin, at attempt, from string, pair bool, now time.Time) {
	err := retryConflicts(func() error {
		return s.store.Update(ctx, func(tx hoist.Tx) error {
			if err := s.countFailure(ctx, tx, at, pair, now); err != nil {
				return err
			}
			if a.Name == "" {
				return nil // no account name to audit: the source's count is the record
			}
			return audit(ctx, tx, now, a.Name, hoist.AuditLoginFailed, a.ID, map[string]any{"from": from, "known_user": a.ID != "", "known_device": at.device != ""})
		})
	})
	if err != nil {
		s.log.Warn("cannot record a failed login", "user", a.Name, "err", err)
	}
	s.maybePrune(ctx, now)
}

// Authenticate returns the actor a token stands for, or EUnauthorized.
func (s *Service) Authenticate(ctx context.Context, token string) (Actor, error) {
	denied := hoist.Errorf(hoist.EUnauthorized, "not logged in, or the login has expired")
	if !strings.HasPrefix(token, TokenPrefix) || len(token) > 100 {
		return Actor{}, denied
	}
	var a hoist.Admin
	var signedIn time.Time
	// Two reads without a snapshot around them (the start of every admin's
	// call): the account is read after the token, so it is at least as
	// current, and one deleted or disabled in between is refused.
	err := s.store.Read(ctx, func(r hoist.Reads) error {
		t, err := r.Token(ctx, tokenHash(token))
		if err != nil {
			return err
		}
		signedIn = t.CreatedAt
		if !s.now().Before(t.ExpiresAt) {
			return denied
		}
		a, err = r.Admin(ctx, t.AdminID)
		return err
	})
	if code := hoist.ErrorCode(err); code == hoist.ENotFound || code == hoist.EUnauthorized {
		return Actor{}, denied
	} else if err != nil {
		return Actor{}, err
	}
	if a.Disabled {
		return Actor{}, denied
	}
	return Actor{ID: a.ID, Name: a.Name, Role: a.Role, SignedIn: signedIn}, nil
}

// Logout revokes token.
func (s *Service) Logout(ctx context.Context, a Actor, token string) error {
	now := s.now()
	return s.store.Update(ctx, func(tx hoist.Tx) error {
		if err := tx.DeleteToken(ctx, tokenHash(token)); err != nil {
			return err
		}
		return audit(ctx, tx, now, a.Name, hoist.AuditLogout, a.ID, nil)
	})
}

// Bootstrap makes the first admin, "admin", when there is no account at all.
// It uses password, or generates one when password is empty; generated is
// the password to show once ("" when none was made or nothing was created).
func (s *Service) Bootstrap(ctx context.Context, password string) (generated string, err error) {
	var admins []hoist.Admin
	if err := s.store.View(ctx, func(tx hoist.Tx) (err error) { admins, err = tx.Admins(ctx); return err }); err != nil {
		return "", err
	}
	if len(admins) > 0 {
		return "", nil
	}
	if password == "" {
		raw := make([]byte, 15)
		_, _ = rand.Read(raw)
		password = base64.RawURLEncoding.EncodeToString(raw)
		generated = password
	}
	_, err = s.createAdmin(ctx, SystemActor, AdminInput{Name: "admin", Role: hoist.RoleAdmin, Password: password})
	if hoist.ErrorCode(err) == hoist.EConflict {
		return "", nil // another replica made it first
	}
	return generated, err
}

// AdminInput creates or changes an account. Empty fields are left alone on
// update.
type AdminInput struct {
	Name     string
	Role     hoist.Role
	Password string
	Disabled *bool
	// UnixNames and ApproverGroups replace the account's lists when not
	// nil (an empty list clears one); see hoist.Admin.
	UnixNames      *[]string
	ApproverGroups *[]string
}

// identities validates the lists that in sets and returns them cleaned; a
// list in leaves alone is nil.
func (in AdminInput) identities() (unixNames, groups []string, err error) {
	var u, g []string
	if in.UnixNames != nil {
		u = *in.UnixNames
	}
	if in.ApproverGroups != nil {
		g = *in.ApproverGroups
	}
	u, g, err = hoist.CleanIdentities(u, g)
	if err != nil {
		return nil, nil, err
	}
	if in.UnixNames == nil {
		u = nil
	}
	if in.ApproverGroups == nil {
		g = nil
	}
	return u, g, nil
}

// CreateAdmin makes an account.
func (s *Service) CreateAdmin(ctx context.Context, a Actor, in AdminInput) (hoist.Admin, error) {
	if err := a.require(hoist.PermitManageUsers); err != nil {
		return hoist.Admin{}, err
	}
	return s.createAdmin(ctx, a.Name, in)
}

func (s *Service) createAdmin(ctx context.Context, actor string, in AdminInput) (hoist.Admin, error) {
	name, role, password := in.Name, in.Role, in.Password
	if err := hoist.CheckAdminName(name); err != nil {
		return hoist.Admin{}, err
	}
	if !role.Valid() {
		return hoist.Admin{}, hoist.Errorf(hoist.EInvalid, "role must be admin, approver or auditor")
	}
	if err := hoist.CheckPassword(password); err != nil {
		return hoist.Admin{}, err
	}
	unixNames, groups, err := in.identities()
	if err != nil {
		return hoist.Admin{}, err
	}
	now := s.now()
	adm := hoist.Admin{ID: hoist.NewID(hoist.AdminIDPrefix), Name: name, Role: role, PasswordHash: hashPassword(password), CreatedAt: now,
		UnixNames: orEmpty(unixNames), ApproverGroups: orEmpty(groups)}
	err = s.store.Update(ctx, func(tx hoist.Tx) error {
		if err := tx.InsertAdmin(ctx, adm); err != nil {
			return err
		}
		if err := audit(ctx, tx, now, actor, hoist.AuditAdminCreated, adm.ID, map[string]any{"name": name, "role": role,
			"unix_names": adm.UnixNames, "approver_groups": adm.ApproverGroups}); err != nil {
			return err
		}
		return checkIdentities(ctx, tx, adm) // after the audit append: see UpdateAdmin
	})
	return adm, err
}

// Admins lists the accounts.
func (s *Service) Admins(ctx context.Context, a Actor) (as []hoist.Admin, err error) {
	if err := a.require(hoist.PermitManageUsers); err != nil {
		return nil, err
	}
	err = s.store.View(ctx, func(tx hoist.Tx) (err error) { as, err = tx.Admins(ctx); return err })
	return as, err
}

// UpdateAdmin changes an account's role, password, disabled flag, Unix
// names or approver groups. An admin cannot demote or disable themselves,
// so that the last admin cannot lock everyone out by accident. A Unix name
// another account lists is refused with EConflict naming that account; an
// unknown group with EInvalid on the field approver_groups.
func (s *Service) UpdateAdmin(ctx context.Context, a Actor, in AdminInput) (adm hoist.Admin, err error) {
	if err := a.require(hoist.PermitManageUsers); err != nil {
		return adm, err
	}
	if in.Role != "" && !in.Role.Valid() {
		return adm, hoist.Errorf(hoist.EInvalid, "role must be admin, approver or auditor")
	}
	if in.Password != "" {
		if err := hoist.CheckPassword(in.Password); err != nil {
			return adm, err
		}
	}
	unixNames, groups, err := in.identities()
	if err != nil {
		return adm, err
	}
	if in.Name == a.Name && ((in.Role != "" && in.Role != hoist.RoleAdmin) || (in.Disabled != nil && *in.Disabled)) {
		return adm, hoist.Errorf(hoist.EConflict, "you cannot demote or disable your own account")
	}
	now := s.now()
	err = s.store.Update(ctx, func(tx hoist.Tx) (err error) {
		adm, err = tx.AdminByName(ctx, in.Name)
		if err != nil {
			return err
		}
		changed := map[string]any{"name": adm.Name}
		if in.Role != "" {
			adm.Role, changed["role"] = in.Role, in.Role
		}
		if in.Password != "" {
			adm.PasswordHash, changed["password"] = hashPassword(in.Password), "changed; logins ended"
			adm.FailedLogins, adm.LastFailedLogin = 0, time.Time{}
			// A new password ends every login of the old one: a stolen token
			// must not outlive the reset.
			if err := tx.DeleteTokensOf(ctx, adm.ID); err != nil {
				return err
			}
		}
		if in.Disabled != nil {
			adm.Disabled, changed["disabled"] = *in.Disabled, *in.Disabled
		}
		if unixNames != nil {
			adm.UnixNames, changed["unix_names"] = unixNames, unixNames
		}
		if groups != nil {
			adm.ApproverGroups, changed["approver_groups"] = groups, groups
		}
		if err := tx.UpdateAdmin(ctx, adm); err != nil {
			return err
		}
		// The audit append locks the log's head, which serializes every
		// writer; the checks after it therefore see any change committed
		// meanwhile (two admins demoting each other at once on PostgreSQL,
		// two accounts given one Unix name, a group deleted).
		if err := audit(ctx, tx, now, a.Name, hoist.AuditAdminUpdated, adm.ID, changed); err != nil {
			return err
		}
		if err := checkIdentities(ctx, tx, adm); err != nil {
			return err
		}
		return keepAnAdmin(ctx, tx)
	})
	return adm, err
}

// ChangeOwnPassword sets a's own password, given the current one. Every
// login of the account ends, this one too. A wrong current password counts
// as a failed login, so that a borrowed, signed-in console is no shortcut
// for guessing.
func (s *Service) ChangeOwnPassword(ctx context.Context, a Actor, from, current, next string) error {
	if err := hoist.CheckPassword(next); err != nil {
		return err
	}
	now := s.now()
	var adm hoist.Admin
	if err := s.store.View(ctx, func(tx hoist.Tx) (err error) { adm, err = tx.Admin(ctx, a.ID); return err }); err != nil {
		return err
	}
	at := attempt{name: adm.Name, src: source(from)}
	if err := s.store.View(ctx, func(tx hoist.Tx) error { return throttled(ctx, tx, at, now) }); err != nil {
		return err
	}
	if len(current) > 1024 || !checkPassword(adm.PasswordHash, current) {
		s.recordFailure(ctx, adm, at, from, true, now)
		return hoist.Errorf(hoist.EInvalid, "the current password is not right")
	}
	hash := hashPassword(next)
	return s.store.Update(ctx, func(tx hoist.Tx) error {
		cur, err := tx.Admin(ctx, a.ID)
		if err != nil {
			return err
		}
		cur.PasswordHash, cur.FailedLogins, cur.LastFailedLogin = hash, 0, time.Time{}
		if err := tx.UpdateAdmin(ctx, cur); err != nil {
			return err
		}
		if err := tx.DeleteTokensOf(ctx, cur.ID); err != nil {
			return err
		}
		return audit(ctx, tx, now, a.Name, hoist.AuditAdminUpdated, cur.ID, map[string]any{"name": cur.Name, "password": "changed by its owner; logins ended"})
	})
}

// DeleteAdmin removes an account and its tokens. Nobody deletes themselves.
func (s *Service) DeleteAdmin(ctx context.Context, a Actor, name string) error {
	if err := a.require(hoist.PermitManageUsers); err != nil {
		return err
	}
	if name == a.Name {
		return hoist.Errorf(hoist.EConflict, "you cannot delete your own account")
	}
	now := s.now()
	return s.store.Update(ctx, func(tx hoist.Tx) error {
		adm, err := tx.AdminByName(ctx, name)
		if err != nil {
			return err
		}
		if err := tx.DeleteAdmin(ctx, adm.ID); err != nil {
			return err
		}
		// Audit first: see UpdateAdmin.
		if err := audit(ctx, tx, now, a.Name, hoist.AuditAdminDeleted, adm.ID, map[string]any{"name": name}); err != nil {
			return err
		}
		return keepAnAdmin(ctx, tx)
	})
}

// keepAnAdmin refuses, inside the changing transaction, any change that
// leaves no enabled admin: two admins demoting each other at once must not
// lock everyone out.
func keepAnAdmin(ctx context.Context, tx hoist.Tx) error {
	as, err := tx.Admins(ctx)
	if err != nil {
		return err
	}
	for _, a := range as {
		if a.Role == hoist.RoleAdmin && !a.Disabled {
			return nil
		}
	}
	return hoist.Errorf(hoist.EConflict, "this would leave no enabled admin")
}

func orEmpty(names []string) []string {
	if names == nil {
		return []string{}
	}
	return names
}
