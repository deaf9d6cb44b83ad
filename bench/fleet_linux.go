package main

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
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/client"
	"github.com/hoist-jit/hoist/link"
	"github.com/hoist-jit/hoist/wire"
)

// agentsPerAddress is how many simulated agents share one 127.x.y.z source
// address: far below the ~28,000 ephemeral ports of one address, so that
// 50,000 connections to one server port never run out.
const agentsPerAddress = 200

// fleet is the simulated agents of one run against one server. Each agent
// is enrolled for real (a key of its own, a CSR, the one-time token) and
// then behaves as hoistd's link does: one mutual-TLS connection (HTTP/2)
// from its own source address, a long poll of /agent/v1/events that it
// renews at once, and a check-in at the configured interval.
type fleet struct {
	ctx    context.Context
	cancel context.CancelFunc
	caPool *x509.CertPool
	admin  *client.Client
	enrol  *http.Client // the enrolment calls: pinned TLS, no client certificate
	// addrByte is the second byte of the source addresses, so that two runs
	// in one harness never meet each other's TIME_WAIT sockets.
	addrByte     byte
	checkinEvery time.Duration
	probes       int           // agents 0..probes-1 check in every probeEvery too
	probeEvery   time.Duration // so that a window holds enough check-ins at every size

	mu       sync.Mutex
	agents   []*simAgent
	numbered atomic.Int64 // agent numbers handed out, failed ones included

	checkins    latencies // every check-in after the first
	connects    latencies // enrolment + first check-in, TLS handshake included
	pollErrors  atomic.Int64
	waiters     sync.Map // request id → chan time.Time, for the push measurement
	stopPolling sync.WaitGroup
	// probe watches PostgreSQL during the approvals measurement; nil on
	// SQLite.
	probe *pgProbe

	// bases are the replicas' addresses: agent n enrols with and connects
	// to bases[n%len(bases)]. One server: bases is {base}.
	bases []*url.URL
	// first and stride number this fleet's agents first, first+stride, …:
	// several fleet processes share one run's numbers (and so its source
	// addresses) without meeting. One process: 0 and 1.
	first, stride int
	// byReplica is checkins by the replica the agent is on.
	byReplica []latencies
}

type simAgent struct {
	f        *fleet
	n        int
	base     *url.URL // the replica the agent is on
	replica  int      // its index in fleet.bases
	id       string
	hc       *http.Client
	grantKey ed25519.PublicKey
	facts    wire.AgentFacts
	revision string
	timer    *time.Timer
}

// tokenSource hands out enrolment secrets, asking the server for a new
// token when one is used up (a token enrols at most 10,000 machines).
//
// Each grow worker has its own: a token's use is spent under its row's
// lock until the enrolment commits, so one token for every worker
// enrolled one machine per commit (BENCHMARKS.md, 3 replicas). A fleet
// rolled out by several provisioning jobs, each with its token (or one
// token per machine, as the README advises), enrols the same way.
type tokenSource struct {
	admin   *client.Client
	secret  string
	usesKey int
}

func (t *tokenSource) next(ctx context.Context) (string, error) {
	if t.usesKey == 0 {
		ans, err := t.admin.EnrollToken(ctx, "", time.Hour, 10000)
		if err != nil {
			return "", err
		}
		tok, err := wire.ParseEnrollToken(ans.Token)
		if err != nil {
			return "", err
		}
		t.secret, t.usesKey = tok.Secret, 10000
	}
	t.usesKey--
	return t.secret, nil
}

func newFleet(srv *serverProc, admin *client.Client, caPEM []byte, addrByte byte, checkinEvery time.Duration, probes int) (*fleet, error) {
	return newFleetOn([]string{srv.URL}, admin, caPEM, addrByte, checkinEvery, probes)
}

// newFleetOn is a fleet spread over the replicas at urls (agent n on
// urls[n%len(urls)]); admin hands out its enrolment tokens.
func newFleetOn(urls []string, admin *client.Client, caPEM []byte, addrByte byte, checkinEvery time.Duration, probes int) (*fleet, error) {
	var bases []*url.URL
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil {
			return nil, err
		}
		bases = append(bases, u)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no CA certificate")
	}
	ctx, cancel := context.WithCancel(context.Background())
	f := &fleet{ctx: ctx, cancel: cancel, bases: bases, stride: 1, byReplica: make([]latencies, len(bases)), caPool: pool, admin: admin,
		addrByte: addrByte, checkinEvery: checkinEvery, probes: probes, probeEvery: time.Second,
		enrol: &http.Client{Timeout: time.Minute, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 16}}}
	return f, nil
}

