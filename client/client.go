// Package client is the Go client of the control server's admin API, used by
// "hoist admin" and by end-to-end tests.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/wire"
)

// Client talks to one hoist-server.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
}

// New returns a client for the server at baseURL (https://host:port) that
// trusts the CA certificates in caPEM, or the system's roots when caPEM is
// empty, and authenticates with token when set.
func New(baseURL string, caPEM []byte, token string) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, hoist.Errorf(hoist.EInvalid, "server URL %q must look like https://host:port", baseURL)
	}
	if u.Path != "" && u.Path != "/" {
		return nil, hoist.Errorf(hoist.EInvalid, "server URL %q must not have a path", baseURL)
	}
	// Passwords and tokens never cross a network in clear text; plain HTTP
	// is for a server on this machine only.
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return nil, hoist.Errorf(hoist.EInvalid, "server URL %q must use https:// (http is only for localhost)", baseURL)
	}
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(caPEM) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return nil, hoist.Errorf(hoist.EInvalid, "the CA file holds no PEM certificate")
		}
		tlsConfig.RootCAs = pool
	}
	return &Client{
		base:  &url.URL{Scheme: u.Scheme, Host: u.Host},
		token: token,
		http: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{TLSClientConfig: tlsConfig, ForceAttemptHTTP2: true, Proxy: http.ProxyFromEnvironment},
		},
	}, nil
}

// SetToken sets the bearer token of later calls.
func (c *Client) SetToken(token string) { c.token = token }

// do sends a JSON request and decodes a JSON answer into out. An error answer
// becomes a *hoist.Error with the server's code and message.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return hoist.WrapError(hoist.EInternal, "cannot encode the request", err)
		}
		body = bytes.NewReader(b)
	}
	u := *c.base
	u.Path = path
	if p, err := url.PathUnescape(path); err == nil && p != path {
		u.Path, u.RawPath = p, path // a name in the path, escaped by the caller
	}
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return hoist.WrapError(hoist.EInvalid, "cannot make the request", err)
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return hoist.WrapError(hoist.EUnavailable, "cannot reach the server at "+c.base.String()+": "+shortNetError(err), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return hoist.WrapError(hoist.EUnavailable, "the server's answer was cut off", err)
	}
	if resp.StatusCode >= 300 {
		var eb wire.ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			return &hoist.Error{Code: eb.Error.Code, Message: eb.Error.Message, Fields: eb.Error.Fields}
		}
		return hoist.Errorf(hoist.EUnavailable, "the server answered %s", resp.Status)
	}
	if out == nil || resp.StatusCode == http.StatusNoContent {
		return nil
	}
	if w, ok := out.(io.Writer); ok {
		_, err := w.Write(data)
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return hoist.WrapError(hoist.EUnavailable, "the server's answer is not the JSON expected", err)
	}
	return nil
}

// shortNetError keeps the useful part of a transport error ("connection
// refused", "x509: certificate signed by unknown authority") without the
// method and URL that the caller already knows.
func shortNetError(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// Login exchanges a name and password for a token, and keeps the token.
func (c *Client) Login(ctx context.Context, user, password string) (wire.LoginAnswer, error) {
	return c.LoginWithDevice(ctx, user, password, "")
}

// LoginWithDevice is Login sending the device token of the last sign-in
// (empty for none); the answer's Device is the one to keep for the next.
func (c *Client) LoginWithDevice(ctx context.Context, user, password, device string) (wire.LoginAnswer, error) {
	var ans wire.LoginAnswer
	err := c.do(ctx, "POST", "/api/v1/login", nil, wire.LoginBody{User: user, Password: password, Device: device}, &ans)
	if err == nil {
		c.token = ans.Token
	}
	return ans, err
}

// Logout revokes the token.
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, "POST", "/api/v1/logout", nil, nil, nil)
}

// RequestQuery filters Requests.
type RequestQuery struct {
	State, User, Host string
	Limit             int
}

// Requests lists requests, newest first.
func (c *Client) Requests(ctx context.Context, q RequestQuery) ([]wire.RequestView, error) {
	var ans struct {
		Requests []wire.RequestView `json:"requests"`
	}
	err := c.do(ctx, "GET", "/api/v1/requests", listQuery(q.State, q.User, q.Host, q.Limit), nil, &ans)
	return ans.Requests, err
}

