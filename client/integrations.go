package client

import (
	"context"
	"net/url"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

func integrationPath(name string) string { return "/api/v1/integrations/" + url.PathEscape(name) }

// Integrations lists the integrations with where their delivery stands.
func (c *Client) Integrations(ctx context.Context) ([]wire.IntegrationView, error) {
	var ans struct {
		Integrations []wire.IntegrationView `json:"integrations"`
	}
	err := c.do(ctx, "GET", "/api/v1/integrations", nil, nil, &ans)
	return ans.Integrations, err
}

// AddIntegration stores a new integration.
func (c *Client) AddIntegration(ctx context.Context, in wire.IntegrationInput) (v wire.IntegrationView, err error) {
	err = c.do(ctx, "POST", "/api/v1/integrations", nil, in, &v)
	return v, err
}

// RemoveIntegration deletes the integration name (or id).
func (c *Client) RemoveIntegration(ctx context.Context, name string) error {
	return c.do(ctx, "DELETE", integrationPath(name), nil, nil, nil)
}

// TestIntegration sends a test event now; an error says why it did not get
// through.
func (c *Client) TestIntegration(ctx context.Context, name string) error {
	return c.do(ctx, "POST", integrationPath(name)+"/test", nil, nil, nil)
}

// DeadLetters lists the integration's deliveries that were given up on.
func (c *Client) DeadLetters(ctx context.Context, name string) ([]hoist.Delivery, error) {
	var ans struct {
		Deliveries []hoist.Delivery `json:"deliveries"`
	}
	err := c.do(ctx, "GET", integrationPath(name)+"/dead-letters", nil, nil, &ans)
	return ans.Deliveries, err
}

// RetryDeadLetters queues dead letters again (all when ids is empty) and
// returns how many.
func (c *Client) RetryDeadLetters(ctx context.Context, name string, ids []string) (int, error) {
	var ans struct {
		Retried int `json:"retried"`
	}
	err := c.do(ctx, "POST", integrationPath(name)+"/retry", nil, map[string]any{"ids": ids}, &ans)
	return ans.Retried, err
}
