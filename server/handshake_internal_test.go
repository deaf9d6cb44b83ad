package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestHandshakeListener serves HTTP/2 and HTTP/1.1 over the handshaking
// listener, with the client's certificate seen by the handler, while a
// client that never finishes its handshake waits beside them; Close ends
// that stalled handshake.
func TestHandshakeListener(t *testing.T) {
	serverCert, roots := selfSigned(t, "server")
	clientCert, clientRoots := selfSigned(t, "agent")
	config := &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    clientRoots,
		NextProtos:   []string{"h2", "http/1.1"},
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newHandshakeListener(inner, config, 10*time.Minute, maxHandshakes, slog.New(slog.DiscardHandler)) // only Close ends the stalled one
	srv := &http.Server{
		TLSConfig: config,
		HTTP2:     agentHTTP2(),
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			peer := "none"
			if len(r.TLS.PeerCertificates) > 0 {
				peer = r.TLS.PeerCertificates[0].Subject.CommonName
			}
			_, _ = io.WriteString(w, r.Proto+" "+peer)
		}),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	// A client that connects and says nothing holds a handshake open.
	stalled, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()

	tests := []struct {
		name  string
		http2 bool
		want  string
	}{
		{"HTTP/2, as agents connect", true, "HTTP/2.0 agent"},
		{"HTTP/1.1, as a browser may", false, "HTTP/1.1 agent"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "server", Certificates: []tls.Certificate{clientCert}}}
			tr.Protocols = new(http.Protocols)
			tr.Protocols.SetHTTP1(!tc.http2)
			tr.Protocols.SetHTTP2(tc.http2)
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: time.Minute}).Get("https://" + inner.Addr().String() + "/")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if got := string(body); got != tc.want {
				t.Errorf("the handler saw %q, want %q", got, tc.want)
			}
		})
	}

	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-served; err != http.ErrServerClosed {
		t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
	}
	_ = stalled.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := stalled.Read(make([]byte, 1)); err == nil {
		t.Error("the stalled handshake's connection is still open after Close")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("the stalled handshake's connection was not closed by Close")
	}
}

// TestHandshakeListenerTimeout: a handshake that does not finish within the
// listener's timeout has its connection closed.
func TestHandshakeListenerTimeout(t *testing.T) {
	cert, _ := selfSigned(t, "server")
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newHandshakeListener(inner, &tls.Config{Certificates: []tls.Certificate{cert}}, 100*time.Millisecond, maxHandshakes, slog.New(slog.DiscardHandler))
	defer l.Close()
	stalled, err := net.Dial("tcp", inner.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stalled.Close()
	_ = stalled.SetReadDeadline(time.Now().Add(time.Minute))
	if _, err := stalled.Read(make([]byte, 1)); err == nil {
		t.Error("the stalled handshake's connection is still open")
	} else if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Error("the stalled handshake's connection was not closed within a minute")
	}
}

// selfSigned is a certificate for name that signs itself, and the pool
// that trusts it.
func selfSigned(t *testing.T, name string) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IsCA:        true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// TestHandshakeListenerPlainHTTP: a plain HTTP request to the TLS port is
// told why it failed, as net/http tells it.
func TestHandshakeListenerPlainHTTP(t *testing.T) {
	cert, _ := selfSigned(t, "server")
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newHandshakeListener(inner, &tls.Config{Certificates: []tls.Certificate{cert}}, time.Minute, maxHandshakes, slog.New(slog.DiscardHandler))
	defer l.Close()
	resp, err := (&http.Client{Timeout: time.Minute}).Get("http://" + inner.Addr().String() + "/api/v1/agents")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "HTTP request to an HTTPS server") {
		t.Errorf("got %s %q, want 400 saying it was an HTTP request to an HTTPS server", resp.Status, body)
	}
}

// TestHandshakeListenerBound: with its bound of connections in flight held
// by clients that never finish their handshakes, the listener accepts no
// more; each silent client that goes lets one more connection in, in the
// order they came; the agents that connected meanwhile wait in the listen
// backlog and are all served once the silent clients are gone.
func TestHandshakeListenerBound(t *testing.T) {
	const bound, silent, agents = 2, 3, 10
	serverCert, roots := selfSigned(t, "server")
	config := &tls.Config{Certificates: []tls.Certificate{serverCert}, NextProtos: []string{"h2", "http/1.1"}}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	counted := &countingListener{Listener: inner}
	atBound := make(chan struct{}, 100)
	log := slog.New(&signalHandler{message: "TLS handshakes at their bound", signal: atBound})
	l := newHandshakeListener(counted, config, 10*time.Minute, bound, log) // only the clients' going ends the silent ones
	srv := &http.Server{
		TLSConfig: config,
		HTTP2:     agentHTTP2(),
		Handler:   http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "served") }),
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	var quiet []net.Conn
	for range silent {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		quiet = append(quiet, c)
	}
	results := make(chan string, agents)
	for range agents {
		go func() {
			tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "server"}, ForceAttemptHTTP2: true}
			defer tr.CloseIdleConnections()
			resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Minute}).Get("https://" + inner.Addr().String() + "/")
			if err != nil {
				results <- err.Error()
				return
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			results <- resp.Proto + " " + string(body)
		}()
	}

	// The first silent clients fill the bound; each one that goes lets the
	// next silent one in (it connected before the agents), and the bound is
	// reached again.
	for gone := 0; ; gone++ {
		select {
		case <-atBound:
		case <-time.After(time.Minute):
			t.Fatalf("the listener did not stop accepting with %d silent clients in its %d slots", bound, bound)
		}
		if got, want := counted.accepted(), bound+gone; got != want {
			t.Fatalf("%d connections accepted with the bound reached after %d silent clients went, want %d", got, gone, want)
		}
		select {
		case r := <-results:
			t.Fatalf("an agent got %q while silent clients held every slot", r)
		default:
		}
		if gone == silent-bound {
			break // the last silent clients hold the slots
		}
		_ = quiet[gone].Close()
	}
	for _, c := range quiet {
		_ = c.Close()
	}
	for range agents {
		if got, want := <-results, "HTTP/2.0 served"; got != want {
			t.Errorf("an agent got %q, want %q", got, want)
		}
	}
	if got, want := counted.accepted(), silent+agents; got < want {
		t.Errorf("%d connections accepted, want at least %d", got, want)
	}
}

// countingListener counts the connections its Accept returned.
type countingListener struct {
	net.Listener
	mu    sync.Mutex
	total int
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.mu.Lock()
		l.total++
		l.mu.Unlock()
	}
	return c, err
}

func (l *countingListener) accepted() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.total
}

// signalHandler is a log handler that signals each record whose message
// starts with message.
type signalHandler struct {
	message string
	signal  chan<- struct{}
}

func (h *signalHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *signalHandler) Handle(_ context.Context, r slog.Record) error {
	if strings.HasPrefix(r.Message, h.message) {
		select {
		case h.signal <- struct{}{}:
		default:
		}
	}
	return nil
}
func (h *signalHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *signalHandler) WithGroup(string) slog.Handler      { return h }
