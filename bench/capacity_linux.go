package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hoist-jit/hoist/client"
)

// capacityConfig bounds one store's run.
type capacityConfig struct {
	Steps        []int         // fleet sizes to hold and measure, ascending
	PushAt       []int         // sizes at which approval push is measured
	PushSamples  int           // approvals per push measurement
	ApprovalsAt  int           // the size at which approvals per second are measured
	Approvals    int           // approvals per approvals-per-second measurement
	Window       time.Duration // measurement window at each size
	Settle       time.Duration // quiet time after growing, before the window
	CheckinEvery time.Duration // the agents' check-in interval
	Probes       int           // agents that check in every second
	P99Limit     time.Duration // the check-in p99 that ends the search
	RSSLimitMiB  float64       // server RSS that ends the search
	Deadline     time.Duration // the whole store's run stops growing after this
	ConnectWork  int           // enrolments and connections at once
	ProfileDir   string        // where CPU and heap profiles of the largest size go; "" for none
}

// stepResult is what one fleet size measured.
type stepResult struct {
	Agents        int      `json:"agents"`
	GrowSeconds   float64  `json:"grow_seconds"`
	Connect       summary  `json:"connect"`
	Checkins      summary  `json:"checkins"`
	PollErrors    int64    `json:"poll_errors"`
	ServerRSSMiB  float64  `json:"server_rss_mib"`
	ServerPeakMiB float64  `json:"server_peak_mib"`
	ServerCPU     float64  `json:"server_cpu_cores"`
	ServerGCCPU   float64  `json:"server_gc_cores,omitempty"` // the collector's share of ServerCPU
	ServerThreads int      `json:"server_threads"`
	HarnessRSSMiB float64  `json:"harness_rss_mib"`
	Push          *summary `json:"push,omitempty"`
	ApproveCall   *summary `json:"approve_call,omitempty"`
	OK            bool     `json:"ok"`
	Why           string   `json:"why,omitempty"`

	// ServerRuntime is where the server's memory is, by its Go runtime.
	ServerRuntime *goRuntime `json:"server_runtime,omitempty"`
}

// approvalRate is approvals per second, one request per call and in
// batches ("Approve Selected").
type approvalRate struct {
	Agents    int     `json:"agents"`
	Count     int     `json:"count"`
	Workers   int     `json:"workers"`
	Single    float64 `json:"single_per_second"`
	BatchSize int     `json:"batch_size"`
	Batched   float64 `json:"batched_per_second"`
	FileRate  float64 `json:"requests_filed_per_second"`
	Failures  int64   `json:"failures"`
}

// storeResult is one store's capacity run.
type storeResult struct {
	Store     string        `json:"store"`
	Steps     []stepResult  `json:"steps"`
	Largest   int           `json:"largest_ok"`
	Stopped   string        `json:"stopped"`
	Approvals *approvalRate `json:"approvals,omitempty"`
	Profiles  []string      `json:"profiles,omitempty"`
	Seconds   float64       `json:"seconds"`
}

var jitPolicies = []string{"JIT Mode (Startup and Approval)", "JIT Mode", "JIT Mode (Child Processes)"}

