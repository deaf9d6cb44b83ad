package sink

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"html/template"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
)

// mail sends the event as a multipart text and HTML message over implicit
// TLS or STARTTLS (or, only when the admin said --insecure-plain, a plain
// connection that never carries a password).
func (s *Sinks) mail(ctx context.Context, it hoist.Integration, d hoist.Delivery) error {
	c := it.Config
	host, _, err := net.SplitHostPort(c.Server)
	if err != nil {
		return err
	}
	nd := dialer(s.cfg.Self)
	tc, err := tlsConfig(c, host)
	if err != nil {
		return err
	}
	var conn net.Conn
	if c.Security == "tls" {
		conn, err = (&tls.Dialer{NetDialer: nd, Config: tc}).DialContext(ctx, "tcp", c.Server)
	} else {
		conn, err = nd.DialContext(ctx, "tcp", c.Server)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	cl, err := smtp.NewClient(conn, host)
	if err != nil {
		return err
	}
	defer cl.Close()
	if c.Security == "starttls" {
		if err := cl.StartTLS(tc); err != nil {
			return fmt.Errorf("STARTTLS: %w", err)
		}
	}
	if c.Username != "" {
		if err := cl.Auth(smtp.PlainAuth("", c.Username, c.Secret, host)); err != nil {
			return fmt.Errorf("SMTP authentication: %w", err)
		}
	}
	if err := cl.Mail(c.From); err != nil {
		return err
	}
	for _, to := range c.To {
		if err := cl.Rcpt(to); err != nil {
			return err
		}
	}
	w, err := cl.Data()
	if err != nil {
		return err
	}
	if _, err := w.Write(s.compose(c, d)); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	return cl.Quit()
}

var mailHTML = template.Must(template.New("mail").Parse(`<!doctype html>
<html><body style="font-family:sans-serif">
<h2>{{.Title}}</h2>
<table>{{range .Facts}}<tr><th align="left" style="padding-right:1em">{{index . 0}}</th><td>{{index . 1}}</td></tr>{{end}}</table>
{{if .Link}}<p><a href="{{.Link}}">Open the request in Hoist</a> (sign in to decide)</p>{{end}}
</body></html>`))

// compose builds the RFC 5322 message. The Message-ID holds the delivery
// id, so that a receiver can tell a retry from a new message.
func (s *Sinks) compose(c hoist.SinkConfig, d hoist.Delivery) []byte {
	m := s.summarize(d.Event)
	var text strings.Builder
	text.WriteString(m.Title + "\n\n")
	for _, f := range m.Facts {
		text.WriteString(f[0] + ": " + f[1] + "\n")
	}
	if m.Link != "" {
		text.WriteString("\nOpen the request in Hoist (sign in to decide): " + m.Link + "\n")
	}
	var html bytes.Buffer
	_ = mailHTML.Execute(&html, m)
	var b [12]byte
	_, _ = rand.Read(b[:])
	boundary := "hoist-" + hex.EncodeToString(b[:])
	var out bytes.Buffer
	hdr := func(k, v string) { out.WriteString(k + ": " + v + "\r\n") }
	hdr("From", c.From)
	hdr("To", strings.Join(c.To, ", "))
	hdr("Subject", mime.QEncoding.Encode("utf-8", m.Title))
	hdr("Date", s.cfg.Clock().UTC().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+d.ID+"@hoist>")
	hdr("X-Hoist-Event", d.Event.Type)
	hdr("X-Hoist-Delivery", d.ID)
	hdr("MIME-Version", "1.0")
	hdr("Content-Type", `multipart/alternative; boundary="`+boundary+`"`)
	out.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", text.String()}, {"text/html", html.String()}} {
		out.WriteString("--" + boundary + "\r\nContent-Type: " + part.typ + "; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
		qp := quotedprintable.NewWriter(&out)
		_, _ = qp.Write([]byte(part.body))
		_ = qp.Close()
		out.WriteString("\r\n")
	}
	out.WriteString("--" + boundary + "--\r\n")
	return out.Bytes()
}
