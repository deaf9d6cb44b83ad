package control

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
)

// Sign-in through the organisation's OpenID Connect provider. The protocol
// is package sso's; the rules are here: which role a person's groups at
// the provider give, an account made at the first sign-in and linked to
// the provider's subject (not to a name, so that a local account is never
// taken over), the role refreshed at every sign-in, the account disabled
// when the provider no longer gives it a role, and password sign-in turned
// off but for a break-glass account.

// IdentityProvider is the OpenID Connect provider (package sso's Provider).
type IdentityProvider interface {
	// Issuer is the provider's issuer URL.
	Issuer() string
	// AuthURL is the address to send a browser to, for the code flow
	// with state, nonce and the PKCE S256 challenge of verifier.
	AuthURL(ctx context.Context, state, nonce, verifier string) (string, error)
	// Exchange trades the callback's code for the verified claims of the
	// ID token, which must carry nonce; EUnauthorized when refused.
	Exchange(ctx context.Context, code, verifier, nonce string) (hoist.SSOClaims, error)
}

// SSO configures sign-in through the identity provider.
type SSO struct {
	// Provider is the identity provider; nil: no sign-in through one.
	Provider IdentityProvider
	// RoleGroups lists, for each role, the provider's groups that give it.
	// A person in groups of several roles gets the strongest (admin, then
	// approver, then auditor); in none, no access.
	RoleGroups map[hoist.Role][]string
	// NoLocalLogin turns password sign-in off for every account but
	// BreakGlass.
	NoLocalLogin bool
	BreakGlass   string
}

// SSOEnabled reports whether the server signs people in through an
// identity provider.
func (s *Service) SSOEnabled() bool { return s.sso.Provider != nil }

// LocalLoginEnabled reports whether password sign-in is on for every
// account (else only for the break-glass account).
func (s *Service) LocalLoginEnabled() bool { return !s.sso.NoLocalLogin }

// roleFor returns the strongest role the groups give, or "".
func (c SSO) roleFor(groups []string) hoist.Role {
	for _, r := range []hoist.Role{hoist.RoleAdmin, hoist.RoleApprover, hoist.RoleAuditor} {
		for _, g := range c.RoleGroups[r] {
			if slices.Contains(groups, g) {
				return r
			}
		}
	}
	return ""
}

// SSOStart is where a sign-in through the provider goes back to.
type SSOStart struct {
	// Next is the console page to open after the sign-in.
	Next string
	// Redirect and Challenge are a CLI's: its loopback address
	// (http://127.0.0.1:PORT/…) and the S256 challenge of the verifier it
	// keeps (see RedeemSSO).
	Redirect, Challenge string
}

// StartSSO begins a sign-in: it keeps a fresh state, nonce and PKCE
// verifier in the store and returns the state (the console binds it to
// the browser) and the provider's address to send the browser to.
// ENotFound when no provider is configured; EInvalid for a CLI redirect
// that is not a loopback http:// address or a missing challenge.
func (s *Service) StartSSO(ctx context.Context, in SSOStart) (state, authURL string, err error) {
	if !s.SSOEnabled() {
		return "", "", hoist.Errorf(hoist.ENotFound, "this server does not sign in through an identity provider")
	}
	if in.Redirect != "" || in.Challenge != "" {
		if err := checkLoopback(in.Redirect); err != nil {
			return "", "", err
		}
		if l := len(in.Challenge); l < 43 || l > 128 {
			return "", "", &hoist.Error{Code: hoist.EInvalid, Message: "the challenge must be a PKCE S256 challenge",
				Fields: map[string]string{"challenge": "43 to 128 characters of base64url"}}
		}
	}
	state, nonce, verifier := randomCode(), randomCode(), randomCode()+randomCode()
	now := s.now()
	l := hoist.SSOLogin{Key: "state:" + codeHash(state), Nonce: nonce, Verifier: verifier, Next: in.Next,
		Redirect: in.Redirect, Challenge: in.Challenge, ExpiresAt: now.Add(hoist.SSOLoginTTL)}
	if authURL, err = s.sso.Provider.AuthURL(ctx, state, nonce, verifier); err != nil {
		return "", "", err
	}
	err = s.store.Update(ctx, func(tx hoist.Tx) error { return tx.InsertSSOLogin(ctx, l, now) })
	return state, authURL, err
}