// runCapacity starts a server on store ("sqlite" or "postgres"), turns JIT
// mode on, and grows a fleet of simulated agents step by step, measuring
// check-ins at each size, approval push at some, approvals per second at
// one, until check-in p99 passes the limit or the steps end.
func runCapacity(store string, cfg capacityConfig, addrByte byte) (res storeResult, err error) {
	began := time.Now()
	res.Store = store
	dataDir, err := os.MkdirTemp("", "hoist-bench-"+store+"-")
	if err != nil {
		return res, err
	}
	defer os.RemoveAll(dataDir)
	var dbURL string
	if store == "postgres" {
		pg, err := startPostgres()
		if err != nil {
			return res, err
		}
		defer pg.Stop()
		dbURL = pg.URL("hoist")
	}
	password := randomPassword()
	srv, err := startServer(dataDir, dbURL, password)
	if err != nil {
		return res, err
	}
	defer srv.stop()
	admin, caPEM, err := adminClient(srv, password)
	if err != nil {
		return res, err
	}
	ctx := context.Background()
	for _, p := range jitPolicies {
		if _, err := admin.SetPolicyActive(ctx, p, true); err != nil {
			return res, fmt.Errorf("activate %q: %w", p, err)
		}
	}
	f, err := newFleet(srv, admin, caPEM, addrByte, cfg.CheckinEvery, cfg.Probes)
	if err != nil {
		return res, err
	}
	defer f.close()
	if dbURL != "" && cfg.ProfileDir != "" {
		if f.probe, err = newPGProbe(dbURL, cfg.ProfileDir); err != nil {
			return res, err
		}
		defer f.probe.close()
	}

	growCtx, stopGrowing := context.WithTimeout(ctx, cfg.Deadline)
	defer stopGrowing()
	res.Stopped = "every step passed"
	failedInARow := 0
	for _, n := range cfg.Steps {
		log.Printf("%s: growing the fleet to %d agents", store, n)
		st := stepResult{Agents: n}
		grown := time.Now()
		if err := f.grow(growCtx, n, cfg.ConnectWork); err != nil {
			if growCtx.Err() != nil {
				res.Stopped = fmt.Sprintf("at the run's time limit (%s) while growing to %d agents (%d connected)", cfg.Deadline, n, f.size())
				break
			}
			st.Why = "could not connect: " + err.Error()
			res.Steps = append(res.Steps, st)
			res.Stopped = fmt.Sprintf("at %d agents: %s", n, st.Why)
			break
		}
		st.GrowSeconds = time.Since(grown).Seconds()
		st.Connect = f.connects.take()
		time.Sleep(cfg.Settle)

		profile := cfg.ProfileDir != ""
		var profiled sync.WaitGroup
		if profile {
			profiled.Add(1)
			go func() {
				defer profiled.Done()
				path := filepath.Join(cfg.ProfileDir, fmt.Sprintf("%s-%d.cpu.pprof", store, n))
				if err := srv.cpuProfile(cfg.Window-time.Second, path); err != nil {
					log.Printf("CPU profile: %v", err)
					return
				}
				res.Profiles = append(res.Profiles, path)
			}()
		}
		f.checkins.take()
		f.pollErrors.Store(0)
		before, _ := readUsage(srv.pid())
		gcBefore, _ := srv.gcCPUSeconds()
		// What the check-ins of this window cost on PostgreSQL, and what
		// the backends waited on (a nil probe on SQLite only sleeps).
		f.probe.during(fmt.Sprintf("checkin-%d", n), func() int { time.Sleep(cfg.Window); return f.checkins.count() })
		after, _ := readUsage(srv.pid())
		if gcAfter, err := srv.gcCPUSeconds(); err == nil {
			st.ServerGCCPU = (gcAfter - gcBefore) / cfg.Window.Seconds()
		}
		self, _ := readUsage(os.Getpid())
		profiled.Wait()
		st.Checkins = f.checkins.take()
		st.PollErrors = f.pollErrors.Load()
		st.ServerRSSMiB, st.ServerPeakMiB = mib(after.rssKiB), mib(after.hwmKiB)
		st.ServerCPU, st.ServerThreads = cpuShare(before, after), after.threads
		st.HarnessRSSMiB = mib(self.rssKiB)
		if rt, err := srv.runtimeStats(); err == nil {
			st.ServerRuntime = &rt
		}
		if profile {
			path := filepath.Join(cfg.ProfileDir, fmt.Sprintf("%s-%d.heap.pprof", store, n))
			if err := srv.heapProfile(path); err == nil {
				res.Profiles = append(res.Profiles, path)
			}
		}

		if slices.Contains(cfg.PushAt, n) {
			push, call := f.measurePush(ctx, cfg.PushSamples)
			st.Push, st.ApproveCall = &push, &call
			log.Printf("%s: push at %d agents: p50 %.1f ms, p99 %.1f ms", store, n, push.P50, push.P99)
		}
		if n == cfg.ApprovalsAt {
			rate := f.measureApprovals(ctx, cfg.Approvals, 8, 100)
			res.Approvals = &rate
			log.Printf("%s: %.0f approvals/s one at a time, %.0f/s in batches", store, rate.Single, rate.Batched)
		}

		errRate := float64(st.Checkins.Errors) / float64(max(1, st.Checkins.N+st.Checkins.Errors))
		switch {
		case st.Checkins.N == 0:
			st.Why = "no check-in completed in the window"
		case st.Checkins.P99 >= ms(cfg.P99Limit):
			st.Why = fmt.Sprintf("check-in p99 %.0f ms ≥ %.0f ms", st.Checkins.P99, ms(cfg.P99Limit))
		case errRate > 0.001:
			st.Why = fmt.Sprintf("%.1f%% of check-ins failed", 100*errRate)
		case st.ServerRSSMiB > cfg.RSSLimitMiB:
			st.Why = fmt.Sprintf("server RSS %.0f MiB > %.0f MiB", st.ServerRSSMiB, cfg.RSSLimitMiB)
		default:
			st.OK = true
			res.Largest = n
		}
		log.Printf("%s: %d agents: check-in p50 %.1f ms p99 %.1f ms (%d, %d failed), poll errors %d, server %.0f MiB, %.2f cores",
			store, n, st.Checkins.P50, st.Checkins.P99, st.Checkins.N, st.Checkins.Errors, st.PollErrors, st.ServerRSSMiB, st.ServerCPU)
		res.Steps = append(res.Steps, st)
		// One slow window may be a neighbour's burst: the search goes on
		// through one failed size, and stops at the second in a row.
		if failedInARow = failedInARow + 1; st.OK {
			failedInARow = 0
		}
		if failedInARow == 2 {
			res.Stopped = fmt.Sprintf("at %d agents, the second size in a row to fail: %s", n, st.Why)
			break
		}
		if growCtx.Err() != nil {
			res.Stopped = fmt.Sprintf("the run's time limit (%s) before %d agents", cfg.Deadline, n)
			break
		}
	}
	if res.Approvals == nil && f.size() > 0 {
		rate := f.measureApprovals(ctx, cfg.Approvals, 8, 100)
		res.Approvals = &rate
	}
	res.Profiles = keepProfiles(res.Profiles, store, res.Largest, res.Steps)
	log.Printf("%s: disconnecting %d agents", store, f.size())
	res.Seconds = time.Since(began).Seconds()
	return res, nil
}

