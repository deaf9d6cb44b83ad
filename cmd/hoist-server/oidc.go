package main

import (
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/hoist-jit/hoist/server"
)

// addOIDCFlags gives serve the flags of sign-in through an OpenID Connect
// provider and of password sign-in (see docs/sso.md).
func addOIDCFlags(cmd *cobra.Command, o *server.OIDC) {
	f := cmd.Flags()
	f.StringVar(&o.Issuer, "oidc-issuer", "", "OpenID Connect provider's issuer URL: sign in to the console and CLI through it")
	f.StringVar(&o.ClientID, "oidc-client-id", "", "this server's client id at the provider")
	f.StringVar(&o.ClientSecretFile, "oidc-client-secret-file", "", "file with this server's client secret at the provider")
	f.StringVar(&o.RedirectURL, "oidc-redirect-url", "", "this server's callback as registered at the provider (default PUBLIC-URL/sso/callback)")
	f.StringSliceVar(&o.Scopes, "oidc-scopes", []string{"openid", "profile", "email", "groups"}, "scopes to ask the provider for")
	f.StringVar(&o.GroupsClaim, "oidc-groups-claim", "groups", "ID token claim with the person's groups")
	f.StringVar(&o.UsernameClaim, "oidc-username-claim", "preferred_username", "ID token claim with the account name (email when it is missing)")
	f.StringVar(&o.UnixNamesClaim, "oidc-unix-names-claim", "", "ID token claim with the person's Unix user names, kept as the account's identities (none when empty)")
	f.StringVar(&o.CAFile, "oidc-ca", "", "PEM file of the CA of the provider's HTTPS certificate, when the system does not trust it")
	f.StringArrayVar(&o.AdminGroups, "oidc-admin-group", nil, "provider group whose members are admins (repeatable)")
	f.StringArrayVar(&o.ApproverGroups, "oidc-approver-group", nil, "provider group whose members are approvers (repeatable)")
	f.StringArrayVar(&o.AuditorGroups, "oidc-auditor-group", nil, "provider group whose members are auditors (repeatable)")
	f.Var(newNotBool(&o.NoLocalLogin), "local-login", "allow password sign-in for every account; false: only for --break-glass-admin")
	f.StringVar(&o.BreakGlass, "break-glass-admin", "admin", "account that signs in with a password when --local-login=false")
	f.Lookup("local-login").NoOptDefVal = "true"
	f.StringVar(&o.PasskeyOrigin, "passkey-origin", "", "the console's https://HOST[:PORT] as browsers open it, for passkeys (default the server's address; a bare IP address offers none)")
}

// notBool is a boolean flag stored negated, so that the zero value of the
// configuration keeps password sign-in on.
type notBool struct{ p *bool }

func newNotBool(p *bool) pflag.Value { return notBool{p} }

func (b notBool) String() string {
	if b.p == nil {
		return "true"
	}
	return map[bool]string{false: "true", true: "false"}[*b.p]
}

func (b notBool) Set(s string) error {
	v, err := parseBool(s)
	if err != nil {
		return err
	}
	*b.p = !v
	return nil
}

func (b notBool) Type() string { return "bool" }

func parseBool(s string) (bool, error) { return strconv.ParseBool(s) }
