package sink

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
)

// syslog sends each record as an RFC 5424 message: over TCP and TLS framed
// by octet counting (RFC 6587, RFC 5425), over UDP one datagram each. One
// connection per batch: a receiver that went away is found at the next
// batch, and the engine resends from the first record not acknowledged by
// a whole batch getting through.
func (s *Sinks) syslog(ctx context.Context, it hoist.Integration, recs []hoist.AuditRecord) error {
	u, err := url.Parse(it.Config.Address)
	if err != nil {
		return err
	}
	d := dialer(s.cfg.Self)
	var conn net.Conn
	switch u.Scheme {
	case "tcp":
		conn, err = d.DialContext(ctx, "tcp", u.Host)
	case "udp":
		conn, err = d.DialContext(ctx, "udp", u.Host)
	case "tls":
		var tc *tls.Config
		if tc, err = tlsConfig(it.Config, u.Hostname()); err == nil {
			td := tls.Dialer{NetDialer: d, Config: tc}
			conn, err = td.DialContext(ctx, "tcp", u.Host)
		}
	default:
		return fmt.Errorf("syslog: unknown transport %q", u.Scheme)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	var buf bytes.Buffer
	for _, r := range recs {
		msg := s.rfc5424(r, it.Config.Format)
		if u.Scheme == "udp" {
			if _, err := conn.Write(msg); err != nil {
				return err
			}
			continue
		}
		buf.WriteString(strconv.Itoa(len(msg)) + " ")
		buf.Write(msg)
	}
	if u.Scheme == "udp" {
		return nil
	}
	if _, err := conn.Write(buf.Bytes()); err != nil {
		return err
	}
	// A clean close: the receiver has the bytes once the FIN is sent.
	if tc, ok := conn.(*tls.Conn); ok {
		return tc.CloseWrite()
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		return tc.CloseWrite()
	}
	return nil
}

// sdEnterprise is the SD-ID's private enterprise number part. 32473 is the
// number RFC 5612 sets aside for documentation and examples.
const sdID = "hoist@32473"

// rfc5424 formats r: facility auth (10), severity notice (5) —
// "<85>1 TIME HOST hoist - ACTION [hoist@32473 seq= actor= action= subject=
// hash=] DETAIL", or with format json the whole record as the message.
func (s *Sinks) rfc5424(r hoist.AuditRecord, format string) []byte {
	const pri = 10*8 + 5
	msgID := sdName(r.Action)
	var sd, body string
	if format == "json" {
		sd = "-"
		raw, _ := json.Marshal(r)
		body = string(raw)
	} else {
		sd = fmt.Sprintf(`[%s seq="%d" actor="%s" action="%s" subject="%s" hash="%s"]`, sdID, r.Seq,
			sdValue(r.Actor), sdValue(r.Action), sdValue(r.Subject), r.Hash)
		body = string(r.Detail)
	}
	host := sdName(s.cfg.Hostname)
	return []byte(fmt.Sprintf("<%d>1 %s %s hoist - %s %s \xef\xbb\xbf%s", pri, r.Time.UTC().Format(time.RFC3339Nano), host, msgID, sd, body))
}

// sdName keeps what RFC 5424 allows in HOSTNAME and MSGID (printable ASCII,
// no space), at most 32 characters.
func sdName(s string) string {
	out := []byte{}
	for i := 0; i < len(s) && len(out) < 32; i++ {
		if c := s[i]; c > 32 && c < 127 {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return "-"
	}
	return string(out)
}

// sdValue escapes a PARAM-VALUE: '"', '\' and ']' take a backslash.
func sdValue(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, `]`, `\]`).Replace(s)
}

// hec posts the records as one batch of Splunk HTTP Event Collector
// events (JSON objects one after another), with "Authorization: Splunk
// TOKEN".
func (s *Sinks) hec(ctx context.Context, it hoist.Integration, recs []hoist.AuditRecord) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, r := range recs {
		ev := map[string]any{"time": float64(r.Time.UnixMicro()) / 1e6, "host": s.cfg.Hostname, "source": "hoist",
			"sourcetype": "hoist:audit", "event": r}
		if err := enc.Encode(ev); err != nil {
			return err
		}
	}
	h := http.Header{}
	h.Set("Authorization", "Splunk "+it.Config.Secret)
	return post(ctx, s.cfg.Self, it.Config, it.Config.URL, buf.Bytes(), h)
}