// keepProfiles removes the profiles of every size but the largest that
// passed and the first that failed after it: the two that explain the
// limit.
func keepProfiles(paths []string, store string, largest int, steps []stepResult) []string {
	keep := map[int]bool{largest: true}
	for _, st := range steps {
		if !st.OK && st.Agents > largest {
			keep[st.Agents] = true
			break
		}
	}
	var kept []string
	for _, p := range paths {
		var n int
		var kind string
		if _, err := fmt.Sscanf(filepath.Base(p), store+"-%d.%s", &n, &kind); err == nil && keep[n] {
			kept = append(kept, p)
			continue
		}
		os.Remove(p)
	}
	return kept
}

// measurePush files a request through a random agent, approves it as an
// admin over the API, and times approval → that agent's long poll brings
// the grant and the grant verifies, samples times in a row.
func (f *fleet) measurePush(ctx context.Context, samples int) (push, approveCall summary) {
	var lat, calls []time.Duration
	failures := 0
	for i := range samples {
		a := f.agent(mrand.IntN(f.size()))
		id, err := a.request(ctx, fmt.Sprintf("push-%d-%d", f.size(), i))
		if err != nil {
			failures++
			continue
		}
		arrived := make(chan time.Time, 1)
		f.waiters.Store(id, arrived)
		start := time.Now()
		res, err := f.admin.Approve(ctx, []string{id}, 10*time.Minute, "")
		calls = append(calls, time.Since(start))
		if err != nil || len(res) != 1 || !res[0].OK {
			f.waiters.Delete(id)
			failures++
			continue
		}
		select {
		case at := <-arrived:
			lat = append(lat, at.Sub(start))
		case <-time.After(30 * time.Second):
			f.waiters.Delete(id)
			failures++
		}
	}
	return summarize(lat, failures), summarize(calls, 0)
}

// measureApprovals files count requests through the fleet's agents, then
// approves them with workers callers one request per call, then files and
// approves count more in batches of batch: approvals per second, each.
func (f *fleet) measureApprovals(ctx context.Context, count, workers, batch int) approvalRate {
	r := approvalRate{Agents: f.size(), Count: count, Workers: workers, BatchSize: batch}
	var failures atomic.Int64
	file := func(tag string) []string {
		ids := make([]string, count)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < count; i += workers {
					a := f.agent(i % f.size())
					id, err := a.request(ctx, fmt.Sprintf("rate-%s-%d", tag, i))
					if err != nil {
						failures.Add(1)
						continue
					}
					ids[i] = id
				}
			}()
		}
		wg.Wait()
		return slices.DeleteFunc(ids, func(s string) bool { return s == "" })
	}
	var ids []string
	f.probe.during("file", func() int {
		filed := time.Now()
		ids = file("single")
		r.FileRate = float64(len(ids)) / time.Since(filed).Seconds()
		return len(ids)
	})

	var approved atomic.Int64
	f.probe.during("approve", func() int {
		r.Single = f.approveEach(ctx, ids, workers, &approved, &failures)
		return int(approved.Load())
	})

	ids = file("batch")
	approved.Store(0)
	start := time.Now()
	for len(ids) > 0 {
		n := min(batch, len(ids))
		res, err := f.admin.Approve(ctx, ids[:n], 10*time.Minute, "")
		ids = ids[n:]
		if err != nil {
			failures.Add(int64(n))
			continue
		}
		for _, x := range res {
			if x.OK {
				approved.Add(1)
			} else {
				failures.Add(1)
			}
		}
	}
	r.Batched = float64(approved.Load()) / time.Since(start).Seconds()
	r.Failures = failures.Load()
	return r
}

// adminClient logs in as the first admin over the API.
func adminClient(srv *serverProc, password string) (*client.Client, []byte, error) {
	caPEM, err := os.ReadFile(srv.CAPath)
	if err != nil {
		return nil, nil, err
	}
	c, err := client.New(srv.URL, caPEM, "")
	if err != nil {
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := c.Login(ctx, "admin", password); err != nil {
		return nil, nil, fmt.Errorf("admin login: %w", err)
	}
	return c, caPEM, nil
}

func randomPassword() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// approveEach approves ids with workers callers, one request per call, and
// returns approvals per second.
func (f *fleet) approveEach(ctx context.Context, ids []string, workers int, approved, failures *atomic.Int64) float64 {
	start := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(ids); i += workers {
				res, err := f.admin.Approve(ctx, ids[i:i+1], 10*time.Minute, "")
				if err != nil || !res[0].OK {
					failures.Add(1)
					continue
				}
				approved.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(approved.Load()) / time.Since(start).Seconds()
}
