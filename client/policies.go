package client

import (
	"context"
	"net/url"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

func policyPath(key string) string { return "/api/v1/policies/" + url.PathEscape(key) }
func groupPath(key string) string  { return "/api/v1/groups/" + url.PathEscape(key) }

// Policies lists every policy.
func (c *Client) Policies(ctx context.Context) ([]hoist.Policy, error) {
	var ans struct {
		Policies []hoist.Policy `json:"policies"`
	}
	err := c.do(ctx, "GET", "/api/v1/policies", nil, nil, &ans)
	return ans.Policies, err
}

// Policy returns the policy with id or exact name key.
func (c *Client) Policy(ctx context.Context, key string) (p hoist.Policy, err error) {
	err = c.do(ctx, "GET", policyPath(key), nil, nil, &p)
	return p, err
}

// CreatePolicy stores a new policy.
func (c *Client) CreatePolicy(ctx context.Context, in hoist.Policy) (p hoist.Policy, err error) {
	err = c.do(ctx, "POST", "/api/v1/policies", nil, in, &p)
	return p, err
}

// CreatePolicyLinted is CreatePolicy that also returns the policy linter's
// warnings about the stored policy.
func (c *Client) CreatePolicyLinted(ctx context.Context, in hoist.Policy) (p wire.PolicySaved, err error) {
	err = c.do(ctx, "POST", "/api/v1/policies", nil, in, &p)
	return p, err
}

// UpdatePolicyLinted is UpdatePolicy that also returns the policy linter's
// warnings about the stored policy.
func (c *Client) UpdatePolicyLinted(ctx context.Context, key string, in hoist.Policy) (p wire.PolicySaved, err error) {
	err = c.do(ctx, "PUT", policyPath(key), nil, in, &p)
	return p, err
}

// UpdatePolicy replaces the policy key; in.Version is the version edited.
func (c *Client) UpdatePolicy(ctx context.Context, key string, in hoist.Policy) (p hoist.Policy, err error) {
	err = c.do(ctx, "PUT", policyPath(key), nil, in, &p)
	return p, err
}

// SetPolicyActive activates or deactivates the policy key.
func (c *Client) SetPolicyActive(ctx context.Context, key string, active bool) (p hoist.Policy, err error) {
	verb := "/deactivate"
	if active {
		verb = "/activate"
	}
	err = c.do(ctx, "POST", policyPath(key)+verb, nil, nil, &p)
	return p, err
}

// DuplicatePolicy copies the policy key as name, for groups.
func (c *Client) DuplicatePolicy(ctx context.Context, key, name string, groups []string) (p hoist.Policy, err error) {
	err = c.do(ctx, "POST", policyPath(key)+"/duplicate", nil, wire.DuplicateBody{Name: name, Groups: groups}, &p)
	return p, err
}

// DeletePolicy removes the policy key.
func (c *Client) DeletePolicy(ctx context.Context, key string) error {
	return c.do(ctx, "DELETE", policyPath(key), nil, nil, nil)
}

// Groups lists every computer group.
func (c *Client) Groups(ctx context.Context) ([]hoist.ComputerGroup, error) {
	var ans struct {
		Groups []hoist.ComputerGroup `json:"groups"`
	}
	err := c.do(ctx, "GET", "/api/v1/groups", nil, nil, &ans)
	return ans.Groups, err
}

// Group returns the group with id or exact name key.
func (c *Client) Group(ctx context.Context, key string) (g hoist.ComputerGroup, err error) {
	err = c.do(ctx, "GET", groupPath(key), nil, nil, &g)
	return g, err
}

// CreateGroup stores a new computer group.
func (c *Client) CreateGroup(ctx context.Context, in hoist.ComputerGroup) (g hoist.ComputerGroup, err error) {
	err = c.do(ctx, "POST", "/api/v1/groups", nil, in, &g)
	return g, err
}

// UpdateGroup replaces the group key's settings.
func (c *Client) UpdateGroup(ctx context.Context, key string, in hoist.ComputerGroup) (g hoist.ComputerGroup, err error) {
	err = c.do(ctx, "PUT", groupPath(key), nil, in, &g)
	return g, err
}

// SetGroupConfig replaces the agent configuration of the group key.
func (c *Client) SetGroupConfig(ctx context.Context, key string, cfg hoist.AgentConfig) (g hoist.ComputerGroup, err error) {
	err = c.do(ctx, "PUT", groupPath(key)+"/config", nil, cfg, &g)
	return g, err
}

// DeleteGroup removes the group key.
func (c *Client) DeleteGroup(ctx context.Context, key string) error {
	return c.do(ctx, "DELETE", groupPath(key), nil, nil, nil)
}
