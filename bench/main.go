//go:build linux

package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "render" {
		// Rewrites the report from a saved run, for a change of wording.
		if err := renderSaved(os.Args[2], "BENCHMARKS.md"); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == fleetChildArg {
		if err := fleetChild(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench fleet:", err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == serveChildArg {
		if err := serveChild(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "bench server:", err)
			os.Exit(1)
		}
		return
	}
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// options are the harness's flags.
type options struct {
	only      map[string]bool
	out       string
	results   string
	capacity  capacityConfig
	stores    []string
	runs      int
	endRuns   int
	footprint time.Duration
	// replicas are the PostgreSQL capacity runs by number of servers: 1 is
	// the one-server search of capacity.Steps, more the run of several
	// replicas with replica.Steps.
	replicas []int
	replica  replicaConfig
}

func parseFlags(args []string) (options, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	var o options
	only := fs.String("only", "", "comma-separated sections to run: elevation,end,footprint,capacity (default: all)")
	steps := fs.String("steps", "1,100,1000,5000,10000,15000,20000,35000,50000", "fleet sizes of the capacity search")
	stores := fs.String("stores", "sqlite,postgres", "stores of the capacity search")
	fs.StringVar(&o.out, "out", "BENCHMARKS.md", "the report to rewrite")
	fs.StringVar(&o.results, "results", "bench/results", "directory for raw results and profiles")
	fs.IntVar(&o.runs, "runs", 300, "hyperfine runs per command of the elevation benchmark")
	fs.IntVar(&o.endRuns, "end-runs", 3, "runs of each case of the end-of-session benchmark")
	fs.DurationVar(&o.footprint, "footprint", time.Minute, "how long the agent's footprint is sampled")
	c := &o.capacity
	fs.DurationVar(&c.Window, "window", 25*time.Second, "measurement window at each fleet size (one long-poll cycle)")
	fs.DurationVar(&c.Settle, "settle", 5*time.Second, "quiet time after growing the fleet")
	fs.DurationVar(&c.CheckinEvery, "checkin-every", 5*time.Minute, "the simulated agents' check-in interval (hoistd's default)")
	fs.IntVar(&c.Probes, "probes", 20, "agents that also check in every second, so every window has samples")
	fs.IntVar(&c.PushSamples, "push-samples", 200, "approvals per push measurement")
	fs.IntVar(&c.ApprovalsAt, "approvals-at", 1000, "fleet size at which approvals per second are measured")
	fs.IntVar(&c.Approvals, "approvals", 1000, "approvals per approvals-per-second measurement")
	fs.DurationVar(&c.P99Limit, "p99-limit", 100*time.Millisecond, "check-in p99 that ends the capacity search")
	fs.Float64Var(&c.RSSLimitMiB, "rss-limit-mib", 4096, "server RSS that ends the capacity search")
	fs.DurationVar(&c.Deadline, "store-deadline", 7*time.Minute, "time after which a store's search stops growing")
	fs.IntVar(&c.ConnectWork, "connect-workers", 32, "enrolments and first connections at once")
	replicas := fs.String("replicas", "1,3", "PostgreSQL capacity runs by number of hoist-server replicas on one database (1: the one-server search of -steps)")
	replicaSteps := fs.String("replica-steps", "10000,30000,50000", "fleet sizes of the run of several replicas, all replicas together")
	fs.IntVar(&o.replica.PerProcess, "replica-fleet-per-process", 15000, "simulated agents one fleet process holds at most (each holds a descriptor)")
	fs.IntVar(&o.replica.PushSamples, "replica-push-samples", 100, "approvals per push measurement of the replicas run, of each kind (same replica, another)")
	fs.DurationVar(&o.replica.PushLimit, "push-limit", 200*time.Millisecond, "push p99 that fails a size of the replicas run")
	fs.DurationVar(&o.replica.Deadline, "replica-deadline", 9*time.Minute, "time after which the replicas run stops growing (the fleet it holds then is measured)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	// A word after the flags is a mistake, never a run: "bench -out F render
	// R" would otherwise start the whole 20-minute harness.
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q: the harness takes flags only (to rewrite the report from a saved run: bench render FILE, with nothing before render)", fs.Arg(0))
	}
	var err error
	if o.replicas, err = parseCounts(*replicas, 1); err != nil {
		return o, fmt.Errorf("bad -replicas: %w", err)
	}
	if o.replica.Steps, err = parseCounts(*replicaSteps, 1); err != nil {
		return o, fmt.Errorf("bad -replica-steps: %w", err)
	}
	if o.replica.PerProcess < 1 {
		return o, fmt.Errorf("bad -replica-fleet-per-process %d", o.replica.PerProcess)
	}
	for _, s := range strings.Split(*steps, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return o, fmt.Errorf("bad -steps %q", *steps)
		}
		c.Steps = append(c.Steps, n)
	}
	c.PushAt = []int{1, 100, 10000}
	o.stores = strings.Split(*stores, ",")
	if *only != "" {
		o.only = map[string]bool{}
		for _, s := range strings.Split(*only, ",") {
			o.only[strings.TrimSpace(s)] = true
		}
	}
	return o, nil
}

