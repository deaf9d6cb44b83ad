package server

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/sso"
)

// OIDC configures sign-in through an OpenID Connect provider (the
// serve --oidc-* flags); it is off while Issuer is empty.
type OIDC struct {
	// Issuer is the provider's issuer URL (--oidc-issuer).
	Issuer string
	// ClientID and ClientSecretFile are this server's registration at the
	// provider; the file holds the secret (its trailing newline dropped).
	ClientID, ClientSecretFile string
	// RedirectURL is this server's callback as registered at the provider;
	// default PublicURL + "/sso/callback".
	RedirectURL string
	// Scopes asked for (openid is always added).
	Scopes []string
	// GroupsClaim, UsernameClaim and UnixNamesClaim name the ID token's
	// claims of the person's groups, account name and Unix names (none
	// read when empty).
	GroupsClaim, UsernameClaim, UnixNamesClaim string
	// CAFile is a PEM file of the CA that signs the provider's HTTPS
	// certificate, when the system's roots do not.
	CAFile string
	// AdminGroups, ApproverGroups and AuditorGroups are the provider's
	// groups that give each role.
	AdminGroups, ApproverGroups, AuditorGroups []string
	// NoLocalLogin turns password sign-in off (--local-login=false) for
	// every account but BreakGlass (--break-glass-admin).
	NoLocalLogin bool
	BreakGlass   string
	// PasskeyOrigin is the console's origin as browsers see it
	// (--passkey-origin), for passkeys; default the public URL.
	PasskeyOrigin string
}

// ssoConfig builds the control service's sign-in through the provider;
// a zero SSO when none is configured. EInvalid names a missing or unusable
// setting.
func (o OIDC) ssoConfig(publicURL string, clock func() time.Time) (control.SSO, error) {
	if o.Issuer == "" {
		if o.NoLocalLogin {
			return control.SSO{}, hoist.Errorf(hoist.EInvalid, "--local-login=false needs --oidc-issuer: nobody but %s could sign in", o.BreakGlass)
		}
		return control.SSO{}, nil
	}
	secret, err := readSecretFile(o.ClientSecretFile)
	if err != nil {
		return control.SSO{}, err
	}
	client, err := providerClient(o.CAFile)
	if err != nil {
		return control.SSO{}, err
	}
	redirect := o.RedirectURL
	if redirect == "" {
		redirect = strings.TrimSuffix(publicURL, "/") + "/sso/callback"
	}
	p, err := sso.New(sso.Config{Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: secret, RedirectURL: redirect, Scopes: o.Scopes,
		GroupsClaim: o.GroupsClaim, NameClaim: o.UsernameClaim, UnixNamesClaim: o.UnixNamesClaim, HTTPClient: client, Clock: clock})
	if err != nil {
		return control.SSO{}, err
	}
	if len(o.AdminGroups)+len(o.ApproverGroups)+len(o.AuditorGroups) == 0 {
		return control.SSO{}, hoist.Errorf(hoist.EInvalid, "--oidc-issuer needs at least one of --oidc-admin-group, --oidc-approver-group, --oidc-auditor-group: without one nobody gets a role")
	}
	if o.NoLocalLogin && o.BreakGlass == "" {
		return control.SSO{}, hoist.Errorf(hoist.EInvalid, "--local-login=false needs --break-glass-admin: the account that still signs in with a password")
	}
	return control.SSO{Provider: p, NoLocalLogin: o.NoLocalLogin, BreakGlass: o.BreakGlass, RoleGroups: map[hoist.Role][]string{
		hoist.RoleAdmin: o.AdminGroups, hoist.RoleApprover: o.ApproverGroups, hoist.RoleAuditor: o.AuditorGroups}}, nil
}

// readSecretFile reads the client secret, a small file.
func readSecretFile(path string) (string, error) {
	if path == "" {
		return "", hoist.Errorf(hoist.EInvalid, "--oidc-issuer needs --oidc-client-secret-file")
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", hoist.WrapError(hoist.EInvalid, "cannot read --oidc-client-secret-file: "+err.Error(), err)
	}
	if fi.Size() > 4096 {
		return "", hoist.Errorf(hoist.EInvalid, "--oidc-client-secret-file %s is larger than 4096 bytes", path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", hoist.WrapError(hoist.EInvalid, "cannot read --oidc-client-secret-file: "+err.Error(), err)
	}
	return strings.TrimRight(string(data), "\r\n"), nil
}

// providerClient reaches the provider, trusting caFile's certificates as
// well as the system's when given.
func providerClient(caFile string) (*http.Client, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, hoist.WrapError(hoist.EInvalid, "cannot read --oidc-ca: "+err.Error(), err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, hoist.Errorf(hoist.EInvalid, "--oidc-ca %s holds no PEM certificate", caFile)
		}
		t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &http.Client{Transport: t, Timeout: 30 * time.Second}, nil
}

// passkeyConfig is the relying party of passkeys: the console's origin
// as browsers reach it (origin, else the server's public URL). Browsers
// refuse an IP address as the relying party, so a server known only by
// its address offers no passkeys.
func passkeyConfig(origin, publicURL string) (control.PasskeyConfig, error) {
	if origin == "" {
		origin = publicURL
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme != "https" || u.Host == "" || u.Path != "" && u.Path != "/" {
		return control.PasskeyConfig{}, hoist.Errorf(hoist.EInvalid, "--passkey-origin must be https://HOST[:PORT], the console's address in the browser")
	}
	host := u.Hostname()
	if net.ParseIP(host) != nil {
		return control.PasskeyConfig{}, nil
	}
	return control.PasskeyConfig{RPID: host, Origins: []string{u.Scheme + "://" + u.Host}}, nil
}
