package client

import (
	"context"

	"github.com/hoist-jit/hoist/wire"
)

// SSOStart begins a sign-in through the server's identity provider for a
// CLI listening at redirect with the PKCE challenge; it returns the
// address to open in a browser.
func (c *Client) SSOStart(ctx context.Context, redirect, challenge string) (string, error) {
	var ans wire.SSOStartAnswer
	err := c.do(ctx, "POST", "/api/v1/sso/start", nil, wire.SSOStartBody{Redirect: redirect, Challenge: challenge}, &ans)
	return ans.URL, err
}

// SSOToken turns the one-time code the browser brought to the CLI, with
// the verifier behind the challenge, into a login; the client uses its
// token from then on.
func (c *Client) SSOToken(ctx context.Context, code, verifier string) (wire.LoginAnswer, error) {
	var ans wire.LoginAnswer
	err := c.do(ctx, "POST", "/api/v1/sso/token", nil, wire.SSOTokenBody{Code: code, Verifier: verifier}, &ans)
	if err == nil {
		c.token = ans.Token
	}
	return ans, err
}
