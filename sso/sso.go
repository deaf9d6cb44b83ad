// Package sso signs people in with the organisation's OpenID Connect
// identity provider: the authorization code flow with PKCE, a state and a
// nonce, and the ID token checked by github.com/coreos/go-oidc (signature
// from the provider's published keys, issuer, audience, expiry) before any
// claim is read. It speaks the protocol only; who the claims make an
// account, with which role, is package control's (Service.FinishSSO).
package sso

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/hoist-jit/hoist"
)

// Config is how the server is registered at the identity provider.
type Config struct {
	// Issuer is the provider's issuer URL, exactly as its ID tokens carry
	// it (discovery is at Issuer/.well-known/openid-configuration).
	Issuer       string
	ClientID     string
	ClientSecret string
	// RedirectURL is the server's /sso/callback as the provider knows it.
	RedirectURL string
	// Scopes asked for; "openid" is always among them.
	Scopes []string
	// GroupsClaim names the claim with the person's groups (default
	// "groups"); NameClaim the one with the account name (default
	// "preferred_username", then "email"); UnixNamesClaim, when set, one
	// with their Unix user names.
	GroupsClaim, NameClaim, UnixNamesClaim string
	// HTTPClient reaches the provider (a private CA, a proxy);
	// http.DefaultClient when nil.
	HTTPClient *http.Client
	// Clock is the time expiry is checked at; time.Now when nil.
	Clock func() time.Time
}

// Provider is a configured identity provider. Discovery happens at first
// use and is retried until it succeeds, so that the server starts while
// the provider is down.
type Provider struct {
	cfg Config

	mu       sync.Mutex
	oauth    *oauth2.Config
	verifier *oidc.IDTokenVerifier
}

// New checks cfg and returns its Provider; EInvalid names what is missing.
func New(cfg Config) (*Provider, error) {
	f := hoist.FieldErrors{}
	if !strings.HasPrefix(cfg.Issuer, "https://") && !strings.HasPrefix(cfg.Issuer, "http://127.0.0.1") && !strings.HasPrefix(cfg.Issuer, "http://localhost") {
		f["oidc-issuer"] = "an https:// URL"
	}
	if cfg.ClientID == "" {
		f["oidc-client-id"] = "required"
	}
	if cfg.ClientSecret == "" {
		f["oidc-client-secret-file"] = "required, and not empty"
	}
	if !strings.HasPrefix(cfg.RedirectURL, "https://") {
		f["oidc-redirect-url"] = "the https:// address of this server's /sso/callback"
	}
	if len(f) > 0 {
		return nil, &hoist.Error{Code: hoist.EInvalid, Message: "OpenID Connect sign-in is not fully configured", Fields: f}
	}
	if cfg.GroupsClaim == "" {
		cfg.GroupsClaim = "groups"
	}
	if cfg.NameClaim == "" {
		cfg.NameClaim = "preferred_username"
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = http.DefaultClient
	}
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if !slices.Contains(cfg.Scopes, oidc.ScopeOpenID) {
		cfg.Scopes = append([]string{oidc.ScopeOpenID}, cfg.Scopes...)
	}
	return &Provider{cfg: cfg}, nil
}

// Issuer returns the provider's issuer URL.
func (p *Provider) Issuer() string { return p.cfg.Issuer }

// discover fetches the provider's metadata once.
func (p *Provider) discover(ctx context.Context) (*oauth2.Config, *oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.oauth != nil {
		return p.oauth, p.verifier, nil
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, p.cfg.HTTPClient), 15*time.Second)
	defer cancel()
	op, err := oidc.NewProvider(ctx, p.cfg.Issuer)
	if err != nil {
		return nil, nil, hoist.WrapError(hoist.EUnavailable, "the identity provider cannot be reached; try again shortly", err)
	}
	p.oauth = &oauth2.Config{ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret, Endpoint: op.Endpoint(),
		RedirectURL: p.cfg.RedirectURL, Scopes: p.cfg.Scopes}
	// The key set fetches with the client the provider was found with,
	// for as long as the server runs.
	keysCtx := oidc.ClientContext(context.Background(), p.cfg.HTTPClient)
	p.verifier = op.VerifierContext(keysCtx, &oidc.Config{ClientID: p.cfg.ClientID, Now: p.cfg.Clock})
	return p.oauth, p.verifier, nil
}

