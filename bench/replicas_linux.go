package main

import (
	"context"
	"fmt"
	"io"
	"log"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hoist-jit/hoist/client"
	"github.com/hoist-jit/hoist/server"
)

// replicaConfig bounds the run of several replicas on one PostgreSQL.
type replicaConfig struct {
	Replicas    int           // hoist-server processes on the one database
	Steps       []int         // fleet sizes, all replicas together, ascending
	PerProcess  int           // agents one fleet process holds at most
	PushSamples int           // approvals per push measurement, of each kind
	PushLimit   time.Duration // push p99 (either kind) that fails a size
	Deadline    time.Duration // the whole part stops growing after this
	AddrByte    byte          // second byte of the fleet's source addresses
}

// replicaUsage is one replica at one size.
type replicaUsage struct {
	Replica  int     `json:"replica"`
	Agents   int     `json:"agents"`
	Checkins summary `json:"checkins"`
	RSSMiB   float64 `json:"rss_mib"`
	PeakMiB  float64 `json:"peak_mib"`
	CPU      float64 `json:"cpu_cores"`
	Threads  int     `json:"threads"`
	// Sched is how long the server's goroutines waited to run in the window.
	Sched *schedWindow `json:"sched,omitempty"`
}

// replicaStep is what one fleet size measured across the replicas.
type replicaStep struct {
	Agents int `json:"agents"`
	// Partial is a size the time limit cut short: Agents were connected
	// of the Target the step was growing to.
	Partial     bool           `json:"partial,omitempty"`
	Target      int            `json:"target,omitempty"`
	GrowSeconds float64        `json:"grow_seconds"`
	Connect     summary        `json:"connect"`
	Checkins    summary        `json:"checkins"` // every replica's together
	PollErrors  int64          `json:"poll_errors"`
	Replicas    []replicaUsage `json:"replicas"`
	RSSMiB      float64        `json:"total_rss_mib"`   // the servers', summed
	CPU         float64        `json:"total_cpu_cores"` // the servers', summed
	FleetRSSMiB float64        `json:"fleet_rss_mib"`   // the fleet processes', summed
	// FleetSched is the fleet processes' waits to run in the window (the
	// worst p99 and longest of them; the waits over 100 ms and the
	// collectors' CPU summed): a check-in's time as the fleet measures it
	// includes its own goroutine's wait for a core.
	FleetSched *schedWindow `json:"fleet_sched,omitempty"`
	// PushSame is approval through the API of the replica the agent polls;
	// PushCross through another replica's, which reaches the agent by
	// PostgreSQL NOTIFY.
	PushSame    *summary `json:"push_same,omitempty"`
	PushCross   *summary `json:"push_cross,omitempty"`
	ApproveCall *summary `json:"approve_call,omitempty"`
	OK          bool     `json:"ok"`
	Why         string   `json:"why,omitempty"`
}

// replicasResult is the run of several replicas.
type replicasResult struct {
	Replicas   int           `json:"replicas"`
	FleetProcs int           `json:"fleet_processes"`
	Steps      []replicaStep `json:"steps"`
	Largest    int           `json:"largest_ok"`
	Stopped    string        `json:"stopped"`
	Seconds    float64       `json:"seconds"`
	StartSecs  float64       `json:"start_seconds"` // PostgreSQL, the servers, the fleet processes
}

// replicaRun is the state of one run of several replicas.
type replicaRun struct {
	cfg    capacityConfig
	rc     replicaConfig
	srvs   []*serverProc
	admins []*client.Client
	procs  []*fleetProc
	probe  *pgProbe // nil without a profile directory
}

