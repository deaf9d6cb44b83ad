// Package idptest runs a real OpenID Provider on loopback for tests: the
// provider library github.com/zitadel/oidc/v3's op package (discovery,
// authorization with PKCE, the token endpoint, signed ID tokens, published
// keys), over TLS, with an in-memory store of clients, users and their
// groups written here, and a sign-in form that takes a user name. Tokens
// are made by the library for each sign-in; nothing is canned.
package idptest

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/pem"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/oauth2"
)

// IdP is one running provider.
type IdP struct {
	// Issuer is the provider's issuer URL (https://127.0.0.1:PORT).
	Issuer string
	srv    *httptest.Server
	op     *op.Provider
	st     *storage
}

// New starts a provider for the test; it stops at the end of the test.
func New(t testing.TB) *IdP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	st := newStorage(key)
	mux := http.NewServeMux()
	srv := httptest.NewUnstartedServer(mux)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	var crypto [32]byte
	_, _ = rand.Read(crypto[:])
	provider, err := op.NewProvider(&op.Config{CryptoKey: crypto, CodeMethodS256: true, AuthMethodPost: true,
		SupportedScopes: []string{"openid", "profile", "email", "groups"}}, st, op.StaticIssuer(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	idp := &IdP{Issuer: srv.URL, srv: srv, op: provider, st: st}
	mux.HandleFunc("GET /login", idp.loginForm)
	mux.HandleFunc("POST /login", idp.login)
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.Handle("/", provider)
	return idp
}

// Client is an HTTP client that trusts the provider's certificate.
func (p *IdP) Client() *http.Client { return p.srv.Client() }

// CAFile writes the provider's certificate to a PEM file in dir and
// returns its path, for a server's --oidc-ca.
func (p *IdP) CAFile(t testing.TB, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "idp-ca.pem")
	data := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.srv.Certificate().Raw})
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// AddClient registers a confidential web client with its secret and the
// redirect URIs it may use.
func (p *IdP) AddClient(id, secret string, redirects ...string) {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	p.st.clients[id] = &client{id: id, secret: secret, redirects: redirects, lifetime: time.Hour}
}

// SetIDTokenLifetime sets how long the client's ID tokens last from their
// issue; a negative one makes them expired when they are made.
func (p *IdP) SetIDTokenLifetime(clientID string, d time.Duration) {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	p.st.clients[clientID].lifetime = d
}

// SetUser adds the user name, or changes their groups; their subject is
// "sub-" + name and their email name@example.test.
func (p *IdP) SetUser(name string, groups ...string) {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	u := p.st.users[name]
	if u == nil {
		u = &user{name: name}
		p.st.users[name] = u
	}
	u.groups = append([]string{}, groups...)
}

// SetUnixNames sets the user's unix_names claim.
func (p *IdP) SetUnixNames(name string, unixNames ...string) {
	p.st.mu.Lock()
	defer p.st.mu.Unlock()
	p.st.users[name].unixNames = append([]string{}, unixNames...)
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html><head><title>Test identity provider</title></head><body>
<h1>Test identity provider</h1>
<form method="post" action="/login">
<input type="hidden" name="id" value="{{.}}">
<label for="idp-user">User</label> <input id="idp-user" name="user" autofocus>
<button id="idp-submit" type="submit">Sign in</button>
</form></body></html>`))

func (p *IdP) loginForm(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_ = loginPage.Execute(w, r.URL.Query().Get("authRequestID"))
}

// login signs the named user in to the authorization request and sends
// the browser on to the provider's callback, which answers the client.
func (p *IdP) login(w http.ResponseWriter, r *http.Request) {
	id, name := r.PostFormValue("id"), r.PostFormValue("user")
	if err := p.st.authenticate(id, name); err != nil {
		http.Error(w, err.Error(), http.StatusForbidden)
		return
	}
	ctx := op.ContextWithIssuer(r.Context(), p.Issuer)
	http.Redirect(w, r, op.AuthCallbackURL(p.op)(ctx, id), http.StatusFound)
}

// SignIn goes through the provider's sign-in as user with an HTTP client
// (no browser), from the authorization address authURL, and returns the
// address the provider sends the browser back to (the client's redirect
// with code and state) without following it.
func (p *IdP) SignIn(t testing.TB, authURL, user string) string {
	t.Helper()
	c := *p.Client()
	var back string
	c.CheckRedirect = func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != p.srv.Listener.Addr().String() {
			back = req.URL.String()
			return http.ErrUseLastResponse
		}
		return nil
	}
	res, err := c.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	loginURL := res.Request.URL
	if loginURL.Path != "/login" {
		t.Fatalf("the provider did not show its sign-in form: %d at %s", res.StatusCode, loginURL)
	}
	res, err = c.PostForm(p.Issuer+"/login", map[string][]string{"id": {loginURL.Query().Get("authRequestID")}, "user": {user}})
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if back == "" {
		t.Fatalf("the provider did not send the browser back: %d at %s", res.StatusCode, res.Request.URL)
	}
	return back
}

// keyID names the provider's one signing key.
func keyID(k *rsa.PrivateKey) string {
	return base64.RawURLEncoding.EncodeToString(k.PublicKey.N.Bytes()[:9])
}

// IDToken signs user in as the client id (secret, redirect) with nonce,
// through the whole code flow with PKCE, and returns the raw ID token the
// provider issued: for tests that hand a server a token made for another
// client, sign-in or provider.
func (p *IdP) IDToken(t testing.TB, id, secret, redirect, user, nonce string) string {
	t.Helper()
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, p.Client())
	oc := oauth2.Config{ClientID: id, ClientSecret: secret, RedirectURL: redirect, Scopes: []string{"openid", "profile", "groups"},
		Endpoint: oauth2.Endpoint{AuthURL: p.Issuer + "/authorize", TokenURL: p.Issuer + "/oauth/token"}}
	verifier := oauth2.GenerateVerifier()
	back := p.SignIn(t, oc.AuthCodeURL("state-"+nonce, oauth2.SetAuthURLParam("nonce", nonce), oauth2.S256ChallengeOption(verifier)), user)
	u, err := url.Parse(back)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := oc.Exchange(ctx, u.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange the code at the provider: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		t.Fatal("the provider sent no ID token")
	}
	return raw
}
