package hoist

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// Grant is the server's signed word that one user may use JIT mode on one
// agent for one window. The agent acts on nothing else: a grant for another
// agent or user, outside its window, or with a bad signature is refused.
type Grant struct {
	V         int       `json:"v"`
	Agent     string    `json:"agent"`
	User      string    `json:"user"`
	Request   string    `json:"request"`
	Session   string    `json:"session"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	Scope     string    `json:"scope"` // "jit": everything, per the JIT Mode policy
}

// grantClockSkew is how far ahead of the agent's clock a grant's start may
// be: clocks of server and machine are never quite the same.
const grantClockSkew = 5 * time.Minute

// GrantScopeJIT is the scope of a JIT session grant.
const GrantScopeJIT = "jit"

// SignGrant returns g signed with key, as payload.signature in base64url.
func SignGrant(key ed25519.PrivateKey, g Grant) (string, error) {
	g.V = 1
	payload, err := json.Marshal(g)
	if err != nil {
		return "", WrapError(EInternal, "cannot encode the grant", err)
	}
	sig := ed25519.Sign(key, payload)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(payload) + "." + enc.EncodeToString(sig), nil
}

// VerifyGrant checks a signed grant against the pinned key and returns it
// when it is for agent and its window has not ended at now. It never
// returns a grant whose signature does not verify.
func VerifyGrant(key ed25519.PublicKey, signed, agent string, now time.Time) (Grant, error) {
	bad := Errorf(EForbidden, "the grant is not valid")
	p, s, ok := strings.Cut(signed, ".")
	if !ok || len(signed) > 8192 || len(key) != ed25519.PublicKeySize {
		return Grant{}, bad
	}
	enc := base64.RawURLEncoding
	payload, err1 := enc.DecodeString(p)
	sig, err2 := enc.DecodeString(s)
	if err1 != nil || err2 != nil || !ed25519.Verify(key, payload, sig) {
		return Grant{}, bad
	}
	var g Grant
	if err := json.Unmarshal(payload, &g); err != nil || g.V != 1 || g.Scope != GrantScopeJIT {
		return Grant{}, bad
	}
	switch {
	case g.Agent != agent:
		return Grant{}, Errorf(EForbidden, "the grant is for another agent")
	case g.User == "" || !ValidID(SessionIDPrefix, g.Session):
		return Grant{}, bad
	case !now.Before(g.NotAfter):
		return Grant{}, Errorf(EForbidden, "the grant has expired")
	case now.Add(grantClockSkew).Before(g.NotBefore):
		return Grant{}, Errorf(EForbidden, "the grant is not valid yet")
	}
	return g, nil
}
