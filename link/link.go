// Package link is hoistd's connection to hoist-server: enrolment with a
// token that pins the server's CA, then mutual TLS for everything — check-in,
// filing users' requests, a long poll that brings decisions the moment they
// are made, and delivery of the agent's audit events.
package link

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/agent"
	"github.com/hoist-jit/hoist/pki"
	"github.com/hoist-jit/hoist/wire"
)

// Identity is what enrolment leaves in the state directory, root-only.
type Identity struct {
	Server   string `json:"server"`
	AgentID  string `json:"agent_id"`
	GrantKey string `json:"grant_key"` // base64 Ed25519 public key
}

func identityDir(stateDir string) string { return filepath.Join(stateDir, "identity") }

// Enrolled reports whether stateDir holds an identity.
func Enrolled(stateDir string) bool {
	_, err := os.Stat(filepath.Join(identityDir(stateDir), "identity.json"))
	return err == nil
}

// pinnedTLS trusts exactly the CA whose SHA-256 fingerprint is pin, which
// the server must present in its chain.
func pinnedTLS(pin, serverName string) *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		InsecureSkipVerify: true, // replaced by VerifyConnection below: the pin, then the chain
		VerifyConnection: func(cs tls.ConnectionState) error {
			var ca *x509.Certificate
			for _, c := range cs.PeerCertificates {
				if pki.Fingerprint(c) == pin {
					ca = c
				}
			}
			if ca == nil || len(cs.PeerCertificates) == 0 {
				return errors.New("the server's CA does not match the fingerprint in the enrolment token")
			}
			pool := x509.NewCertPool()
			pool.AddCert(ca)
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: pool, DNSName: serverName})
			return err
		},
	}
}

// Facts describes this machine.
func Facts(version string) wire.AgentFacts {
	host, _ := os.Hostname()
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return wire.AgentFacts{Hostname: host, Version: version, OS: "linux", Kernel: string(bytes.TrimSpace(kernel))}
}

// Enroll enrols this machine with the server using token and writes the
// identity to stateDir. server may be empty to use the token's URL.
func Enroll(ctx context.Context, server, token, stateDir string, facts wire.AgentFacts) (Identity, error) {
	tok, err := wire.ParseEnrollToken(token)
	if err != nil {
		return Identity{}, err
	}
	pin := tok.Fingerprint
	if server == "" {
		server = tok.URL
	}
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return Identity{}, hoist.Errorf(hoist.EInvalid, "server URL %q must look like https://host:port", server)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Identity{}, err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: facts.Hostname}}, key)
	if err != nil {
		return Identity{}, err
	}
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: pinnedTLS(pin, u.Hostname())}}
	var enr wire.Enrolment
	body := wire.EnrollBody{Secret: tok.Secret, CSR: base64.StdEncoding.EncodeToString(csr), Facts: facts}
	if err := call(ctx, hc, u, "POST", "/agent/v1/enroll", nil, body, &enr); err != nil {
		return Identity{}, err
	}
	caBlock, _ := pem.Decode([]byte(enr.CA))
	if caBlock == nil {
		return Identity{}, hoist.Errorf(hoist.EInvalid, "the server sent no CA")
	}
	caCert, err := x509.ParseCertificate(caBlock.Bytes)
	if err != nil || pki.Fingerprint(caCert) != pin {
		return Identity{}, hoist.Errorf(hoist.EForbidden, "the server's CA does not match the fingerprint in the enrolment token")
	}
	if pub, err := base64.StdEncoding.DecodeString(enr.GrantKey); err != nil || len(pub) != ed25519.PublicKeySize {
		return Identity{}, hoist.Errorf(hoist.EInvalid, "the server sent no valid grant key")
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Identity{}, err
	}
	id := Identity{Server: u.Scheme + "://" + u.Host, AgentID: enr.AgentID, GrantKey: enr.GrantKey}
	idJSON, _ := json.MarshalIndent(id, "", "  ")
	// Written to a directory beside it and renamed into place, so that a
	// crash leaves either no identity or a whole one.
	dir := identityDir(stateDir)
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return Identity{}, err
	}
	tmp, err := os.MkdirTemp(stateDir, ".identity-")
	if err != nil {
		return Identity{}, err
	}
	defer os.RemoveAll(tmp)
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"agent-key.pem", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})},
		{"agent.pem", []byte(enr.Certificate)},
		{"ca.pem", []byte(enr.CA)},
		{"identity.json", idJSON},
	} {
		if err := os.WriteFile(filepath.Join(tmp, f.name), f.data, 0o600); err != nil {
			return Identity{}, err
		}
	}
	if _, err := tls.LoadX509KeyPair(filepath.Join(tmp, "agent.pem"), filepath.Join(tmp, "agent-key.pem")); err != nil {
		return Identity{}, hoist.Errorf(hoist.EInvalid, "the server's certificate does not match this machine's key")
	}
	if err := os.Rename(tmp, dir); err != nil {
		return Identity{}, fmt.Errorf("install the identity: %w", err)
	}
	// The offline key comes this once (a server older than offline
	// approval sends none; the agent then asks at its check-ins).
	if len(enr.OfflineKey) > 0 {
		if err := agent.WriteOfflineKey(stateDir, enr.AgentID, enr.OfflineKey); err != nil {
			return Identity{}, fmt.Errorf("store the offline key: %w", err)
		}
	}
	return id, nil
}

