package control

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/hoist-jit/hoist"
)

// Passkeys (WebAuthn, github.com/go-webauthn/webauthn): an account
// registers them on its account page, and a JIT startup policy with
// RequirePasskey makes an approval of its requests need a fresh assertion
// whose challenge is derived from that one decision — its request ids and
// window — so that a stolen console cookie, or an assertion made for
// another decision, approves nothing.

// PasskeyConfig is the relying party the browser checks passkeys against.
type PasskeyConfig struct {
	// RPID is the console's host name (not an IP address: browsers refuse
	// those); empty turns passkeys off.
	RPID string
	// Origins are the console's origins (https://host:port).
	Origins []string
}

// passkeyTTL bounds how long a passkey ceremony may take.
const passkeyTTL = 5 * time.Minute

func newWebAuthn(c PasskeyConfig) (*webauthn.WebAuthn, error) {
	if c.RPID == "" {
		return nil, nil
	}
	w, err := webauthn.New(&webauthn.Config{RPID: c.RPID, RPDisplayName: "Hoist", RPOrigins: c.Origins})
	if err != nil {
		return nil, hoist.WrapError(hoist.EInvalid, "the passkey settings are not usable: "+err.Error(), err)
	}
	return w, nil
}

// PasskeysEnabled reports whether the console offers passkeys.
func (s *Service) PasskeysEnabled() bool { return s.webauthn != nil }

func (s *Service) needWebAuthn() error {
	if s.webauthn == nil {
		return hoist.Errorf(hoist.EUnavailable, "this server has no passkey settings: passkeys need the console's host name (serve --public-url with a DNS name)")
	}
	return nil
}

// passkeyUser is an account as the WebAuthn library sees it.
type passkeyUser struct {
	adm   hoist.Admin
	keys  []hoist.Passkey
	creds []webauthn.Credential
}

func (u *passkeyUser) WebAuthnID() []byte                         { return []byte(u.adm.ID) }
func (u *passkeyUser) WebAuthnName() string                       { return u.adm.Name }
func (u *passkeyUser) WebAuthnDisplayName() string                { return u.adm.Name }
func (u *passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// userOf reads a's account and passkeys in tx.
func userOf(ctx context.Context, tx hoist.Tx, a Actor) (*passkeyUser, error) {
	adm, err := accountOf(ctx, tx, a)
	if err != nil {
		return nil, err
	}
	if adm.ID == "" {
		return nil, hoist.Errorf(hoist.EForbidden, "this login has no account to keep passkeys on")
	}
	keys, err := tx.Passkeys(ctx, adm.ID)
	if err != nil {
		return nil, err
	}
	u := &passkeyUser{adm: adm, keys: keys}
	for _, k := range keys {
		var c webauthn.Credential
		if err := json.Unmarshal(k.Credential, &c); err != nil {
			return nil, hoist.WrapError(hoist.EInternal, "a stored passkey cannot be read", err)
		}
		u.creds = append(u.creds, c)
	}
	return u, nil
}

// Passkeys lists a's own passkeys.
func (s *Service) Passkeys(ctx context.Context, a Actor) (keys []hoist.Passkey, err error) {
	err = s.store.View(ctx, func(tx hoist.Tx) error {
		u, err := userOf(ctx, tx, a)
		if err == nil {
			keys = u.keys
		}
		return err
	})
	return keys, err
}

// BeginPasskeyRegistration starts registering a passkey on a's account
// and returns the options for the browser's navigator.credentials.create
// (the publicKey member, as JSON).
func (s *Service) BeginPasskeyRegistration(ctx context.Context, a Actor) (json.RawMessage, error) {
	if err := s.needWebAuthn(); err != nil {
		return nil, err
	}
	if err := s.requireFreshSignIn(ctx, a, "passkey_add"); err != nil {
		return nil, err
	}
	var out json.RawMessage
	now := s.now()
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		u, err := userOf(ctx, tx, a)
		if err != nil {
			return err
		}
		if len(u.keys) >= hoist.MaxPasskeys {
			return hoist.Errorf(hoist.EConflict, "an account keeps at most %d passkeys; remove one first", hoist.MaxPasskeys)
		}
		var exclude []protocol.CredentialDescriptor
		for _, c := range u.creds {
			exclude = append(exclude, c.Descriptor())
		}
		creation, session, err := s.webauthn.BeginRegistration(u, webauthn.WithExclusions(exclude),
			webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementPreferred))
		if err != nil {
			return hoist.WrapError(hoist.EInternal, "cannot start a passkey registration", err)
		}
		if out, err = json.Marshal(creation.Response); err != nil {
			return hoist.WrapError(hoist.EInternal, "cannot start a passkey registration", err)
		}
		return s.keepCeremony(ctx, tx, u.adm.ID, "register", "", session, now)
	})
	return out, err
}