// Request returns one request.
func (c *Client) Request(ctx context.Context, id string) (wire.RequestView, error) {
	var ans wire.RequestView
	err := c.do(ctx, "GET", "/api/v1/requests/"+url.PathEscape(id), nil, nil, &ans)
	return ans, err
}

// Approve approves ids For d, or One Time when d is zero.
func (c *Client) Approve(ctx context.Context, ids []string, d time.Duration, reason string) ([]wire.ResultView, error) {
	body := wire.ApproveBody{IDs: ids, Reason: reason}
	if d == 0 {
		body.Once = true
	} else {
		body.Duration = d.String()
	}
	return c.batch(ctx, "/api/v1/requests/approve", body)
}

// Deny denies ids.
func (c *Client) Deny(ctx context.Context, ids []string, reason string) ([]wire.ResultView, error) {
	return c.batch(ctx, "/api/v1/requests/deny", wire.BatchBody{IDs: ids, Reason: reason})
}

// Revoke ends sessions, named by session or request id.
func (c *Client) Revoke(ctx context.Context, ids []string, reason string) ([]wire.ResultView, error) {
	return c.batch(ctx, "/api/v1/sessions/revoke", wire.BatchBody{IDs: ids, Reason: reason})
}

func (c *Client) batch(ctx context.Context, path string, body any) ([]wire.ResultView, error) {
	var ans struct {
		Results []wire.ResultView `json:"results"`
	}
	err := c.do(ctx, "POST", path, nil, body, &ans)
	return ans.Results, err
}

// Sessions lists sessions; state "" lists all.
func (c *Client) Sessions(ctx context.Context, state string, limit int) ([]wire.SessionView, error) {
	var ans struct {
		Sessions []wire.SessionView `json:"sessions"`
	}
	err := c.do(ctx, "GET", "/api/v1/sessions", listQuery(state, "", "", limit), nil, &ans)
	return ans.Sessions, err
}

// Settings returns the server's approval settings.
func (c *Client) Settings(ctx context.Context) (wire.SettingsView, error) {
	var ans wire.SettingsView
	err := c.do(ctx, "GET", "/api/v1/settings", nil, nil, &ans)
	return ans, err
}

func listQuery(state, user, host string, limit int) url.Values {
	q := url.Values{}
	for k, v := range map[string]string{"state": state, "user": user, "host": host} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if limit > 0 {
		q.Set("limit", fmt.Sprint(limit))
	}
	return q
}

// EnrollToken makes an agent enrolment token.
func (c *Client) EnrollToken(ctx context.Context, group string, ttl time.Duration, uses int) (wire.EnrollTokenAnswer, error) {
	body := wire.EnrollTokenBody{Group: group, Uses: uses}
	if ttl > 0 {
		body.TTL = ttl.String()
	}
	var ans wire.EnrollTokenAnswer
	err := c.do(ctx, "POST", "/api/v1/enroll-tokens", nil, body, &ans)
	return ans, err
}

// Agents lists the enrolled agents.
func (c *Client) Agents(ctx context.Context) ([]wire.AgentView, error) {
	var ans struct {
		Agents []wire.AgentView `json:"agents"`
	}
	err := c.do(ctx, "GET", "/api/v1/agents", nil, nil, &ans)
	return ans.Agents, err
}

// RevokeAgent cuts an agent off.
func (c *Client) RevokeAgent(ctx context.Context, id string) error {
	return c.do(ctx, "POST", "/api/v1/agents/"+url.PathEscape(id)+"/revoke", nil, nil, nil)
}

// PinAgentName pins name as the agent's name.
func (c *Client) PinAgentName(ctx context.Context, id, name string) (wire.AgentView, error) {
	var ans wire.AgentView
	err := c.do(ctx, "PUT", "/api/v1/agents/"+url.PathEscape(id)+"/name", nil, wire.PinBody{Name: name}, &ans)
	return ans, err
}

// UnpinAgentName removes the agent's pinned name.
func (c *Client) UnpinAgentName(ctx context.Context, id string) (wire.AgentView, error) {
	var ans wire.AgentView
	err := c.do(ctx, "DELETE", "/api/v1/agents/"+url.PathEscape(id)+"/name", nil, nil, &ans)
	return ans, err
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
