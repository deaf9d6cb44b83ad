package client

import (
	"context"
	"time"

	"github.com/hoist-jit/hoist/wire"
)

// DecodeOffline says what an offline challenge decodes to; agent (an id
// or name, may be empty) picks the machine when several fit.
func (c *Client) DecodeOffline(ctx context.Context, challenge, agent string) (wire.OfflineChallengeView, error) {
	var out wire.OfflineChallengeView
	err := c.do(ctx, "POST", "/api/v1/offline/decode", nil, wire.OfflineBody{Challenge: challenge, Agent: agent}, &out)
	return out, err
}

// ApproveOffline asks for the response approving challenge For d, or One
// Time when d is zero.
func (c *Client) ApproveOffline(ctx context.Context, challenge, agent string, d time.Duration) (wire.OfflineResponseView, error) {
	body := wire.OfflineBody{Challenge: challenge, Agent: agent, Once: d == 0}
	if d > 0 {
		body.Duration = d.String()
	}
	var out wire.OfflineResponseView
	err := c.do(ctx, "POST", "/api/v1/offline/approve", nil, body, &out)
	return out, err
}