// keepCeremony stores the library's session of a ceremony under its
// challenge, for the one finish that spends it.
func (s *Service) keepCeremony(ctx context.Context, tx hoist.Tx, adminID, purpose, nonce string, session *webauthn.SessionData, now time.Time) error {
	data, err := json.Marshal(session)
	if err != nil {
		return hoist.WrapError(hoist.EInternal, "cannot keep the passkey challenge", err)
	}
	return tx.InsertSSOLogin(ctx, hoist.SSOLogin{Key: "passkey:" + session.Challenge, Nonce: nonce, Next: purpose, Verifier: string(data),
		AdminID: adminID, ExpiresAt: now.Add(passkeyTTL)}, now)
}

// takeCeremony spends the ceremony of challenge, which must be a's and
// for purpose.
func takeCeremony(ctx context.Context, tx hoist.Tx, adminID, purpose, challenge string, now time.Time) (hoist.SSOLogin, webauthn.SessionData, error) {
	var session webauthn.SessionData
	stale := hoist.Errorf(hoist.EForbidden, "the passkey answer is for no challenge of yours in progress (used, expired or for another decision); try again")
	if challenge == "" || len(challenge) > 200 {
		return hoist.SSOLogin{}, session, stale
	}
	l, err := tx.TakeSSOLogin(ctx, "passkey:"+challenge, now)
	if hoist.ErrorCode(err) == hoist.ENotFound || (err == nil && (l.AdminID != adminID || l.Next != purpose)) {
		return l, session, stale
	}
	if err != nil {
		return l, session, err
	}
	if err := json.Unmarshal([]byte(l.Verifier), &session); err != nil {
		return l, session, hoist.WrapError(hoist.EInternal, "a stored passkey challenge cannot be read", err)
	}
	return l, session, nil
}

// maxPasskeyAnswer bounds the browser's answer to a ceremony.
const maxPasskeyAnswer = 64 << 10

// FinishPasskeyRegistration checks the browser's answer (the credential's
// toJSON()) to a's registration and keeps the passkey as name. EInvalid
// for a name that is empty or too long; EForbidden for an answer the
// library refuses or that answers no registration of a's in progress.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, a Actor, name string, answer []byte) (hoist.Passkey, error) {
	if err := s.needWebAuthn(); err != nil {
		return hoist.Passkey{}, err
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 64 {
		return hoist.Passkey{}, &hoist.Error{Code: hoist.EInvalid, Message: "give the passkey a name of 1 to 64 characters",
			Fields: map[string]string{"name": "1 to 64 characters"}}
	}
	if len(answer) > maxPasskeyAnswer {
		return hoist.Passkey{}, hoist.Errorf(hoist.ETooLarge, "the passkey answer is larger than %d bytes", maxPasskeyAnswer)
	}
	parsed, err := protocol.ParseCredentialCreationResponseBytes(answer)
	if err != nil {
		return hoist.Passkey{}, hoist.WrapError(hoist.EInvalid, "the browser's passkey answer cannot be read", err)
	}
	if err := s.requireFreshSignIn(ctx, a, "passkey_add"); err != nil {
		return hoist.Passkey{}, err
	}
	now := s.now()
	var key hoist.Passkey
	err = s.store.Update(ctx, func(tx hoist.Tx) error {
		u, err := userOf(ctx, tx, a)
		if err != nil {
			return err
		}
		_, session, err := takeCeremony(ctx, tx, u.adm.ID, "register", parsed.Response.CollectedClientData.Challenge, now)
		if err != nil {
			return err
		}
		cred, err := s.webauthn.CreateCredential(u, session, parsed)
		if err != nil {
			return hoist.WrapError(hoist.EForbidden, "the passkey was refused: "+protocolReason(err), err)
		}
		data, err := json.Marshal(cred)
		if err != nil {
			return hoist.WrapError(hoist.EInternal, "cannot keep the passkey", err)
		}
		key = hoist.Passkey{ID: base64.RawURLEncoding.EncodeToString(cred.ID), AdminID: u.adm.ID, Name: name, CreatedAt: now, Credential: data}
		if err := tx.InsertPasskey(ctx, key); err != nil {
			return err
		}
		return audit(ctx, tx, now, u.adm.Name, hoist.AuditPasskeyAdded, u.adm.ID, map[string]any{"passkey": key.ID, "name": name})
	})
	return key, err
}

