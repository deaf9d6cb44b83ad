package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hoist-jit/hoist/client"
)

// fleetChildArg is the first argument with which the harness runs itself as
// a fleet process: one share of a fleet too large for one process's
// open-file limit (each simulated agent holds a connection). The parent
// drives it with one JSON command a line on its standard input and reads
// one JSON reply a line, tagged with the command's seq, on its standard
// output; commands run at once, each in its own goroutine. The process ends
// when its standard input closes: the harness ended, however it ended.
const fleetChildArg = "fleet-child"

// fleetAdminPasswordEnv passes the first admin's password to a fleet
// process, which asks the server for its own enrolment tokens.
const fleetAdminPasswordEnv = "HOIST_BENCH_ADMIN_PASSWORD"

// fleetCmd is one command to a fleet process.
type fleetCmd struct {
	Seq int64  `json:"seq"`
	Op  string `json:"op"` // hello, grow, take, request, await

	Target   int   `json:"target,omitempty"`   // grow: this process's agents
	Workers  int   `json:"workers,omitempty"`  // grow: enrolments at once
	Deadline int64 `json:"deadline,omitempty"` // grow: give up at this time (Unix ns)

	ID      string `json:"id,omitempty"`      // await: the request
	Timeout int64  `json:"timeout,omitempty"` // await: how long, in ns
}

// fleetReply is a fleet process's answer to one command.
type fleetReply struct {
	Seq int64  `json:"seq"`
	Err string `json:"err,omitempty"`

	Agents    int   `json:"agents"`               // every reply: agents connected
	ByReplica []int `json:"by_replica,omitempty"` // take: agents on each replica

	Connect    *samples     `json:"connect,omitempty"`  // grow: enrolment and first check-in of each new agent
	Checkins   []samples    `json:"checkins,omitempty"` // take: check-ins since the last take, by replica
	PollErrors int64        `json:"poll_errors"`        // take: failed long polls since the last take
	Sched      *schedWindow `json:"sched,omitempty"`    // take: this process's waits to run since the last take

	ID      string `json:"id,omitempty"` // request: the request filed
	Replica int    `json:"replica"`      // request: the replica of the agent that filed it
	At      int64  `json:"at,omitempty"` // await: when its grant arrived and verified (Unix ns)
}

// samples are raw latencies, so that the parent ranks every process's
// together.
type samples struct {
	Micros []int64 `json:"us"`
	Errors int     `json:"errors"`
}

// drain returns what l collected since the last drain or take, and starts
// afresh.
func (l *latencies) drain() samples {
	l.mu.Lock()
	d, errs := l.d, l.errors
	l.d, l.errors = nil, 0
	l.mu.Unlock()
	s := samples{Micros: make([]int64, len(d)), Errors: errs}
	for i, v := range d {
		s.Micros[i] = v.Microseconds()
	}
	return s
}

func (s samples) durations() []time.Duration {
	d := make([]time.Duration, len(s.Micros))
	for i, us := range s.Micros {
		d[i] = time.Duration(us) * time.Microsecond
	}
	return d
}

// fleetChild is a fleet process's main.
func fleetChild(args []string) error {
	fs := flag.NewFlagSet(fleetChildArg, flag.ContinueOnError)
	urls := fs.String("urls", "", "the replicas' URLs, comma-separated")
	caPath := fs.String("ca", "", "the servers' CA certificate")
	addrByte := fs.Int("addr-byte", 100, "second byte of the source addresses")
	first := fs.Int("first", 0, "this process's first agent number")
	stride := fs.Int("stride", 1, "the step between its agent numbers")
	every := fs.Duration("checkin-every", 5*time.Minute, "check-in interval")
	probes := fs.Int("probes", 0, "agents (by number, fleet-wide) that check in every second")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if _, err := raiseFileLimit(); err != nil {
		return err
	}
	// As the harness: memory for less time collecting garbage, but less of
	// it, since several of these share the machine with the servers.
	debug.SetGCPercent(200)
	caPEM, err := os.ReadFile(*caPath)
	if err != nil {
		return err
	}
	list := strings.Split(*urls, ",")
	admin, err := client.New(list[0], caPEM, "")
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	_, err = admin.Login(ctx, "admin", os.Getenv(fleetAdminPasswordEnv))
	cancel()
	if err != nil {
		return fmt.Errorf("admin login: %w", err)
	}
	f, err := newFleetOn(list, admin, caPEM, byte(*addrByte), *every, *probes)
	if err != nil {
		return err
	}
	f.first, f.stride = *first, *stride
	defer f.close()
	w := &fleetWorker{f: f, out: json.NewEncoder(os.Stdout)}
	dec := json.NewDecoder(bufio.NewReader(os.Stdin))
	for {
		var c fleetCmd
		if err := dec.Decode(&c); err != nil {
			return nil // the parent closed our input: the run is over
		}
		go w.answer(c)
	}
}

// fleetWorker serves the parent's commands on one fleet.
type fleetWorker struct {
	f        *fleet
	mu       sync.Mutex // one reply a line
	out      *json.Encoder
	awaiting sync.Map // request id → chan time.Time, filed and not yet awaited
	filed    atomic.Int64
	waits    schedWaits
}

