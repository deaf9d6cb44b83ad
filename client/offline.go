package client

import (
	"context"
	"net/url"
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

// IssueEmergencyCodes issues count codes (0: the server's default) for
// the agent or the group, each granting window (0: the default).
func (c *Client) IssueEmergencyCodes(ctx context.Context, agent, group string, count int, window time.Duration) ([]wire.EmergencyCodeView, error) {
	body := wire.EmergencyIssueBody{Agent: agent, Group: group, Count: count}
	if window > 0 {
		body.Window = window.String()
	}
	var out wire.EmergencyCodesAnswer
	err := c.do(ctx, "POST", "/api/v1/emergency-codes", nil, body, &out)
	return out.Codes, err
}

// EmergencyCodes lists the emergency codes, without their values.
func (c *Client) EmergencyCodes(ctx context.Context) ([]wire.EmergencyCodeView, error) {
	var out wire.EmergencyCodesAnswer
	err := c.do(ctx, "GET", "/api/v1/emergency-codes", nil, nil, &out)
	return out.Codes, err
}

// RevokeEmergencyCode revokes the code with id.
func (c *Client) RevokeEmergencyCode(ctx context.Context, id string) (wire.EmergencyCodeView, error) {
	var out wire.EmergencyCodeView
	err := c.do(ctx, "POST", "/api/v1/emergency-codes/"+url.PathEscape(id)+"/revoke", nil, nil, &out)
	return out, err
}
