package sso_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/idptest"
	"github.com/hoist-jit/hoist/sso"
)

const (
	redirect = "https://hoist.example.test/sso/callback"
	secret   = "s3cret-of-hoist"
)

var ctx = context.Background()

func newProvider(t *testing.T, idp *idptest.IdP) *sso.Provider {
	t.Helper()
	p, err := sso.New(sso.Config{Issuer: idp.Issuer, ClientID: "hoist", ClientSecret: secret, RedirectURL: redirect,
		Scopes: []string{"profile", "email", "groups"}, UnixNamesClaim: "unix_names", HTTPClient: idp.Client()})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// signIn runs the code flow through the provider as user and returns what
// the callback's code is exchanged for.
func signIn(t *testing.T, idp *idptest.IdP, p *sso.Provider, user string) (hoist.SSOClaims, error) {
	t.Helper()
	verifier, nonce, state := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
	auth, err := p.AuthURL(ctx, state, nonce, verifier)
	if err != nil {
		t.Fatal(err)
	}
	back, err := url.Parse(idp.SignIn(t, auth, user))
	if err != nil {
		t.Fatal(err)
	}
	if got := back.Query().Get("state"); got != state {
		t.Fatalf("the provider sent back state %q, want %q", got, state)
	}
	return p.Exchange(ctx, back.Query().Get("code"), verifier, nonce)
}

func TestSignInThroughARealProvider(t *testing.T) {
	idp := idptest.New(t)
	idp.AddClient("hoist", secret, redirect)
	idp.SetUser("ana", "hoist-approvers", "staff")
	idp.SetUnixNames("ana", "ana", "ana-adm")
	p := newProvider(t, idp)
	c, err := signIn(t, idp, p, "ana")
	if err != nil {
		t.Fatal(err)
	}
	want := hoist.SSOClaims{Issuer: idp.Issuer, Subject: "sub-ana", Name: "ana", Groups: []string{"hoist-approvers", "staff"}, UnixNames: []string{"ana", "ana-adm"}}
	if c.Issuer != want.Issuer || c.Subject != want.Subject || c.Name != want.Name || !slices.Equal(c.Groups, want.Groups) || !slices.Equal(c.UnixNames, want.UnixNames) {
		t.Fatalf("claims = %+v, want %+v", c, want)
	}
	// The groups are read at each sign-in.
	idp.SetUser("ana", "staff")
	if c, err = signIn(t, idp, p, "ana"); err != nil || !slices.Equal(c.Groups, []string{"staff"}) {
		t.Fatalf("after a change of groups at the provider: %+v, %v", c, err)
	}
}

// TestRefusedTokens: every ID token that is not this provider's answer to
// this sign-in for this client is refused, each made by a real provider.
func TestRefusedTokens(t *testing.T) {
	idp := idptest.New(t)
	idp.AddClient("hoist", secret, redirect)
	idp.AddClient("other-app", "other-secret", "https://other.example.test/cb")
	idp.SetUser("ana", "hoist-admins")
	p := newProvider(t, idp)

	elsewhere := idptest.New(t)
	elsewhere.AddClient("hoist", secret, redirect) // same client id, another provider
	elsewhere.SetUser("ana", "hoist-admins")

	for _, tc := range []struct {
		name, token, nonce string
	}{
		{"another issuer", elsewhere.IDToken(t, "hoist", secret, redirect, "ana", "n-1"), "n-1"},
		{"wrong audience", idp.IDToken(t, "other-app", "other-secret", "https://other.example.test/cb", "ana", "n-2"), "n-2"},
		{"replayed nonce", idp.IDToken(t, "hoist", secret, redirect, "ana", "n-earlier"), "n-this-sign-in"},
		{"no nonce expected", idp.IDToken(t, "hoist", secret, redirect, "ana", "n-3"), ""},
		{"tampered", tamper(idp.IDToken(t, "hoist", secret, redirect, "ana", "n-4")), "n-4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := p.Verify(ctx, tc.token, tc.nonce)
			if hoist.ErrorCode(err) != hoist.EUnauthorized {
				t.Fatalf("Verify: %v, want %s", err, hoist.EUnauthorized)
			}
		})
	}
	// The same token, with its own nonce, is this client's and passes:
	// the refusals above are for what differs.
	if _, err := p.Verify(ctx, idp.IDToken(t, "hoist", secret, redirect, "ana", "n-5"), "n-5"); err != nil {
		t.Fatalf("a good token refused: %v", err)
	}

	t.Run("expired", func(t *testing.T) {
		idp.SetIDTokenLifetime("hoist", -time.Minute)
		defer idp.SetIDTokenLifetime("hoist", time.Hour)
		if _, err := signIn(t, idp, p, "ana"); hoist.ErrorCode(err) != hoist.EUnauthorized {
			t.Fatalf("an expired ID token: %v, want %s", err, hoist.EUnauthorized)
		}
	})
	t.Run("code spent", func(t *testing.T) {
		verifier, nonce := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
		auth, _ := p.AuthURL(ctx, "st", nonce, verifier)
		back, _ := url.Parse(idp.SignIn(t, auth, "ana"))
		code := back.Query().Get("code")
		if _, err := p.Exchange(ctx, code, verifier, nonce); err != nil {
			t.Fatal(err)
		}
		if _, err := p.Exchange(ctx, code, verifier, nonce); hoist.ErrorCode(err) != hoist.EUnauthorized {
			t.Fatalf("a code exchanged twice: %v, want %s", err, hoist.EUnauthorized)
		}
	})
	t.Run("wrong PKCE verifier", func(t *testing.T) {
		verifier, nonce := oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
		auth, _ := p.AuthURL(ctx, "st", nonce, verifier)
		back, _ := url.Parse(idp.SignIn(t, auth, "ana"))
		if _, err := p.Exchange(ctx, back.Query().Get("code"), oauth2.GenerateVerifier(), nonce); hoist.ErrorCode(err) != hoist.EUnauthorized {
			t.Fatalf("a stolen code without its verifier: %v, want %s", err, hoist.EUnauthorized)
		}
	})
}

// tamper changes one character of the token's payload.
func tamper(raw string) string {
	b := []byte(raw)
	for i := range b {
		if b[i] == '.' {
			j := i + 5
			if b[j] == 'A' {
				b[j] = 'B'
			} else {
				b[j] = 'A'
			}
			break
		}
	}
	return string(b)
}

func TestConfigurationIsChecked(t *testing.T) {
	_, err := sso.New(sso.Config{Issuer: "http://idp.example", RedirectURL: "http://x"})
	var herr *hoist.Error
	if hoist.ErrorCode(err) != hoist.EInvalid || !errors.As(err, &herr) {
		t.Fatalf("an incomplete configuration: %v", err)
	}
	for _, f := range []string{"oidc-issuer", "oidc-client-id", "oidc-client-secret-file", "oidc-redirect-url"} {
		if herr.Fields[f] == "" {
			t.Errorf("the refusal does not name %s: %v", f, herr.Fields)
		}
	}
}