func (o options) wants(section string) bool { return o.only == nil || o.only[section] }

// run is the harness: every section in turn, then the report.
func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("run as root: the benchmarks make users, cgroups and a sudoers entry")
	}
	fileLimit, err := raiseFileLimit()
	if err != nil {
		return err
	}
	// The harness holds the client side of every connection; it trades
	// memory for less time collecting garbage, so that it disturbs the
	// server's figures less. The server child runs with Go's defaults.
	debug.SetGCPercent(400)
	if err := os.MkdirAll(o.results, 0o755); err != nil {
		return err
	}
	o.capacity.ProfileDir = o.results
	// Each side holds one descriptor per agent; keep headroom for the
	// database, the listeners and the admin's connection.
	if limit := int(fileLimit) - 500; o.capacity.Steps[len(o.capacity.Steps)-1] > limit {
		log.Printf("the open-file limit is %d: the capacity search stops at %d agents", fileLimit, limit)
		o.capacity.Steps = append(slices.DeleteFunc(o.capacity.Steps, func(n int) bool { return n >= limit }), limit)
	}
	rep := report{Started: time.Now(), Machine: describeMachine(), FileLimit: fileLimit, Steps: o.capacity.Steps,
		Window: o.capacity.Window.String(), CheckinEvery: o.capacity.CheckinEvery.String(), Probes: o.capacity.Probes}
	if o.wants("elevation") {
		rep.noteLoad("elevation")
		log.Printf("elevation latency: hoist run, sudo, /bin/true (%d runs each)", o.runs)
		if r, err := runElevation(o.runs, o.results); err != nil {
			rep.failed("elevation", err)
		} else {
			rep.Elevation = &r
		}
	}
	if o.wants("end") {
		rep.noteLoad("end")
		log.Printf("end of session: go test -bench End ./platform")
		if r, err := runEnd(o.endRuns); err != nil {
			rep.failed("end", err)
		} else {
			rep.End = &r
		}
	}
	if o.wants("footprint") {
		rep.noteLoad("footprint")
		log.Printf("agent footprint: an enrolled hoistd at rest for %s", o.footprint)
		bin, err := os.MkdirTemp("", "hoist-bench-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(bin)
		build := exec.Command("go", "build", "-o", bin+"/", "./cmd/hoistd")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			return fmt.Errorf("build hoistd: %v: %s", err, out)
		}
		if r, err := runFootprint(o.footprint, bin); err != nil {
			rep.failed("footprint", err)
		} else {
			rep.Footprint = &r
		}
	}
	if o.wants("capacity") {
		for i, store := range o.stores {
			if store == "postgres" && !slices.Contains(o.replicas, 1) {
				continue // only the run of several replicas
			}
			rep.noteLoad("capacity with " + store)
			res, err := runCapacity(store, o.capacity, byte(10+10*i))
			if err != nil {
				rep.failed("capacity with "+store, err)
				continue
			}
			rep.Capacity = append(rep.Capacity, res)
		}
		rep.runReplicas(o, fileLimit)
	}
	rep.Seconds = time.Since(rep.Started).Seconds()
	data, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(filepath.Join(o.results, "run.json"), data, 0o644); err != nil {
		return err
	}
	if o.only != nil {
		log.Printf("a partial run: %s/run.json written, %s left as it is", o.results, o.out)
		return nil
	}
	return writeReport(o.out, rep)
}

// raiseFileLimit lets this process, and the server child that inherits it,
// hold as many descriptors as the hard limit allows (one per simulated
// agent on each side), and returns that number. Raising the hard limit
// itself needs CAP_SYS_RESOURCE, which a sandbox may withhold.
func raiseFileLimit() (uint64, error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, err
	}
	want := syscall.Rlimit{Cur: 1 << 20, Max: 1 << 20}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
		return want.Cur, nil
	}
	lim.Cur = lim.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, fmt.Errorf("raise the open-file limit: %w", err)
	}
	return lim.Cur, nil
}

func init() { log.SetFlags(log.Ltime) }