// AuthURL returns the provider's address to send the browser to: the
// code flow with state, nonce and the S256 challenge of verifier.
func (p *Provider) AuthURL(ctx context.Context, state, nonce, verifier string) (string, error) {
	oc, _, err := p.discover(ctx)
	if err != nil {
		return "", err
	}
	return oc.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), nil
}

// Exchange trades the callback's code (with the PKCE verifier) for tokens
// at the provider and returns the claims of the ID token, checked by
// Verify against nonce.
func (p *Provider) Exchange(ctx context.Context, code, verifier, nonce string) (hoist.SSOClaims, error) {
	oc, _, err := p.discover(ctx)
	if err != nil {
		return hoist.SSOClaims{}, err
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, p.cfg.HTTPClient), 15*time.Second)
	defer cancel()
	tok, err := oc.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		return hoist.SSOClaims{}, hoist.WrapError(hoist.EUnauthorized, "the identity provider did not accept the sign-in; start again", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return hoist.SSOClaims{}, hoist.Errorf(hoist.EUnauthorized, "the identity provider sent no ID token")
	}
	return p.Verify(ctx, raw, nonce)
}

// Verify checks the ID token raw — signed by the provider's key, issued by
// it, for this client, not expired, and carrying nonce — and returns its
// claims. Any failure is EUnauthorized; the reason is in the wrapped
// error, for the log.
func (p *Provider) Verify(ctx context.Context, raw, nonce string) (hoist.SSOClaims, error) {
	refused := func(why string, err error) (hoist.SSOClaims, error) {
		return hoist.SSOClaims{}, hoist.WrapError(hoist.EUnauthorized, "the identity provider's answer was refused: "+why, err)
	}
	_, v, err := p.discover(ctx)
	if err != nil {
		return hoist.SSOClaims{}, err
	}
	idt, err := v.Verify(oidc.ClientContext(ctx, p.cfg.HTTPClient), raw)
	if err != nil {
		return refused("the ID token is not valid here", err)
	}
	if nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		return refused("the ID token belongs to another sign-in", nil)
	}
	var all map[string]any
	if err := idt.Claims(&all); err != nil {
		return refused("the ID token's claims cannot be read", err)
	}
	c := hoist.SSOClaims{Issuer: idt.Issuer, Subject: idt.Subject}
	if c.Name = stringClaim(all, p.cfg.NameClaim); c.Name == "" {
		c.Name = stringClaim(all, "email")
	}
	if c.Groups, err = listClaim(all, p.cfg.GroupsClaim); err != nil {
		return refused(err.Error(), nil)
	}
	if p.cfg.UnixNamesClaim != "" {
		if c.UnixNames, err = listClaim(all, p.cfg.UnixNamesClaim); err != nil {
			return refused(err.Error(), nil)
		}
	}
	if c.Subject == "" || c.Name == "" {
		return refused(fmt.Sprintf("the ID token names nobody (no sub, or no %s or email claim)", p.cfg.NameClaim), nil)
	}
	return c, nil
}

func stringClaim(all map[string]any, name string) string {
	s, _ := all[name].(string)
	return s
}

// maxListClaim bounds the groups (or names) read from one token.
const maxListClaim = 256

// listClaim reads a claim that is a list of strings, or one string; a
// missing claim is an empty list.
func listClaim(all map[string]any, name string) ([]string, error) {
	switch v := all[name].(type) {
	case nil:
		return nil, nil
	case string:
		return []string{v}, nil
	case []any:
		if len(v) > maxListClaim {
			return nil, fmt.Errorf("the %s claim lists more than %d values", name, maxListClaim)
		}
		out := make([]string, 0, len(v))
		for _, item := range v {
			s, ok := item.(string)
			if !ok {
				return nil, fmt.Errorf("the %s claim is not a list of strings", name)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("the %s claim is not a list of strings", name)
}