func (w *fleetWorker) answer(c fleetCmd) {
	r, err := w.do(c)
	r.Seq, r.Agents = c.Seq, w.f.size()
	if err != nil {
		r.Err = err.Error()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	_ = w.out.Encode(r)
}

func (w *fleetWorker) do(c fleetCmd) (fleetReply, error) {
	var r fleetReply
	f := w.f
	switch c.Op {
	case "hello":
		return r, nil
	case "grow":
		ctx, cancel := context.WithDeadline(f.ctx, time.Unix(0, c.Deadline))
		defer cancel()
		err := f.grow(ctx, c.Target, max(1, c.Workers))
		s := f.connects.drain()
		r.Connect = &s
		return r, err
	case "take":
		r.ByReplica = make([]int, len(f.bases))
		f.mu.Lock()
		for _, a := range f.agents {
			r.ByReplica[a.replica]++
		}
		f.mu.Unlock()
		for i := range f.byReplica {
			r.Checkins = append(r.Checkins, f.byReplica[i].drain())
		}
		f.checkins.take() // the same check-ins, counted by replica above
		r.PollErrors = f.pollErrors.Swap(0)
		sched := w.waits.window()
		r.Sched = &sched
		return r, nil
	case "request":
		if f.size() == 0 {
			return r, errors.New("no agent connected")
		}
		a := f.agent(mrand.IntN(f.size()))
		ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
		defer cancel()
		// A user of its own each time: a user with a session already
		// approved would be asking for an extension.
		id, err := a.request(ctx, fmt.Sprintf("push-%d-%d", a.n, w.filed.Add(1)))
		if err != nil {
			return r, err
		}
		arrived := make(chan time.Time, 1)
		f.waiters.Store(id, arrived)
		w.awaiting.Store(id, arrived)
		r.ID, r.Replica = id, a.replica
		return r, nil
	case "await":
		ch, ok := w.awaiting.LoadAndDelete(c.ID)
		if !ok {
			return r, fmt.Errorf("request %s was not filed here", c.ID)
		}
		select {
		case at := <-ch.(chan time.Time):
			r.At = at.UnixNano()
			return r, nil
		case <-time.After(time.Duration(c.Timeout)):
			f.waiters.Delete(c.ID)
			return r, errors.New("the grant did not arrive in time")
		}
	}
	return r, fmt.Errorf("unknown command %q", c.Op)
}

// fleetProc is a running fleet process, seen from the harness.
type fleetProc struct {
	cmd     *exec.Cmd
	mu      sync.Mutex // one command a line
	in      io.WriteCloser
	enc     *json.Encoder
	seq     atomic.Int64
	pending sync.Map // seq → chan fleetReply
	dead    chan struct{}
}

// fleetSpec is what every fleet process of one run shares.
type fleetSpec struct {
	URLs         []string
	CAPath       string
	Password     string
	AddrByte     byte
	Procs        int // the stride of the agent numbers
	CheckinEvery time.Duration
	Probes       int
}

// startFleetProc starts fleet process number first of spec.Procs and waits
// for it to have logged in.
func startFleetProc(spec fleetSpec, first int) (*fleetProc, error) {
	c, err := startChild([]string{fleetChildArg, "--urls", strings.Join(spec.URLs, ","), "--ca", spec.CAPath,
		"--addr-byte", strconv.Itoa(int(spec.AddrByte)), "--first", strconv.Itoa(first), "--stride", strconv.Itoa(spec.Procs),
		"--checkin-every", spec.CheckinEvery.String(), "--probes", strconv.Itoa(spec.Probes)},
		fleetAdminPasswordEnv+"="+spec.Password)
	if err != nil {
		return nil, err
	}
	p := &fleetProc{cmd: c.cmd, in: c.stdin, enc: json.NewEncoder(c.stdin), dead: make(chan struct{})}
	go p.read(c.stdout)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := p.do(ctx, fleetCmd{Op: "hello"}); err != nil {
		p.stop()
		return nil, fmt.Errorf("fleet process %d: %w", first, err)
	}
	return p, nil
}

// read hands each reply to the command waiting for it, until the process's
// output ends.
func (p *fleetProc) read(stdout io.Reader) {
	defer close(p.dead)
	dec := json.NewDecoder(bufio.NewReader(stdout))
	for {
		var r fleetReply
		if err := dec.Decode(&r); err != nil {
			return
		}
		if ch, ok := p.pending.LoadAndDelete(r.Seq); ok {
			ch.(chan fleetReply) <- r
		}
	}
}

// do sends c and waits for its reply; the reply's Err comes back as err.
func (p *fleetProc) do(ctx context.Context, c fleetCmd) (fleetReply, error) {
	c.Seq = p.seq.Add(1)
	ch := make(chan fleetReply, 1)
	p.pending.Store(c.Seq, ch)
	p.mu.Lock()
	err := p.enc.Encode(c)
	p.mu.Unlock()
	if err != nil {
		p.pending.Delete(c.Seq)
		return fleetReply{}, err
	}
	select {
	case r := <-ch:
		if r.Err != "" {
			return r, errors.New(r.Err)
		}
		return r, nil
	case <-p.dead:
		return fleetReply{}, errors.New("the fleet process ended")
	case <-ctx.Done():
		p.pending.Delete(c.Seq)
		return fleetReply{}, ctx.Err()
	}
}

func (p *fleetProc) pid() int { return p.cmd.Process.Pid }

// stop closes the process's input, which disconnects its agents and ends
// it, and kills it (by pid) if it has not ended within a minute.
func (p *fleetProc) stop() {
	p.in.Close()
	select {
	case <-p.dead: // its output ended: it is exiting
	case <-time.After(time.Minute):
		_ = p.cmd.Process.Kill()
	}
	_ = p.cmd.Wait()
}