// Client talks to the server over mutual TLS as this agent.
type Client struct {
	ID       Identity
	grantKey ed25519.PublicKey
	base     *url.URL
	http     *http.Client
	poll     *http.Client // a longer timeout: long polls are long
}

// damaged is the refusal of a damaged identity: what is wrong, and how to
// enrol again (hoistd enroll refuses while the identity directory exists).
func damaged(stateDir, what string, cause error) error {
	dir := identityDir(stateDir)
	return hoist.WrapError(hoist.EInvalid, fmt.Sprintf("this machine's agent identity in %s is damaged: %s. Re-enrol it: "+
		"remove %s, get a token on the server (hoist admin enroll-token) and run hoistd enroll --state %s --server URL --token TOKEN",
		dir, what, dir, stateDir), cause)
}

// Load returns the client for the identity in stateDir.
func Load(stateDir string) (*Client, error) {
	dir := identityDir(stateDir)
	data, err := os.ReadFile(filepath.Join(dir, "identity.json"))
	if err != nil {
		return nil, hoist.Errorf(hoist.ENotFound, "this machine is not enrolled (no %s)", filepath.Join(dir, "identity.json"))
	}
	var id Identity
	if err := json.Unmarshal(data, &id); err != nil {
		return nil, damaged(stateDir, "identity.json is not valid JSON", err)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "agent.pem"), filepath.Join(dir, "agent-key.pem"))
	if err != nil {
		return nil, damaged(stateDir, "the agent certificate or its key (agent.pem, agent-key.pem) cannot be read", err)
	}
	pool, err := pki.LoadCertPool(filepath.Join(dir, "ca.pem"))
	if err != nil {
		return nil, damaged(stateDir, "the server's CA certificate (ca.pem) cannot be read", err)
	}
	grantKey, err := base64.StdEncoding.DecodeString(id.GrantKey)
	if err != nil || len(grantKey) != ed25519.PublicKeySize {
		return nil, damaged(stateDir, "the pinned grant key in identity.json is not a key", err)
	}
	u, err := url.Parse(id.Server)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, damaged(stateDir, "the server address in identity.json is not an https URL", err)
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool, Certificates: []tls.Certificate{cert}},
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	return &Client{ID: id, grantKey: ed25519.PublicKey(grantKey), base: u,
		http: &http.Client{Timeout: 30 * time.Second, Transport: tr},
		// A long poll is long, but not endless: a silent middlebox must not
		// stall grants and revokes for ever.
		poll: &http.Client{Timeout: PollWait + 30*time.Second, Transport: tr}}, nil
}

// GrantKey is the pinned key grants must be signed with.
func (c *Client) GrantKey() ed25519.PublicKey { return c.grantKey }

func call(ctx context.Context, hc *http.Client, base *url.URL, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	u := *base
	u.Path, u.RawQuery = path, q.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return hoist.WrapError(hoist.EUnavailable, "cannot reach the server: "+err.Error(), err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return hoist.WrapError(hoist.EUnavailable, "the server's answer was cut off", err)
	}
	if resp.StatusCode >= 300 {
		var eb wire.ErrorBody
		var err error = hoist.Errorf(hoist.EUnavailable, "the server answered %s", resp.Status)
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			err = &hoist.Error{Code: eb.Error.Code, Message: eb.Error.Message}
		}
		if after := retryAfter(resp); after > 0 {
			err = &retryLater{err: err, after: after}
		}
		return err
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(data, out); err != nil {
			return hoist.WrapError(hoist.EUnavailable, "the server's answer is not the JSON expected", err)
		}
	}
	return nil
}

// Checkin reports this machine's facts. It returns the agent's new policy
// bundle and the server's signature of it, as sent, or nil when the
// revision in facts is current.
func (c *Client) Checkin(ctx context.Context, facts wire.AgentFacts) (*wire.CheckinAnswer, error) {
	var ans wire.CheckinAnswer
	if err := call(ctx, c.http, c.base, "POST", "/agent/v1/checkin", nil, facts, &ans); err != nil {
		return nil, err
	}
	if len(ans.Bundle) == 0 || string(ans.Bundle) == "null" {
		return nil, nil
	}
	return &ans, nil
}

// Request files a user's request.
func (c *Client) Request(ctx context.Context, user, reason string, d time.Duration) (wire.AgentRequestAnswer, error) {
	return c.RequestAs(ctx, user, nil, reason, d)
}