// checkLoopback accepts only a CLI's own address: http:// on a loopback
// IP with a port, so that a sign-in can never be handed to another host.
func checkLoopback(redirect string) error {
	bad := &hoist.Error{Code: hoist.EInvalid, Message: "the redirect must be http://127.0.0.1:PORT/… or http://[::1]:PORT/…",
		Fields: map[string]string{"redirect": "a loopback http:// address with a port"}}
	u, err := url.Parse(redirect)
	if err != nil || u.Scheme != "http" || u.User != nil || u.Port() == "" || u.Fragment != "" || len(redirect) > 200 {
		return bad
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() {
		return bad
	}
	return nil
}

// SSOResult is a finished sign-in through the provider: a console login
// (Login and Next), or for a CLI the address to send the browser on to
// (Handoff, with a one-time code for RedeemSSO).
type SSOResult struct {
	Login   LoginResult
	Next    string
	Handoff string
}

// FinishSSO completes the sign-in whose state the provider's callback
// carries: it spends the state (a replay finds none), trades code for the
// verified claims, signs the person in (signInSSO) and returns a console
// login lasting idle, or a CLI's handoff. bound says the browser that
// brings the callback is the one the console sent (its cookie holds the
// state): a console sign-in is refused without it, so that nobody can
// sign another's browser into their own account. Every refusal is
// EUnauthorized or EForbidden with a message to show, and audited when
// the provider vouched for the person.
func (s *Service) FinishSSO(ctx context.Context, state, code, from string, bound bool, idle time.Duration) (SSOResult, error) {
	if !s.SSOEnabled() {
		return SSOResult{}, hoist.Errorf(hoist.ENotFound, "this server does not sign in through an identity provider")
	}
	if state == "" || len(state) > 200 || code == "" || len(code) > 4096 {
		return SSOResult{}, hoist.Errorf(hoist.EUnauthorized, "the identity provider's answer is incomplete; start the sign-in again")
	}
	now := s.now()
	var l hoist.SSOLogin
	err := s.store.Update(ctx, func(tx hoist.Tx) (err error) {
		l, err = tx.TakeSSOLogin(ctx, "state:"+codeHash(state), now)
		return err
	})
	if hoist.ErrorCode(err) == hoist.ENotFound {
		return SSOResult{}, hoist.Errorf(hoist.EUnauthorized, "this sign-in was already used, took too long or was not started here; start again")
	}
	if err != nil {
		return SSOResult{}, err
	}
	if l.Redirect == "" && !bound {
		return SSOResult{}, hoist.Errorf(hoist.EUnauthorized, "this sign-in was started in another browser; start again here")
	}
	claims, err := s.sso.Provider.Exchange(ctx, code, l.Verifier, l.Nonce)
	if err != nil {
		s.log.Warn("sign-in through the identity provider refused", "from", from, "err", err)
		return SSOResult{}, err
	}
	via := "console"
	if l.Redirect != "" {
		via = "cli"
	}
	adm, err := s.signInSSO(ctx, claims, from, via)
	if err != nil {
		return SSOResult{}, err
	}
	if l.Redirect != "" {
		return s.handOff(ctx, adm, l, now)
	}
	r, err := s.issueLogin(ctx, adm, min(idle, s.tokenTTL), map[string]any{"from": from, "via": "sso", "issuer": claims.Issuer, "groups": claims.Groups})
	return SSOResult{Login: r, Next: l.Next}, err
}

// handOff keeps a one-time code for the CLI that started l and returns
// its loopback address with the code.
func (s *Service) handOff(ctx context.Context, adm hoist.Admin, l hoist.SSOLogin, now time.Time) (SSOResult, error) {
	code := randomCode()
	h := hoist.SSOLogin{Key: "handoff:" + codeHash(code), Challenge: l.Challenge, AdminID: adm.ID, ExpiresAt: now.Add(2 * time.Minute)}
	if err := s.store.Update(ctx, func(tx hoist.Tx) error { return tx.InsertSSOLogin(ctx, h, now) }); err != nil {
		return SSOResult{}, err
	}
	u, _ := url.Parse(l.Redirect) // checked at StartSSO
	q := u.Query()
	q.Set("code", code)
	u.RawQuery = q.Encode()
	return SSOResult{Handoff: u.String()}, nil
}

// RedeemSSO gives the CLI that proves verifier (the one behind the
// challenge it started with) a login token for the account its browser
// signed in as. The code is spent by the first try, right or wrong.
func (s *Service) RedeemSSO(ctx context.Context, code, verifier, from string) (LoginResult, error) {
	denied := hoist.Errorf(hoist.EUnauthorized, "this sign-in code is not valid (used, expired, or for another client); run hoist admin login --sso again")
	if code == "" || len(code) > 200 || len(verifier) < 43 || len(verifier) > 128 {
		return LoginResult{}, denied
	}
	now := s.now()
	var (
		h   hoist.SSOLogin
		adm hoist.Admin
	)
	err := s.store.Update(ctx, func(tx hoist.Tx) (err error) {
		if h, err = tx.TakeSSOLogin(ctx, "handoff:"+codeHash(code), now); err != nil {
			return err
		}
		adm, err = tx.Admin(ctx, h.AdminID)
		return err
	})
	if code := hoist.ErrorCode(err); code == hoist.ENotFound {
		return LoginResult{}, denied
	} else if err != nil {
		return LoginResult{}, err
	}
	sum := sha256.Sum256([]byte(verifier))
	if subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(h.Challenge)) != 1 || adm.Disabled {
		return LoginResult{}, denied
	}
	return s.issueLogin(ctx, adm, s.tokenTTL, map[string]any{"from": from, "via": "sso-cli"})
}