func (f *fleet) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.agents)
}

func (f *fleet) agent(i int) *simAgent {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.agents[i]
}

// sourceAddr is agent n's source address: 127.B.x.y, agentsPerAddress
// agents to each.
func (f *fleet) sourceAddr(n int) net.IP {
	k := n / agentsPerAddress
	return net.IPv4(127, f.addrByte, byte(k/250), byte(k%250+1))
}

// grow enrols and connects agents until the fleet has target, with workers
// at once. It gives up after a few dozen failures: a harness that cannot
// connect has found a limit, not a figure.
func (f *fleet) grow(ctx context.Context, target, workers int) error {
	var failures atomic.Int64
	var lastErr atomic.Value
	for attempt := 0; f.size() < target && attempt < 3 && ctx.Err() == nil; attempt++ {
		next := make(chan int)
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tokens := &tokenSource{admin: f.admin} // see tokenSource
				for n := range next {
					start := time.Now()
					a, err := f.connect(ctx, n, tokens)
					if err != nil {
						f.connects.fail()
						failures.Add(1)
						lastErr.Store(err)
						continue
					}
					f.connects.add(time.Since(start))
					f.mu.Lock()
					f.agents = append(f.agents, a)
					f.mu.Unlock()
				}
			}()
		}
		for need := target - f.size(); need > 0 && failures.Load() < 25 && ctx.Err() == nil; need-- {
			next <- f.first + f.stride*int(f.numbered.Add(1)-1)
		}
		close(next)
		wg.Wait()
	}
	if f.size() < target {
		err, _ := lastErr.Load().(error)
		return fmt.Errorf("connected %d of %d agents (%d failures; last: %v)", f.size(), target, failures.Load(), err)
	}
	return nil
}

// connect enrols agent n and brings it online: the first check-in (which
// opens its connection) and then its long poll and its check-ins.
func (f *fleet) connect(ctx context.Context, n int, tokens *tokenSource) (*simAgent, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	host := fmt.Sprintf("sim-%d.bench.invalid", n)
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: host}}, key)
	if err != nil {
		return nil, err
	}
	secret, err := tokens.next(ctx)
	if err != nil {
		return nil, err
	}
	facts := wire.AgentFacts{Hostname: host, Version: hoist.Version, OS: "linux", Kernel: "6.1.0-bench"}
	var enr wire.Enrolment
	body := wire.EnrollBody{Secret: secret, CSR: base64.StdEncoding.EncodeToString(csr), Facts: facts}
	replica := n % len(f.bases)
	if _, err := call(ctx, f.enrol, f.bases[replica], "POST", "/agent/v1/enroll", nil, body, &enr); err != nil {
		return nil, fmt.Errorf("enrol: %w", err)
	}
	block, _ := pem.Decode([]byte(enr.Certificate))
	grantKey, _ := base64.StdEncoding.DecodeString(enr.GrantKey)
	if block == nil || len(grantKey) != ed25519.PublicKeySize {
		return nil, errors.New("enrol: no certificate or grant key in the answer")
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: f.caPool,
			Certificates: []tls.Certificate{{Certificate: [][]byte{block.Bytes}, PrivateKey: key}}},
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second, LocalAddr: &net.TCPAddr{IP: f.sourceAddr(n)}}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		ForceAttemptHTTP2:   true,
	}
	a := &simAgent{f: f, n: n, base: f.bases[replica], replica: replica, id: enr.AgentID, hc: &http.Client{Transport: tr}, grantKey: grantKey, facts: facts}
	if _, err := a.checkin(ctx); err != nil {
		tr.CloseIdleConnections()
		return nil, fmt.Errorf("first check-in: %w", err)
	}
	f.stopPolling.Add(1)
	go a.poll()
	// The next check-in falls anywhere in the interval, as it would in a
	// fleet whose machines started at different times.
	a.timer = time.AfterFunc(mrand.N(a.every()), a.scheduledCheckin)
	return a, nil
}

