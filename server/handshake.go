package server

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// handshakeListener is a TLS listener whose Accept returns connections whose
// handshake is already done, each handshake run on a goroutine of its own
// that ends with it.
//
// Why not tls.NewListener, whose connections net/http handshakes on the
// goroutine that then serves the connection: a handshake (the hybrid key
// exchange, the client certificate's signature) grows its goroutine's stack
// to tens of KiB, and with HTTP/2 that goroutine lives as long as the
// agent's connection, keeping the grown stack until collections halve it
// again, one halving per collection. Here the deep work is done on a
// goroutine that is gone once the connection is handed over, and the
// serving goroutine keeps only what its loop needs. net/http's own
// handshake call then finds the work done and returns at once.
//
// A handshake that does not finish within timeout closes its connection;
// handshakes do not wait for one another, nor for Accept's caller except to
// hand their connection over.
//
// At most maxInFlight connections are between the inner Accept and their
// handover (handshaking, or handshaken and waiting for Accept's caller):
// each holds a goroutine, a grown stack and the handshake's state, and a
// fleet reconnecting at once, or a client opening connections and saying
// nothing, would otherwise pile up as many as it opens. Over the bound the
// listener stops accepting, and new connections wait in the kernel's listen
// backlog (and, once that is full, in their clients' SYN retries) until a
// handshake ends; none is refused for it.
type handshakeListener struct {
	inner   net.Listener
	config  *tls.Config
	timeout time.Duration
	log     *slog.Logger
	slots   chan struct{} // one per connection in flight; its capacity is the bound

	ready chan *tls.Conn // handshaken connections
	fail  chan error     // the inner listener's errors, one at a time
	done  chan struct{}  // closed by Close
	once  sync.Once
	ctx   context.Context // cancelled by Close: handshakes in flight stop
	stop  context.CancelFunc
}

// maxHandshakes bounds the API listener's connections in flight. A
// handshake costs the server about a millisecond of CPU, so a thousand at
// once is already a second's work of both cores of a small server, and the
// bound is far above what agents reconnecting in a storm keep in flight;
// its memory (each handshake's goroutine and state, some tens of KiB) is
// tens of MiB. A client holding the bound with silent connections delays
// new handshakes, each for at most the handshake's timeout, rather than
// growing the server without limit.
const maxHandshakes = 1024

// newHandshakeListener serves TLS with config on inner, with at most
// maxInFlight connections handshaking or waiting for Accept at once.
// config is cloned: later changes to it are not seen.
func newHandshakeListener(inner net.Listener, config *tls.Config, timeout time.Duration, maxInFlight int, log *slog.Logger) *handshakeListener {
	ctx, stop := context.WithCancel(context.Background())
	l := &handshakeListener{
		inner: inner, config: config.Clone(), timeout: timeout, log: log,
		slots: make(chan struct{}, max(maxInFlight, 1)),
		ready: make(chan *tls.Conn), fail: make(chan error), done: make(chan struct{}),
		ctx: ctx, stop: stop,
	}
	go l.acceptLoop()
	return l
}

// acceptLoop accepts connections and starts their handshakes, each once a
// slot is free. An accept error is handed to Accept's caller (net/http
// backs off on temporary ones, such as running out of file descriptors, and
// stops on the others) before the next accept, so that the loop goes no
// faster than its caller.
func (l *handshakeListener) acceptLoop() {
	for {
		if !l.takeSlot() {
			return
		}
		c, err := l.inner.Accept()
		if err != nil {
			<-l.slots
			select {
			case l.fail <- err:
			case <-l.done:
				return
			}
			continue
		}
		go l.handshake(c)
	}
}

// takeSlot waits for a free slot and takes it; false after Close.
func (l *handshakeListener) takeSlot() bool {
	select {
	case l.slots <- struct{}{}:
		return true
	default:
	}
	l.log.Debug("TLS handshakes at their bound: new connections wait in the listen backlog", "bound", cap(l.slots))
	select {
	case l.slots <- struct{}{}:
		return true
	case <-l.done:
		return false
	}
}

// handshake runs the server side of c's handshake and hands the connection
// to Accept, or closes it on failure or Close; either way it gives its slot
// back when it is done with c.
func (l *handshakeListener) handshake(c net.Conn) {
	defer func() { <-l.slots }()
	tc := tls.Server(c, l.config)
	ctx, cancel := context.WithTimeout(l.ctx, l.timeout)
	defer cancel()
	_ = c.SetDeadline(time.Now().Add(l.timeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		l.log.Debug("TLS handshake failed", "remote", c.RemoteAddr().String(), "err", err)
		sayNotHTTP(err)
		_ = c.Close()
		return
	}
	_ = c.SetDeadline(time.Time{})
	select {
	case l.ready <- tc:
	case <-l.done:
		_ = tc.Close()
	}
}

// sayNotHTTP answers a plain HTTP request sent to the TLS port as net/http
// does, so that whoever typed http:// reads why nothing works.
func sayNotHTTP(err error) {
	var re tls.RecordHeaderError
	if !errors.As(err, &re) || re.Conn == nil {
		return
	}
	for _, method := range []string{"GET /", "HEAD ", "POST ", "PUT /", "OPTIO"} {
		if string(re.RecordHeader[:]) == method {
			_, _ = io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
			return
		}
	}
}

// Accept returns the next handshaken connection, or the inner listener's
// error, or net.ErrClosed after Close.
func (l *handshakeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ready:
		return c, nil
	case err := <-l.fail:
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops accepting and ends the handshakes in flight; connections
// already accepted are their owners' to close.
func (l *handshakeListener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		l.stop()
		err = l.inner.Close()
	})
	return err
}

// Addr is the inner listener's address.
func (l *handshakeListener) Addr() net.Addr { return l.inner.Addr() }
