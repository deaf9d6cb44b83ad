package client

import (
	"context"
	"net/url"

	"github.com/hoist-jit/hoist/wire"
)

func userPath(name string) string { return "/api/v1/users/" + url.PathEscape(name) }

// Users lists the console and API accounts.
func (c *Client) Users(ctx context.Context) ([]wire.UserView, error) {
	var ans struct {
		Users []wire.UserView `json:"users"`
	}
	err := c.do(ctx, "GET", "/api/v1/users", nil, nil, &ans)
	return ans.Users, err
}

// CreateUser makes an account; in needs a name, a role and a password.
func (c *Client) CreateUser(ctx context.Context, in wire.UserBody) (u wire.UserView, err error) {
	err = c.do(ctx, "POST", "/api/v1/users", nil, in, &u)
	return u, err
}

// UpdateUser changes what in sets of the account name; fields left empty
// (nil) stay as they are.
func (c *Client) UpdateUser(ctx context.Context, name string, in wire.UserBody) (u wire.UserView, err error) {
	err = c.do(ctx, "PATCH", userPath(name), nil, in, &u)
	return u, err
}

// DeleteUser removes the account name and ends its logins.
func (c *Client) DeleteUser(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", userPath(name), nil, nil, nil)
}