// signInSSO is the rule of who the provider's claims sign in as, in one
// transaction: the account linked to the subject (made and linked at the
// first sign-in when the groups give a role), its role set from the
// groups, its Unix names from the claims when the provider sends them. A
// person the groups give no role is refused, and their account disabled
// with its logins ended. Refusals are audited in a transaction of their
// own, since the sign-in's rolls back.
func (s *Service) signInSSO(ctx context.Context, c hoist.SSOClaims, from, via string) (hoist.Admin, error) {
	now := s.now()
	role := s.sso.roleFor(c.Groups)
	var (
		adm     hoist.Admin
		refusal error
	)
	err := retryConflicts(func() error {
		refusal = nil
		return s.store.Update(ctx, func(tx hoist.Tx) (err error) {
			adm, refusal, err = s.ssoAccount(ctx, tx, c, role, now)
			if err != nil {
				return err
			}
			return refusal // rolls back whatever the refused sign-in wrote
		})
	})
	if err != nil && refusal == nil {
		return adm, err
	}
	if refusal == nil && adm.Disabled {
		refusal = errDisabledByIdP // the disable is committed
	}
	if refusal != nil {
		s.auditSSORefusal(ctx, c, adm, from, via, refusal, now)
		return adm, refusal
	}
	return adm, nil
}

// ssoAccount finds, makes or updates the account of c in tx. refusal is
// the answer for a person not let in; the caller rolls back what was
// written then. An account the groups no longer give a role comes back
// disabled, and that is committed.
func (s *Service) ssoAccount(ctx context.Context, tx hoist.Tx, c hoist.SSOClaims, role hoist.Role, now time.Time) (adm hoist.Admin, refusal, err error) {
	id, err := tx.SSOAccount(ctx, c.Issuer, c.Subject)
	if hoist.ErrorCode(err) == hoist.ENotFound {
		if role == "" {
			return hoist.Admin{Name: c.Name}, hoist.Errorf(hoist.EForbidden, "your groups at the identity provider give you no access to Hoist"), nil
		}
		return s.createSSOAccount(ctx, tx, c, role, now)
	}
	if err != nil {
		return adm, nil, err
	}
	if adm, err = tx.Admin(ctx, id); err != nil {
		return adm, nil, err
	}
	if adm.Disabled {
		return adm, hoist.Errorf(hoist.EForbidden, "your Hoist account %s is disabled; an admin can enable it", adm.Name), nil
	}
	was := adm
	if role == "" {
		adm.Disabled = true
	} else {
		adm.Role = role
	}
	if c.UnixNames != nil {
		if adm.UnixNames, _, err = hoist.CleanIdentities(c.UnixNames, nil); err != nil {
			return was, hoist.Errorf(hoist.EForbidden, "the identity provider's Unix names for you are not valid: %s", hoist.ErrorMessage(err)), nil
		}
	}
	if adm.Role == was.Role && adm.Disabled == was.Disabled && slices.Equal(adm.UnixNames, was.UnixNames) {
		return adm, nil, nil
	}
	if err := tx.UpdateAdmin(ctx, adm); err != nil {
		return adm, nil, err
	}
	if adm.Disabled {
		if err := tx.DeleteTokensOf(ctx, adm.ID); err != nil {
			return adm, nil, err
		}
	}
	if err := audit(ctx, tx, now, hoist.SSOActor, hoist.AuditSSORoleChanged, adm.ID, map[string]any{"name": adm.Name,
		"from_role": was.Role, "role": map[bool]hoist.Role{false: adm.Role, true: ""}[adm.Disabled], "disabled": adm.Disabled,
		"unix_names": adm.UnixNames, "groups": c.Groups, "issuer": c.Issuer}); err != nil {
		return adm, nil, err
	}
	if err := checkIdentities(ctx, tx, adm); err != nil {
		return was, hoist.Errorf(hoist.EForbidden, "cannot sign you in: %s", hoist.ErrorMessage(err)), nil
	}
	return adm, nil, nil
}

// errDisabledByIdP ends a sign-in whose account the provider's groups
// just disabled; signInSSO turns it into the refusal after the commit.
var errDisabledByIdP = hoist.Errorf(hoist.EForbidden, "your groups at the identity provider no longer give you access to Hoist; your account is disabled")