// protocolReason is the library's own account of a refusal, for the
// person at the browser.
func protocolReason(err error) string {
	var perr *protocol.Error
	if pe, ok := err.(*protocol.Error); ok {
		perr = pe
	}
	if perr != nil && perr.Details != "" {
		return perr.Details
	}
	return err.Error()
}

// RemovePasskey removes a's passkey id.
func (s *Service) RemovePasskey(ctx context.Context, a Actor, id string) error {
	if err := s.requireFreshSignIn(ctx, a, "passkey_remove"); err != nil {
		return err
	}
	now := s.now()
	return s.store.Update(ctx, func(tx hoist.Tx) error {
		adm, err := accountOf(ctx, tx, a)
		if err != nil {
			return err
		}
		if err := tx.DeletePasskey(ctx, adm.ID, id); err != nil {
			return err
		}
		return audit(ctx, tx, now, adm.Name, hoist.AuditPasskeyRemoved, adm.ID, map[string]any{"passkey": id})
	})
}

// Decision is what an approver's step-up binds: the request ids and the
// window as the approver chose it ("once", "requested", or a duration).
type Decision struct {
	IDs    []string
	Window string
}

// binding is the decision as the challenge is derived from it: the
// account, the window and the ids, sorted so that their order does not
// matter.
func (d Decision) binding(adminID string) []byte {
	ids := slices.Clone(d.IDs)
	slices.Sort(ids)
	return []byte("hoist step-up v1\n" + adminID + "\n" + d.Window + "\n" + strings.Join(ids, "\n"))
}

// stepUpChallenge derives the challenge of decision d for the account
// from nonce.
func stepUpChallenge(nonce string, d Decision, adminID string) []byte {
	h := sha256.New()
	h.Write([]byte(nonce))
	h.Write(d.binding(adminID))
	return h.Sum(nil)
}

// BeginStepUp starts a's passkey assertion for decision d and returns the
// options for navigator.credentials.get (the publicKey member, as JSON).
// EForbidden when a has no passkey.
func (s *Service) BeginStepUp(ctx context.Context, a Actor, d Decision) (json.RawMessage, error) {
	if err := a.require(hoist.PermitDecide); err != nil {
		return nil, err
	}
	if err := s.needWebAuthn(); err != nil {
		return nil, err
	}
	if err := checkBatch(d.IDs); err != nil {
		return nil, err
	}
	var out json.RawMessage
	now := s.now()
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		u, err := userOf(ctx, tx, a)
		if err != nil {
			return err
		}
		if len(u.creds) == 0 {
			return hoist.Errorf(hoist.EForbidden, "register a passkey on your account page first: this approval needs one")
		}
		nonce := randomCode()
		assertion, session, err := s.webauthn.BeginLogin(u, webauthn.WithChallenge(stepUpChallenge(nonce, d, u.adm.ID)),
			webauthn.WithUserVerification(protocol.VerificationPreferred))
		if err != nil {
			return hoist.WrapError(hoist.EInternal, "cannot start a passkey check", err)
		}
		if out, err = json.Marshal(assertion.Response); err != nil {
			return hoist.WrapError(hoist.EInternal, "cannot start a passkey check", err)
		}
		return s.keepCeremony(ctx, tx, u.adm.ID, "approve", nonce, session, now)
	})
	return out, err
}

// StepUp is a checked passkey assertion of one decision; only
// VerifyStepUp makes one, and Approve takes it for those ids only.
type StepUp struct {
	adminID string
	ids     []string
	window  string // as Decision.Window: Approve grants only this window
}

