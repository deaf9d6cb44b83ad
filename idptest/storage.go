package idptest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// storage is the provider's state: clients, users, authorization requests
// in flight and the access tokens issued, in memory.
type storage struct {
	mu       sync.Mutex
	key      *rsa.PrivateKey
	clients  map[string]*client
	users    map[string]*user
	requests map[string]*authRequest
	codes    map[string]string // code → request id
	tokens   map[string]string // access token id → subject
}

var _ op.Storage = (*storage)(nil)

func newStorage(key *rsa.PrivateKey) *storage {
	return &storage{key: key, clients: map[string]*client{}, users: map[string]*user{},
		requests: map[string]*authRequest{}, codes: map[string]string{}, tokens: map[string]string{}}
}

type user struct {
	name      string
	groups    []string
	unixNames []string
}

func (u *user) subject() string { return "sub-" + u.name }

func randomID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

var errNotFound = errors.New("not found")

// authenticate marks the request id signed in as the user name.
func (s *storage) authenticate(id, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, u := s.requests[id], s.users[name]
	if req == nil {
		return errors.New("no such authorization request")
	}
	if u == nil {
		return errors.New("no such user")
	}
	req.subject, req.authTime, req.done = u.subject(), time.Now(), true
	return nil
}

func (s *storage) userBySubject(sub string) *user {
	for _, u := range s.users {
		if u.subject() == sub {
			return u
		}
	}
	return nil
}

func (s *storage) CreateAuthRequest(ctx context.Context, req *oidc.AuthRequest, userID string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := &authRequest{id: randomID(), req: *req}
	s.requests[r.id] = r
	return r.snapshot(), nil
}

func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.requests[id]
	if r == nil {
		return nil, errNotFound
	}
	return r.snapshot(), nil
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.requests[s.codes[code]]
	if r == nil {
		return nil, errNotFound
	}
	return r.snapshot(), nil
}

func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.requests[id] == nil {
		return errNotFound
	}
	s.codes[code] = id
	return nil
}

// DeleteAuthRequest forgets the request and its code, so that a code is
// exchanged once.
func (s *storage) DeleteAuthRequest(ctx context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.requests, id)
	for c, rid := range s.codes {
		if rid == id {
			delete(s.codes, c)
		}
	}
	return nil
}

func (s *storage) CreateAccessToken(ctx context.Context, req op.TokenRequest) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	id := randomID()
	s.tokens[id] = req.GetSubject()
	return id, time.Now().Add(5 * time.Minute), nil
}

func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, req op.TokenRequest, current string) (string, string, time.Time, error) {
	return "", "", time.Time{}, errors.New("this provider issues no refresh tokens")
}

func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	return nil, op.ErrInvalidRefreshToken
}

func (s *storage) TerminateSession(ctx context.Context, userID, clientID string) error { return nil }

func (s *storage) RevokeToken(ctx context.Context, token, userID, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.tokens, token)
	return nil
}

func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	return "", "", op.ErrInvalidRefreshToken
}

type signingKey struct{ k *rsa.PrivateKey }

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k signingKey) Key() any                                    { return k.k }
func (k signingKey) ID() string                                  { return keyID(k.k) }

type publicKey struct{ k *rsa.PrivateKey }

func (k publicKey) ID() string                         { return keyID(k.k) }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.RS256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return &k.k.PublicKey }

func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	return signingKey{s.key}, nil
}
func (s *storage) SignatureAlgorithms(ctx context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.RS256}, nil
}
func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{s.key}}, nil
}

func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.clients[id]
	if c == nil {
		return nil, errNotFound
	}
	cp := *c
	return &cp, nil
}

func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.clients[id]; c == nil || c.secret != secret {
		return errors.New("wrong client or secret")
	}
	return nil
}

// SetUserinfoFromScopes is left empty, as the library asks: the claims
// come from SetUserinfoFromRequest.
func (s *storage) SetUserinfoFromScopes(ctx context.Context, info *oidc.UserInfo, userID, clientID string, scopes []string) error {
	return nil
}

// SetUserinfoFromRequest puts the user's name, email, groups and Unix
// names into their ID token, as they are at the moment it is made.
func (s *storage) SetUserinfoFromRequest(ctx context.Context, info *oidc.UserInfo, req op.IDTokenRequest, scopes []string) error {
	return s.fillUserinfo(info, req.GetSubject())
}