// createSSOAccount makes the account of a first sign-in, named by the
// provider and linked to its subject. A local account of the same name is
// not taken over: the sign-in is refused until an admin renames or
// deletes it.
func (s *Service) createSSOAccount(ctx context.Context, tx hoist.Tx, c hoist.SSOClaims, role hoist.Role, now time.Time) (hoist.Admin, error, error) {
	name := strings.ToLower(c.Name)
	if err := hoist.CheckAdminName(name); err != nil {
		return hoist.Admin{Name: name}, hoist.Errorf(hoist.EForbidden, "the identity provider's name for you, %q, cannot be a Hoist account name", c.Name), nil
	}
	if _, err := tx.AdminByName(ctx, name); err == nil {
		return hoist.Admin{Name: name}, hoist.Errorf(hoist.EForbidden, "a Hoist account named %s exists that is not linked to your identity; an admin must rename or delete it first", name), nil
	} else if hoist.ErrorCode(err) != hoist.ENotFound {
		return hoist.Admin{}, nil, err
	}
	unixNames, _, err := hoist.CleanIdentities(c.UnixNames, nil)
	if err != nil {
		return hoist.Admin{Name: name}, hoist.Errorf(hoist.EForbidden, "the identity provider's Unix names for you are not valid: %s", hoist.ErrorMessage(err)), nil
	}
	adm := hoist.Admin{ID: hoist.NewID(hoist.AdminIDPrefix), Name: name, Role: role, CreatedAt: now, UnixNames: unixNames, ApproverGroups: []string{}}
	if err := tx.InsertAdmin(ctx, adm); err != nil {
		return adm, nil, err
	}
	if err := tx.LinkSSOAccount(ctx, c.Issuer, c.Subject, adm.ID); err != nil {
		return adm, nil, err
	}
	if err := audit(ctx, tx, now, hoist.SSOActor, hoist.AuditAdminCreated, adm.ID, map[string]any{"name": name, "role": role,
		"unix_names": adm.UnixNames, "approver_groups": adm.ApproverGroups, "issuer": c.Issuer, "subject": c.Subject, "groups": c.Groups}); err != nil {
		return adm, nil, err
	}
	if err := checkIdentities(ctx, tx, adm); err != nil {
		return adm, hoist.Errorf(hoist.EForbidden, "cannot sign you in: %s", hoist.ErrorMessage(err)), nil
	}
	return adm, nil, nil
}

// auditSSORefusal records that the provider vouched for someone Hoist did
// not let in.
func (s *Service) auditSSORefusal(ctx context.Context, c hoist.SSOClaims, adm hoist.Admin, from, via string, why error, now time.Time) {
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		return audit(ctx, tx, now, c.Name, hoist.AuditSSORefused, adm.ID, map[string]any{"from": from, "via": via,
			"issuer": c.Issuer, "subject": c.Subject, "groups": c.Groups, "reason": hoist.ErrorMessage(why)})
	})
	if err != nil {
		s.log.Warn("cannot audit a refused sign-in", "user", c.Name, "err", err)
	}
}

// issueLogin makes a login token of adm lasting ttl, audited as a login
// with detail.
func (s *Service) issueLogin(ctx context.Context, adm hoist.Admin, ttl time.Duration, detail map[string]any) (LoginResult, error) {
	now := s.now()
	token := TokenPrefix + randomCode()
	expires := now.Add(ttl)
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		if err := tx.DeleteExpiredTokens(ctx, now); err != nil {
			return err
		}
		if err := tx.InsertToken(ctx, hoist.Token{Hash: tokenHash(token), AdminID: adm.ID, CreatedAt: now, ExpiresAt: expires}); err != nil {
			return err
		}
		return audit(ctx, tx, now, adm.Name, hoist.AuditLogin, adm.ID, detail)
	})
	if err != nil {
		return LoginResult{}, err
	}
	return LoginResult{Token: token, Admin: adm, Expires: expires}, nil
}

func randomCode() string {
	raw := make([]byte, 32)
	_, _ = rand.Read(raw)
	return base64.RawURLEncoding.EncodeToString(raw)
}

func codeHash(code string) string {
	sum := sha256.Sum256([]byte(code))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// checkLocalLogin refuses a password sign-in of a, whose password was
// right, when password sign-in is off and a is not the break-glass
// account. (Checked after the password, so that it tells nothing to one
// who does not know it.)
func (s *Service) checkLocalLogin(a hoist.Admin) error {
	if !s.sso.NoLocalLogin || (s.sso.BreakGlass != "" && a.Name == s.sso.BreakGlass) {
		return nil
	}
	return hoist.Errorf(hoist.EUnauthorized, "password sign-in is turned off on this server: sign in with your identity provider")
}