func (a *simAgent) every() time.Duration {
	if a.n < a.f.probes {
		return a.f.probeEvery
	}
	return a.f.checkinEvery
}

func (a *simAgent) scheduledCheckin() {
	if a.f.ctx.Err() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(a.f.ctx, 30*time.Second)
	start := time.Now()
	_, err := a.checkin(ctx)
	cancel()
	if err != nil {
		if a.f.ctx.Err() == nil {
			a.f.checkins.fail()
			a.f.byReplica[a.replica].fail()
		}
	} else {
		took := time.Since(start)
		a.f.checkins.add(took)
		a.f.byReplica[a.replica].add(took)
	}
	a.timer.Reset(a.every())
}

// checkin reports the agent's facts and the bundle revision it holds; a new
// bundle is taken and confirmed with a second check-in, as link.Checkin does.
func (a *simAgent) checkin(ctx context.Context) (newBundle bool, err error) {
	for range 2 {
		facts := a.facts
		facts.Revision = a.revision
		var ans struct {
			Bundle *struct {
				Revision string `json:"revision"`
			} `json:"bundle"`
		}
		status, err := call(ctx, a.hc, a.base, "POST", "/agent/v1/checkin", nil, facts, &ans)
		if err != nil {
			return newBundle, err
		}
		if status == http.StatusNoContent || ans.Bundle == nil {
			return newBundle, nil
		}
		a.revision, newBundle = ans.Bundle.Revision, true
	}
	return newBundle, nil
}

// poll is the agent's long poll, renewed at once after every answer. An
// approval's grant is checked against the pinned key, as hoistd checks it,
// before it counts as arrived.
func (a *simAgent) poll() {
	defer a.f.stopPolling.Done()
	var after int64
	for a.f.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(a.f.ctx, link.PollWait+30*time.Second)
		var ans wire.EventsAnswer
		q := url.Values{"after": {strconv.FormatInt(after, 10)}, "wait": {strconv.Itoa(int(link.PollWait / time.Second))}}
		_, err := call(ctx, a.hc, a.base, "GET", "/agent/v1/events", q, nil, &ans)
		cancel()
		if err != nil {
			if a.f.ctx.Err() == nil {
				a.f.pollErrors.Add(1)
				select {
				case <-a.f.ctx.Done():
				case <-time.After(time.Second + mrand.N(time.Second)):
				}
			}
			continue
		}
		now := time.Now()
		for _, ev := range ans.Events {
			if ev.Kind != hoist.AgentEventApproved {
				continue
			}
			if _, err := hoist.VerifyGrant(a.grantKey, ev.Grant, a.id, now); err != nil {
				continue
			}
			if ch, ok := a.f.waiters.LoadAndDelete(ev.RequestID); ok {
				ch.(chan time.Time) <- time.Now()
			}
		}
		after = max(after, ans.Cursor)
	}
}

// request files a JIT request for user through the agent, as hoistd does
// for "hoist request".
func (a *simAgent) request(ctx context.Context, user string) (string, error) {
	var ans wire.AgentRequestAnswer
	_, err := call(ctx, a.hc, a.base, "POST", "/agent/v1/requests", nil,
		wire.AgentRequestBody{User: user, Duration: "10m", Reason: "bench"}, &ans)
	return ans.Request.ID, err
}

// close disconnects every agent and waits for their polls to end.
func (f *fleet) close() {
	f.cancel()
	f.mu.Lock()
	agents := f.agents
	f.mu.Unlock()
	for _, a := range agents {
		a.timer.Stop()
	}
	f.stopPolling.Wait()
	for _, a := range agents {
		a.hc.CloseIdleConnections()
	}
	f.enrol.CloseIdleConnections()
}

// call sends one JSON request and decodes the answer; like link's, with the
// status returned.
func call(ctx context.Context, hc *http.Client, base *url.URL, method, path string, q url.Values, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	u := *base
	u.Path, u.RawQuery = path, q.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return resp.StatusCode, err
	}
	if resp.StatusCode >= 300 {
		return resp.StatusCode, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil && resp.StatusCode != http.StatusNoContent {
		if err := json.Unmarshal(data, out); err != nil {
			return resp.StatusCode, err
		}
	}
	return resp.StatusCode, nil
}