func (s *storage) fillUserinfo(info *oidc.UserInfo, sub string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userBySubject(sub)
	if u == nil {
		return errNotFound
	}
	info.Subject, info.PreferredUsername = sub, u.name
	info.Email, info.EmailVerified = u.name+"@example.test", true
	info.AppendClaims("groups", append([]string{}, u.groups...))
	if u.unixNames != nil {
		info.AppendClaims("unix_names", append([]string{}, u.unixNames...))
	}
	return nil
}

func (s *storage) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, origin string) error {
	return s.fillUserinfo(info, subject)
}

func (s *storage) SetIntrospectionFromToken(ctx context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	return errors.New("introspection is not offered")
}

func (s *storage) GetPrivateClaimsFromScopes(ctx context.Context, userID, clientID string, scopes []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(ctx context.Context, keyID, clientID string) (*jose.JSONWebKey, error) {
	return nil, errors.New("JWT profile clients are not offered")
}

func (s *storage) ValidateJWTProfileScopes(ctx context.Context, userID string, scopes []string) ([]string, error) {
	return nil, errors.New("JWT profile clients are not offered")
}

func (s *storage) Health(ctx context.Context) error { return nil }

// authRequest is one authorization request: the client's parameters and,
// once the user signed in, who and when.
type authRequest struct {
	id       string
	req      oidc.AuthRequest
	subject  string
	authTime time.Time
	done     bool
}

// snapshot is a copy the library may hold while the storage changes.
func (r *authRequest) snapshot() *authRequest { cp := *r; return &cp }

func (r *authRequest) GetID() string          { return r.id }
func (r *authRequest) GetACR() string         { return "" }
func (r *authRequest) GetAMR() []string       { return []string{"pwd"} }
func (r *authRequest) GetAudience() []string  { return []string{r.req.ClientID} }
func (r *authRequest) GetAuthTime() time.Time { return r.authTime }
func (r *authRequest) GetClientID() string    { return r.req.ClientID }
func (r *authRequest) GetCodeChallenge() *oidc.CodeChallenge {
	if r.req.CodeChallenge == "" {
		return nil
	}
	return &oidc.CodeChallenge{Challenge: r.req.CodeChallenge, Method: r.req.CodeChallengeMethod}
}
func (r *authRequest) GetNonce() string                   { return r.req.Nonce }
func (r *authRequest) GetRedirectURI() string             { return r.req.RedirectURI }
func (r *authRequest) GetResponseType() oidc.ResponseType { return r.req.ResponseType }
func (r *authRequest) GetResponseMode() oidc.ResponseMode { return r.req.ResponseMode }
func (r *authRequest) GetScopes() []string                { return r.req.Scopes }
func (r *authRequest) GetState() string                   { return r.req.State }
func (r *authRequest) GetSubject() string                 { return r.subject }
func (r *authRequest) Done() bool                         { return r.done }

// client is a confidential web client.
type client struct {
	id, secret string
	redirects  []string
	lifetime   time.Duration
}

func (c *client) GetID() string                       { return c.id }
func (c *client) RedirectURIs() []string              { return c.redirects }
func (c *client) PostLogoutRedirectURIs() []string    { return nil }
func (c *client) ApplicationType() op.ApplicationType { return op.ApplicationTypeWeb }
func (c *client) AuthMethod() oidc.AuthMethod         { return oidc.AuthMethodBasic }
func (c *client) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}
func (c *client) GrantTypes() []oidc.GrantType         { return []oidc.GrantType{oidc.GrantTypeCode} }
func (c *client) LoginURL(id string) string            { return "/login?authRequestID=" + id }
func (c *client) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeBearer }
func (c *client) IDTokenLifetime() time.Duration       { return c.lifetime }
func (c *client) DevMode() bool                        { return false }
func (c *client) IsScopeAllowed(scope string) bool     { return scope == "groups" }
func (c *client) IDTokenUserinfoClaimsAssertion() bool { return true }
func (c *client) ClockSkew() time.Duration             { return 0 }
func (c *client) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
func (c *client) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}
