package e2e_test

import (
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// delayRelay is a TCP relay the test puts between hoistd and the server to
// add latency, since this kernel has no netem: every chunk read from one
// side is written to the other delay (plus up to jitter) after it was
// read. It is delay at layer 4: the bytes arrive late, in order, while each
// leg's own TCP (its handshake, its ACKs, its retransmissions of what a
// lossy link dropped) runs at the link's speed. Chunks are pipelined, so
// the relay adds latency and takes no bandwidth away.
type delayRelay struct {
	ln            net.Listener
	to            string
	delay, jitter time.Duration
	conns         atomic.Int64
	wg            sync.WaitGroup
	mu            sync.Mutex
	open          map[net.Conn]bool
	closed        bool
}

// startDelayRelay listens on listen (host:0 for any port) and relays each
// connection to to with the delay each way; t's cleanup closes every
// connection and waits for the relay's goroutines.
func startDelayRelay(t *testing.T, listen, to string, delay, jitter time.Duration) *delayRelay {
	t.Helper()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		t.Fatal(err)
	}
	r := &delayRelay{ln: ln, to: to, delay: delay, jitter: jitter, open: map[net.Conn]bool{}}
	r.wg.Add(1)
	go r.serve()
	t.Cleanup(r.close)
	return r
}

// addr is the address hoistd should use for the server.
func (r *delayRelay) addr() string { return r.ln.Addr().String() }

func (r *delayRelay) serve() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", r.to)
		if err != nil {
			c.Close()
			continue
		}
		if !r.track(c, up) {
			return
		}
		r.conns.Add(1)
		r.wg.Add(2)
		go r.pipe(up, c)
		go r.pipe(c, up)
	}
}

// track remembers the pair for close; false once the relay is closed.
func (r *delayRelay) track(cs ...net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		r.open[c] = true
	}
	return true
}

// chunk is bytes read at a time, to be written at due.
type chunk struct {
	data []byte
	due  time.Time
}

// pipe copies src to dst, each chunk delay (±jitter, never out of order)
// after it was read; an end or error on either side closes both.
func (r *delayRelay) pipe(dst, src net.Conn) {
	defer r.wg.Done()
	q := make(chan chunk, 1024)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ch := range q {
			time.Sleep(time.Until(ch.due))
			if _, err := dst.Write(ch.data); err != nil {
				break
			}
		}
		dst.Close()
		src.Close()
		for range q { // let the reader finish
		}
	}()
	var last time.Time
	for {
		buf := make([]byte, 32<<10)
		n, err := src.Read(buf)
		if n > 0 {
			due := time.Now().Add(r.delay + time.Duration(rand.Int64N(int64(r.jitter)+1)))
			if due.Before(last) {
				due = last // TCP is a stream: no chunk overtakes another
			}
			last = due
			q <- chunk{data: buf[:n], due: due}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				src.Close()
			}
			break
		}
	}
	close(q)
	<-done
}

// close stops accepting, closes every connection and waits for the pipes.
func (r *delayRelay) close() {
	r.mu.Lock()
	r.closed = true
	for c := range r.open {
		c.Close()
	}
	r.mu.Unlock()
	r.ln.Close()
	r.wg.Wait()
}