// VerifyStepUp checks the browser's answer (the credential's toJSON()) to
// a's step-up for decision d: the challenge must be the one derived from
// d, spent here, and the assertion the library's valid answer by one of
// a's passkeys. It is audited. EForbidden for any refusal.
func (s *Service) VerifyStepUp(ctx context.Context, a Actor, d Decision, answer []byte) (StepUp, error) {
	if err := s.needWebAuthn(); err != nil {
		return StepUp{}, err
	}
	if len(answer) > maxPasskeyAnswer {
		return StepUp{}, hoist.Errorf(hoist.ETooLarge, "the passkey answer is larger than %d bytes", maxPasskeyAnswer)
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(answer)
	if err != nil {
		return StepUp{}, hoist.WrapError(hoist.EForbidden, "the browser's passkey answer cannot be read", err)
	}
	now := s.now()
	var proof StepUp
	err = s.store.Update(ctx, func(tx hoist.Tx) error {
		u, err := userOf(ctx, tx, a)
		if err != nil {
			return err
		}
		l, session, err := takeCeremony(ctx, tx, u.adm.ID, "approve", parsed.Response.CollectedClientData.Challenge, now)
		if err != nil {
			return err
		}
		want := base64.RawURLEncoding.EncodeToString(stepUpChallenge(l.Nonce, d, u.adm.ID))
		if session.Challenge != want {
			return hoist.Errorf(hoist.EForbidden, "the passkey answer was made for another decision (other requests or another window); nothing was approved")
		}
		cred, err := s.webauthn.ValidateLogin(u, session, parsed)
		if err != nil {
			return hoist.WrapError(hoist.EForbidden, "the passkey answer was refused: "+protocolReason(err), err)
		}
		id := base64.RawURLEncoding.EncodeToString(cred.ID)
		i := slices.IndexFunc(u.keys, func(k hoist.Passkey) bool { return k.ID == id })
		if i < 0 {
			return hoist.Errorf(hoist.EForbidden, "the passkey answer is from a passkey of no account here")
		}
		key := u.keys[i]
		if key.Credential, err = json.Marshal(cred); err != nil {
			return hoist.WrapError(hoist.EInternal, "cannot keep the passkey", err)
		}
		key.LastUsed = now
		if err := tx.UpdatePasskey(ctx, key); err != nil {
			return err
		}
		proof = StepUp{adminID: u.adm.ID, ids: slices.Clone(d.IDs), window: d.Window}
		return audit(ctx, tx, now, u.adm.Name, hoist.AuditStepUp, u.adm.ID, map[string]any{"passkey": id, "name": key.Name,
			"requests": d.IDs, "window": d.Window})
	})
	return proof, err
}

// covers reports whether p is a's step-up for request id.
func (p *StepUp) covers(adminID, id string) bool {
	return p != nil && p.adminID != "" && p.adminID == adminID && slices.Contains(p.ids, id)
}

// grants reports whether approving r for d (zero: One Time) is the window
// p was made for: "once", "requested" (r's own), or that duration.
func (p *StepUp) grants(r hoist.Request, d time.Duration) bool {
	switch p.window {
	case "once":
		return d == 0
	case "requested":
		return d == r.RequestedDuration
	}
	w, err := hoist.ParseDuration(p.window)
	return err == nil && d == w
}

// needsPasskey reports whether the JIT startup policy of r wants a passkey
// for its approval (read at the decision, so that a policy turned strict
// holds for requests already waiting).
func needsPasskey(ctx context.Context, tx hoist.Tx, r hoist.Request) (bool, error) {
	if r.Policy == "" {
		return false, nil
	}
	p, err := tx.Policy(ctx, r.Policy)
	if hoist.ErrorCode(err) == hoist.ENotFound {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return p.Startup != nil && p.Startup.RequirePasskey, nil
}

// checkStepUp refuses, with EForbidden, approving r as the account
// adminID without a
// step-up that covers it, when r's policy wants one.
func checkStepUp(ctx context.Context, tx hoist.Tx, adminID string, r hoist.Request, d time.Duration, proof *StepUp) error {
	need, err := needsPasskey(ctx, tx, r)
	if err != nil || !need {
		return err
	}
	if !proof.covers(adminID, r.ID) {
		return hoist.Errorf(hoist.EForbidden, "policy %q wants a passkey to approve this request: approve it in the console with your passkey", r.Policy)
	}
	if !proof.grants(r, d) {
		return hoist.Errorf(hoist.EForbidden, "the passkey check was made for another window (%s): approve again with the window you chose", proof.window)
	}
	return nil
}

// NeedPasskey returns which of the pending requests ids need a passkey to
// be approved, for the console to ask for one.
func (s *Service) NeedPasskey(ctx context.Context, a Actor, ids []string) (map[string]bool, error) {
	if err := a.require(hoist.PermitReadRequests); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	err := s.store.View(ctx, func(tx hoist.Tx) error {
		for _, id := range ids {
			r, err := tx.Request(ctx, id)
			if err != nil {
				continue
			}
			need, err := needsPasskey(ctx, tx, r)
			if err != nil {
				return err
			}
			if need {
				out[id] = true
			}
		}
		return nil
	})
	return out, err
}

func encodeID(id []byte) string { return base64.RawURLEncoding.EncodeToString(id) }
