package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

// SessionPage returns session id (or the session of request id) with its
// page: what ran in it and what it changed, when the caller may see them.
func (c *Client) SessionPage(ctx context.Context, id string) (wire.SessionPage, error) {
	var ans wire.SessionPage
	err := c.do(ctx, "GET", "/api/v1/sessions/"+url.PathEscape(id), nil, nil, &ans)
	return ans, err
}

// SearchCommands returns the programs run in sessions whose name or
// arguments contain match, newest first.
func (c *Client) SearchCommands(ctx context.Context, match string, limit int) ([]hoist.SessionCommand, error) {
	var ans struct {
		Commands []hoist.SessionCommand `json:"commands"`
	}
	q := url.Values{"q": {match}}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	err := c.do(ctx, "GET", "/api/v1/commands", q, nil, &ans)
	return ans.Commands, err
}
