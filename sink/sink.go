// Package sink sends Hoist's events to the integrations' receivers:
// webhooks, Slack, Microsoft Teams, SMTP, syslog and HTTP event collectors.
// It implements control.Sink: it formats and sends one attempt and reports
// its error; when to retry, and what a failure means, is the delivery
// engine's business (package control).
package sink

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/hoist-jit/hoist"
)

// HTTPTimeout bounds one HTTP delivery: no answer within it is a failure.
const HTTPTimeout = 10 * time.Second

// Config configures the sinks.
type Config struct {
	// ConsoleURL is the console's address, for links to a request's page.
	ConsoleURL string
	// Clock returns the current time (the webhook signature's timestamp);
	// time.Now when nil.
	Clock func() time.Time
	// Hostname is the HOSTNAME of syslog messages; os.Hostname when empty.
	Hostname string
	// SlackAPI is the base of Slack's Web API; https://slack.com/api when
	// empty.
	SlackAPI string
	// Self lists the server's own listening addresses (host:port): no
	// sink connects there, whatever name it was given resolves to, so that
	// a receiver's DNS cannot turn a sink against the server's admin API.
	// An unspecified host (0.0.0.0, ::) stands for every local address.
	Self []string
}

// Sinks sends to every kind of integration.
type Sinks struct {
	cfg Config
}

// New returns the sinks.
func New(cfg Config) *Sinks {
	if cfg.Clock == nil {
		cfg.Clock = time.Now
	}
	if cfg.Hostname == "" {
		cfg.Hostname, _ = os.Hostname()
	}
	if cfg.SlackAPI == "" {
		cfg.SlackAPI = "https://slack.com/api"
	}
	cfg.ConsoleURL = strings.TrimSuffix(cfg.ConsoleURL, "/")
	return &Sinks{cfg: cfg}
}

// Deliver sends one event to an approver sink. ref is what the sink
// answered about the event's request before; only Slack's chat.postMessage
// uses it (to update its message), the others return "".
func (s *Sinks) Deliver(ctx context.Context, it hoist.Integration, d hoist.Delivery, ref string) (string, error) {
	switch it.Kind {
	case hoist.SinkWebhook:
		return "", s.webhook(ctx, it, d)
	case hoist.SinkSlack:
		return s.slack(ctx, it, d, ref)
	case hoist.SinkTeams:
		return "", s.teams(ctx, it, d)
	case hoist.SinkSMTP:
		return "", s.mail(ctx, it, d)
	}
	return "", fmt.Errorf("a %s sink takes audit records, not events", it.Kind)
}

// DeliverAudit sends audit records, in order, to a SIEM sink.
func (s *Sinks) DeliverAudit(ctx context.Context, it hoist.Integration, recs []hoist.AuditRecord) error {
	switch it.Kind {
	case hoist.SinkSyslog:
		return s.syslog(ctx, it, recs)
	case hoist.SinkHEC:
		return s.hec(ctx, it, recs)
	}
	return fmt.Errorf("a %s sink takes events, not audit records", it.Kind)
}

// tlsConfig trusts the sink's own CA bundle when it has one, else the
// system's.
func tlsConfig(c hoist.SinkConfig, serverName string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if c.CA != "" {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(c.CA)) {
			return nil, errors.New("the integration's CA bundle holds no certificate")
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// post sends body to url and accepts only a 2xx answer. Redirects are not
// followed: a receiver must not send Hoist's events somewhere else (such as
// the server's own API).
func post(ctx context.Context, self []string, c hoist.SinkConfig, url string, body []byte, header http.Header) error {
	_, err := postRead(ctx, self, c, url, body, header)
	return err
}

// maxAnswer bounds what is read of a receiver's answer.
const maxAnswer = 64 << 10

// postRead is post that also returns the answer's body.
func postRead(ctx context.Context, self []string, c hoist.SinkConfig, url string, body []byte, header http.Header) ([]byte, error) {
	tc, err := tlsConfig(c, "")
	if err != nil {
		return nil, err
	}
	tr := &http.Transport{TLSClientConfig: tc, Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true,
		ResponseHeaderTimeout: HTTPTimeout, DialContext: dialer(self).DialContext}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: HTTPTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("User-Agent", "hoist-server")
	resp, err := client.Do(req)
	if err != nil {
		return nil, scrub(err, url)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if resp.StatusCode/100 != 2 {
		return nil, fmt.Errorf("the receiver answered %s: %s", resp.Status, strings.TrimSpace(string(answer[:min(len(answer), 200)])))
	}
	return answer, nil
}

// scrub removes the URL from an HTTP error: a chat webhook's path is a
// credential, and errors are logged and shown.
func scrub(err error, url string) error {
	msg := strings.ReplaceAll(err.Error(), url, "the receiver")
	return errors.New(msg)
}

// envelope is the JSON of a webhook delivery.
type envelope struct {
	ID    string          `json:"id"`
	Event string          `json:"event"`
	At    string          `json:"at"`
	Data  json.RawMessage `json:"data"`
}

// eventData decodes an event's data for the formatted sinks.
func eventData(ev hoist.IntegrationEvent) map[string]any {
	m := map[string]any{}
	_ = json.Unmarshal(ev.Data, &m)
	return m
}

func str(m map[string]any, k string) string {
	if v, ok := m[k].(string); ok {
		return v
	}
	if v, ok := m[k]; ok && v != nil {
		return fmt.Sprint(v)
	}
	return ""
}

// dialer connects with a timeout and refuses the server's own addresses
// (Config.Self), checked on the address actually dialled, after DNS.
func dialer(self []string) *net.Dialer {
	return &net.Dialer{Timeout: HTTPTimeout, Control: func(network, address string, _ syscall.RawConn) error {
		if isSelf(self, address) {
			return errors.New("refused: " + address + " is this server's own API")
		}
		return nil
	}}
}

// isSelf reports whether address (ip:port) is one the server listens on.
func isSelf(self []string, address string) bool {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	for _, s := range self {
		sh, sp, err := net.SplitHostPort(s)
		if err != nil || sp != port {
			continue
		}
		sip := net.ParseIP(sh)
		switch {
		case ip == nil:
		case sip != nil && sip.Equal(ip):
			return true
		case ip.IsLoopback() && (sip == nil || sip.IsLoopback() || sip.IsUnspecified()):
			return true
		case sip != nil && sip.IsUnspecified() && isLocal(ip):
			return true
		}
	}
	return false
}

// isLocal reports whether ip is an address of this machine.
func isLocal(ip net.IP) bool {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true // fail closed
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.Equal(ip) {
			return true
		}
	}
	return false
}