// runReplicas starts rc.Replicas servers on one PostgreSQL (sharing the CA
// and the keys, as replicas must), spreads a fleet over them from several
// fleet processes, and grows it through rc.Steps, measuring check-ins on
// each replica, push from an approval on the agent's own replica and on
// another, and each replica's memory and CPU.
func runReplicas(cfg capacityConfig, rc replicaConfig) (res replicasResult, err error) {
	began := time.Now()
	res.Replicas = rc.Replicas
	root, err := os.MkdirTemp("", "hoist-bench-replicas-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(root)
	pg, err := startPostgres()
	if err != nil {
		return res, err
	}
	defer pg.Stop()
	r := &replicaRun{cfg: cfg, rc: rc}
	defer r.stop()
	if cfg.ProfileDir != "" {
		// Where the first step's growth goes: the database's waits and one
		// replica's CPU (see growProfiled).
		if r.probe, err = newPGProbe(pg.URL("hoist"), cfg.ProfileDir); err != nil {
			return res, err
		}
		defer r.probe.close()
	}
	password := randomPassword()
	if err := r.startServers(root, pg.URL("hoist"), password); err != nil {
		return res, err
	}
	ctx := context.Background()
	for _, p := range jitPolicies {
		if _, err := r.admins[0].SetPolicyActive(ctx, p, true); err != nil {
			return res, fmt.Errorf("activate %q: %w", p, err)
		}
	}
	top := rc.Steps[len(rc.Steps)-1]
	res.FleetProcs = (top + rc.PerProcess - 1) / rc.PerProcess
	spec := fleetSpec{CAPath: r.srvs[0].CAPath, Password: password, AddrByte: rc.AddrByte, Procs: res.FleetProcs,
		CheckinEvery: cfg.CheckinEvery, Probes: cfg.Probes}
	for _, s := range r.srvs {
		spec.URLs = append(spec.URLs, s.URL)
	}
	for i := range res.FleetProcs {
		p, err := startFleetProc(spec, i)
		if err != nil {
			return res, err
		}
		r.procs = append(r.procs, p)
	}
	res.StartSecs = time.Since(began).Seconds()
	log.Printf("%d replicas: servers and %d fleet processes up in %.0f s", rc.Replicas, res.FleetProcs, res.StartSecs)

	deadline := began.Add(rc.Deadline)
	res.Stopped = "every step passed"
	failedInARow := 0
	for _, n := range rc.Steps {
		log.Printf("%d replicas: growing the fleet to %d agents", rc.Replicas, n)
		st := replicaStep{Agents: n}
		grown := time.Now()
		var connect summary
		if len(res.Steps) == 0 {
			connect, err = r.growProfiled(ctx, n, deadline)
		} else {
			connect, err = r.grow(ctx, n, deadline)
		}
		st.Connect = connect
		st.GrowSeconds = time.Since(grown).Seconds()
		if err != nil && time.Now().After(deadline) {
			// The fleet held when the time ran out is measured as it is:
			// the largest size this part reached.
			held := r.size(ctx)
			res.Stopped = fmt.Sprintf("at the part's time limit (%s) while growing to %s agents (%s connected)", rc.Deadline, thousands(n), thousands(held))
			if len(res.Steps) > 0 && held <= res.Steps[len(res.Steps)-1].Agents {
				break
			}
			st.Agents, st.Target, st.Partial = held, n, true
			r.step(ctx, &st)
			if st.OK {
				res.Largest = held
			}
			res.Steps = append(res.Steps, st)
			break
		}
		if err != nil {
			st.Why = "could not connect: " + err.Error()
			res.Steps = append(res.Steps, st)
			res.Stopped = fmt.Sprintf("at %s agents: %s", thousands(n), st.Why)
			break
		}
		r.step(ctx, &st)
		if st.OK {
			res.Largest = n
		}
		res.Steps = append(res.Steps, st)
		if failedInARow = failedInARow + 1; st.OK {
			failedInARow = 0
		}
		if failedInARow == 2 {
			res.Stopped = fmt.Sprintf("at %s agents, the second size in a row to fail: %s", thousands(n), st.Why)
			break
		}
		if time.Now().After(deadline) {
			res.Stopped = fmt.Sprintf("the part's time limit (%s) after %s agents", rc.Deadline, thousands(n))
			break
		}
	}
	log.Printf("%d replicas: disconnecting", rc.Replicas)
	r.stop()
	res.Seconds = time.Since(began).Seconds()
	return res, nil
}

// step measures one size: check-ins and usage over a window, then push;
// and judges it.
func (r *replicaRun) step(ctx context.Context, st *replicaStep) {
	r.measure(ctx, st)
	st.PushSame, st.PushCross, st.ApproveCall = r.measurePush(ctx, r.rc.PushSamples)
	r.judge(st)
	log.Printf("%d replicas, %d agents: check-in p50 %.1f ms p99 %.1f ms (%d, %d failed); push same p99 %.1f ms, cross p99 %.1f ms; servers %.0f MiB, %.2f cores; fleet %.0f MiB",
		r.rc.Replicas, st.Agents, st.Checkins.P50, st.Checkins.P99, st.Checkins.N, st.Checkins.Errors,
		st.PushSame.P99, st.PushCross.P99, st.RSSMiB, st.CPU, st.FleetRSSMiB)
}

// size is the agents the fleet processes hold.
func (r *replicaRun) size(ctx context.Context) int {
	n := 0
	for _, rep := range r.take(ctx) {
		n += rep.Agents
	}
	return n
}

// startServers starts the first replica, which makes the schema, the CA
// and the keys, then the others on copies of its data directory (as an
// operator gives every replica the same CA and keys), and logs in to each.
func (r *replicaRun) startServers(root, dbURL, password string) error {
	for i := range r.rc.Replicas {
		dir := filepath.Join(root, fmt.Sprintf("replica-%d", i))
		if i > 0 {
			if err := copyKeys(filepath.Join(root, "replica-0"), dir); err != nil {
				return err
			}
		}
		s, err := startServer(dir, dbURL, password)
		if err != nil {
			return fmt.Errorf("replica %d: %w", i, err)
		}
		r.srvs = append(r.srvs, s)
		admin, _, err := adminClient(s, password)
		if err != nil {
			return fmt.Errorf("replica %d: %w", i, err)
		}
		r.admins = append(r.admins, admin)
	}
	return nil
}

// copyKeys copies the files of a replica's data directory that the others
// must share (the CA, the grant and integration keys, the server
// certificate), leaving its log and audit checkpoints behind.
func copyKeys(from, to string) error {
	if err := os.MkdirAll(to, 0o700); err != nil {
		return err
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || e.Name() == "server.log" || e.Name() == server.CheckpointFile {
			continue
		}
		if err := copyFile(filepath.Join(from, e.Name()), filepath.Join(to, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm())
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// stop ends the fleet processes (their agents disconnect) and then the
// servers; it may be called again.
func (r *replicaRun) stop() {
	var wg sync.WaitGroup
	for _, p := range r.procs {
		wg.Add(1)
		go func() { defer wg.Done(); p.stop() }()
	}
	wg.Wait()
	r.procs = nil
	for _, s := range r.srvs {
		s.stop()
	}
	r.srvs = nil
}

// growProfileFor is how much of a growth the CPU profile of replica 0
// covers: the first step's growth lasts a minute or more.
const growProfileFor = 20 * time.Second

// growProfiled is grow with the PostgreSQL probe sampling the backends'
// waits and statements throughout (postgres-replicas-grow-N.txt) and a CPU
// profile of replica 0 over its first growProfileFor
// (replicas-grow-N.cpu.pprof), so that what bounds enrolment is on record.
func (r *replicaRun) growProfiled(ctx context.Context, n int, deadline time.Time) (s summary, err error) {
	if r.probe == nil {
		return r.grow(ctx, n, deadline)
	}
	var profiled sync.WaitGroup
	profiled.Add(1)
	go func() {
		defer profiled.Done()
		path := filepath.Join(r.cfg.ProfileDir, fmt.Sprintf("replicas-grow-%d.cpu.pprof", n))
		if err := r.srvs[0].cpuProfile(growProfileFor, path); err != nil {
			log.Printf("CPU profile of the growth: %v", err)
		}
	}()
	r.probe.during(fmt.Sprintf("replicas-grow-%d", n), func() int {
		before := r.size(ctx)
		s, err = r.grow(ctx, n, deadline)
		return r.size(ctx) - before
	})
	profiled.Wait()
	return s, err
}

// grow brings the fleet to n agents, each fleet process its share at once.
func (r *replicaRun) grow(ctx context.Context, n int, deadline time.Time) (summary, error) {
	var wg sync.WaitGroup
	errs := make([]error, len(r.procs))
	workers := max(8, r.cfg.ConnectWork/len(r.procs))
	var connects []time.Duration
	var connectErrors int
	var mu sync.Mutex
	for i, p := range r.procs {
		share := n / len(r.procs)
		if i < n%len(r.procs) {
			share++
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			rep, err := p.do(ctx, fleetCmd{Op: "grow", Target: share, Workers: workers, Deadline: deadline.UnixNano()})
			errs[i] = err
			if rep.Connect != nil {
				mu.Lock()
				connects = append(connects, rep.Connect.durations()...)
				connectErrors += rep.Connect.Errors
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	s := summarize(connects, connectErrors)
	for i, err := range errs {
		if err != nil {
			return s, fmt.Errorf("fleet process %d: %w", i, err)
		}
	}
	return s, nil
}

// measure lets the fleet settle, then holds it for one window and takes
// every check-in, by replica, and each server's and fleet process's usage.
func (r *replicaRun) measure(ctx context.Context, st *replicaStep) {
	time.Sleep(r.cfg.Settle)
	r.take(ctx) // what came before the window
	before := make([]usage, len(r.srvs))
	for i, s := range r.srvs {
		before[i], _ = readUsage(s.pid())
		_, _ = s.schedWindow() // from here
	}
	// The database's side of the window: its backends' waits and the
	// statements run (postgres-replicas-window-N.txt), per check-in.
	var reps []fleetReply
	r.probe.during(fmt.Sprintf("replicas-window-%d", st.Agents), func() int {
		time.Sleep(r.cfg.Window)
		reps = r.take(ctx)
		n := 0
		for _, rep := range reps {
			for _, s := range rep.Checkins {
				n += len(s.Micros)
			}
		}
		return n
	})
	byReplica := make([][]time.Duration, len(r.srvs))
	errs := make([]int, len(r.srvs))
	st.Replicas = make([]replicaUsage, len(r.srvs))
	for _, rep := range reps {
		st.PollErrors += rep.PollErrors
		st.FleetSched = worseSched(st.FleetSched, rep.Sched)
		for i, s := range rep.Checkins {
			if i < len(byReplica) {
				byReplica[i] = append(byReplica[i], s.durations()...)
				errs[i] += s.Errors
			}
		}
		for i, k := range rep.ByReplica {
			if i < len(st.Replicas) {
				st.Replicas[i].Agents += k
			}
		}
	}
	var all []time.Duration
	allErrs := 0
	for i, s := range r.srvs {
		after, _ := readUsage(s.pid())
		u := &st.Replicas[i]
		u.Replica, u.Checkins = i, summarize(byReplica[i], errs[i])
		u.RSSMiB, u.PeakMiB, u.CPU, u.Threads = mib(after.rssKiB), mib(after.hwmKiB), cpuShare(before[i], after), after.threads
		if w, err := s.schedWindow(); err == nil {
			u.Sched = &w
		}
		st.RSSMiB += u.RSSMiB
		st.CPU += u.CPU
		all = append(all, byReplica[i]...)
		allErrs += errs[i]
	}
	st.Checkins = summarize(all, allErrs)
	for _, p := range r.procs {
		if u, err := readUsage(p.pid()); err == nil {
			st.FleetRSSMiB += mib(u.rssKiB)
		}
	}
}

// take asks every fleet process for what it collected since the last take.
func (r *replicaRun) take(ctx context.Context) []fleetReply {
	reps := make([]fleetReply, len(r.procs))
	var wg sync.WaitGroup
	for i, p := range r.procs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reps[i], _ = p.do(ctx, fleetCmd{Op: "take"})
		}()
	}
	wg.Wait()
	return reps
}

// pushBudget bounds one size's push measurement, so that a fleet whose
// grants stop arriving cannot hold the run for samples × the timeout.
const pushBudget = 90 * time.Second

// measurePush files requests through random agents and approves each
// through an admin's API, alternately on the replica the agent polls and
// on another one, timing approval → that agent's long poll brought the
// grant and it verified (stamped in the fleet process, by the wall clock
// both processes share).
func (r *replicaRun) measurePush(ctx context.Context, samples int) (same, cross, approveCall *summary) {
	var lats [2][]time.Duration
	var fails [2]int
	var calls []time.Duration
	stop := time.Now().Add(pushBudget)
	for i := range 2 * samples {
		kind := i % 2 // 0: same replica, 1: another
		if time.Now().After(stop) {
			break // fewer samples, not lost ones
		}
		p := r.procs[mrand.IntN(len(r.procs))]
		filed, err := p.do(ctx, fleetCmd{Op: "request"})
		if err != nil {
			fails[kind]++
			continue
		}
		via := filed.Replica
		if kind == 1 {
			via = (filed.Replica + 1 + mrand.IntN(len(r.srvs)-1)) % len(r.srvs)
		}
		start := time.Now()
		res, err := r.admins[via].Approve(ctx, []string{filed.ID}, 10*time.Minute, "")
		calls = append(calls, time.Since(start))
		if err != nil || len(res) != 1 || !res[0].OK {
			fails[kind]++
			_, _ = p.do(ctx, fleetCmd{Op: "await", ID: filed.ID}) // forgets the waiter at once
			continue
		}
		got, err := p.do(ctx, fleetCmd{Op: "await", ID: filed.ID, Timeout: int64(30 * time.Second)})
		if err != nil {
			fails[kind]++
			continue
		}
		lats[kind] = append(lats[kind], time.Unix(0, got.At).Sub(start))
	}
	s, c, a := summarize(lats[0], fails[0]), summarize(lats[1], fails[1]), summarize(calls, 0)
	return &s, &c, &a
}

// judge says whether a size passed: check-ins within the p99 limit and
// almost none failed, push of either kind within its limit, the servers'
// RSS together within the limit.
func (r *replicaRun) judge(st *replicaStep) {
	errRate := float64(st.Checkins.Errors) / float64(max(1, st.Checkins.N+st.Checkins.Errors))
	worstPush := max(st.PushSame.P99, st.PushCross.P99)
	lost := st.PushSame.Errors + st.PushCross.Errors
	switch {
	case st.Checkins.N == 0:
		st.Why = "no check-in completed in the window"
	case st.Checkins.P99 >= ms(r.cfg.P99Limit):
		st.Why = fmt.Sprintf("check-in p99 %.0f ms ≥ %.0f ms", st.Checkins.P99, ms(r.cfg.P99Limit))
	case errRate > 0.001:
		st.Why = fmt.Sprintf("%.1f%% of check-ins failed", 100*errRate)
	case worstPush >= ms(r.rc.PushLimit):
		st.Why = fmt.Sprintf("push p99 %.0f ms ≥ %.0f ms", worstPush, ms(r.rc.PushLimit))
	case lost > 0:
		st.Why = fmt.Sprintf("%d of the pushed approvals did not arrive", lost)
	case st.RSSMiB > r.cfg.RSSLimitMiB:
		st.Why = fmt.Sprintf("servers' RSS %.0f MiB > %.0f MiB", st.RSSMiB, r.cfg.RSSLimitMiB)
	default:
		st.OK = true
	}
}

// parseCounts reads a comma-separated list of numbers, each at least least.
func parseCounts(list string, least int) ([]int, error) {
	var out []int
	for _, s := range strings.Split(list, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < least {
			return nil, fmt.Errorf("%q is not a list of numbers ≥ %d", list, least)
		}
		out = append(out, n)
	}
	return out, nil
}

// runReplicas runs the capacity run of each number of replicas above one
// that o asks for, on PostgreSQL, into r.Replicas.
func (r *report) runReplicas(o options, fileLimit uint64) {
	if !slices.Contains(o.stores, "postgres") {
		return
	}
	for _, n := range o.replicas {
		if n < 2 {
			continue
		}
		rc := o.replica
		rc.Replicas, rc.AddrByte = n, byte(100+n)
		// A fleet process holds one descriptor per agent too.
		rc.PerProcess = max(1, min(rc.PerProcess, int(fileLimit)-1000))
		// Each server holds one descriptor per agent on it; keep the
		// headroom the one-server search keeps.
		if limit := n * (int(fileLimit) - 500); rc.Steps[len(rc.Steps)-1] > limit {
			log.Printf("the open-file limit is %d: %d replicas stop at %d agents", fileLimit, n, limit)
			rc.Steps = append(slices.DeleteFunc(slices.Clone(rc.Steps), func(k int) bool { return k >= limit }), limit)
		}
		section := fmt.Sprintf("capacity with %d PostgreSQL replicas", n)
		r.noteLoad(section)
		res, err := runReplicas(o.capacity, rc)
		if err != nil {
			r.failed(section, err)
			continue
		}
		r.Replicas = append(r.Replicas, res)
	}
}