// RequestAs files user's request as Request does, with the user's Unix
// groups on this machine, which the startup policy's automatic approval
// rules may name (at most 64 are sent).
func (c *Client) RequestAs(ctx context.Context, user string, groups []string, reason string, d time.Duration) (wire.AgentRequestAnswer, error) {
	body := wire.AgentRequestBody{User: user, Reason: reason, UnixGroups: groups[:min(len(groups), 64)]}
	if d > 0 {
		body.Duration = d.String()
	}
	var ans wire.AgentRequestAnswer
	err := call(ctx, c.http, c.base, "POST", "/agent/v1/requests", nil, body, &ans)
	return ans, err
}

// Extend files user's request for d more on their active session sid.
func (c *Client) Extend(ctx context.Context, user, sid, reason string, d time.Duration) (wire.AgentRequestAnswer, error) {
	body := wire.AgentRequestBody{User: user, Reason: reason, Duration: d.String(), Extends: sid}
	var ans wire.AgentRequestAnswer
	err := call(ctx, c.http, c.base, "POST", "/agent/v1/requests", nil, body, &ans)
	return ans, err
}

// Cancel withdraws user's waiting request.
func (c *Client) Cancel(ctx context.Context, user string) (wire.AgentRequestAnswer, error) {
	var ans wire.AgentRequestAnswer
	err := call(ctx, c.http, c.base, "POST", "/agent/v1/requests/cancel", nil, wire.AgentCancelBody{User: user}, &ans)
	return ans, err
}

// Events long-polls for the agent's events after cursor.
func (c *Client) Events(ctx context.Context, after int64, wait time.Duration) (wire.EventsAnswer, error) {
	q := url.Values{"after": {strconv.FormatInt(after, 10)}, "wait": {strconv.Itoa(int(wait / time.Second))}}
	var ans wire.EventsAnswer
	err := call(ctx, c.poll, c.base, "GET", "/agent/v1/events", q, nil, &ans)
	return ans, err
}

// Audit delivers audit events; the server stores each id once.
func (c *Client) Audit(ctx context.Context, events []wire.AgentAuditEvent) error {
	return call(ctx, c.http, c.base, "POST", "/agent/v1/audit", nil, wire.AuditBody{Events: events}, nil)
}

// SessionEnded tells the server the user ended a session here.
func (c *Client) SessionEnded(ctx context.Context, sessionID string) error {
	return call(ctx, c.http, c.base, "POST", "/agent/v1/sessions/"+url.PathEscape(sessionID)+"/ended", nil, nil, nil)
}

// String names the link for logs.
func (c *Client) String() string { return fmt.Sprintf("%s as %s", c.ID.Server, c.ID.AgentID) }

// Recording uploads one piece of a terminal recording and returns how much
// of it the server has.
func (c *Client) Recording(ctx context.Context, id string, chunk wire.RecordingChunk) (wire.RecordingAnswer, error) {
	var ans wire.RecordingAnswer
	err := call(ctx, c.http, c.base, "PUT", "/agent/v1/recordings/"+url.PathEscape(id), nil, chunk, &ans)
	return ans, err
}

// OfflineKey asks the server for this agent's offline key, which an agent
// enrolled before offline approval lacks.
func (c *Client) OfflineKey(ctx context.Context) (wire.OfflineKeyAnswer, error) {
	var ans wire.OfflineKeyAnswer
	err := call(ctx, c.http, c.base, "POST", "/agent/v1/offline-key", nil, struct{}{}, &ans)
	return ans, err
}

// AckOfflineKey tells the server the agent holds the key keyID: it is not
// sent again.
func (c *Client) AckOfflineKey(ctx context.Context, keyID string) error {
	return call(ctx, c.http, c.base, "POST", "/agent/v1/offline-key/ack", nil, wire.OfflineKeyAck{KeyID: keyID}, nil)
}

// maxRetryAfter bounds the wait a server's Retry-After may ask for.
const maxRetryAfter = time.Minute

// retryAfter returns the wait a 503 or 429 asks for in its Retry-After (in
// seconds; the date form is not used by Hoist's server), 0 for none.
func retryAfter(resp *http.Response) time.Duration {
	if resp.StatusCode != http.StatusServiceUnavailable && resp.StatusCode != http.StatusTooManyRequests {
		return 0
	}
	n, err := strconv.Atoi(strings.TrimSpace(resp.Header.Get("Retry-After")))
	if err != nil || n <= 0 {
		return 0
	}
	// Compared in seconds: multiplied first, a huge n wraps around to a
	// wait of nanoseconds.
	if n > int(maxRetryAfter/time.Second) {
		return maxRetryAfter
	}
	return time.Duration(n) * time.Second
}

// retryLater is a server's refusal that said when to come back: the
// server is up, and a dependency of it (its database) is not, or it is
// busy. It unwraps to the server's error.
type retryLater struct {
	err   error
	after time.Duration
}

func (e *retryLater) Error() string { return e.err.Error() }
func (e *retryLater) Unwrap() error { return e.err }

// RetryAfter returns the wait the server asked for with err, 0 when it
// asked for none.
func RetryAfter(err error) time.Duration {
	var rl *retryLater
	if errors.As(err, &rl) {
		return rl.after
	}
	return 0
}
