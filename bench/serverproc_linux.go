package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/metrics"
	"strings"
	"syscall"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/server"
)

// serveChildArg is the first argument with which the harness runs itself as
// the server under test: a process of its own, so that its memory and CPU
// are its own, started through package server exactly as cmd/hoist-server
// starts it, with pprof on a second loopback port for the profiles.
const serveChildArg = "serve-child"

// childInfo is what the server child tells its parent once it listens.
type childInfo struct {
	URL    string `json:"url"`
	CAPath string `json:"ca"`
	Pprof  string `json:"pprof"`
}

// serveChild is the server child's main. It stops on SIGTERM, or when its
// standard input closes: the harness ended, however it ended.
func serveChild(args []string) error {
	fs := flag.NewFlagSet(serveChildArg, flag.ContinueOnError)
	dataDir := fs.String("data", "", "data directory")
	dbURL := fs.String("database", "", "PostgreSQL URL")
	logPath := fs.String("log", "", "log file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logOut := io.Discard
	if *logPath != "" {
		f, err := os.Create(*logPath)
		if err != nil {
			return err
		}
		defer f.Close()
		logOut = f
	}
	server.TuneCollector(server.DefaultGCPercent) // as cmd/hoist-server's default
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	m, err := server.Start(ctx, server.Config{
		DataDir: *dataDir, DatabaseURL: *dbURL, Listen: "127.0.0.1:0",
		AdminPassword: os.Getenv("HOIST_ADMIN_PASSWORD"), Settings: hoist.DefaultApprovalSettings(),
		Logger: slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return err
	}
	pl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		m.Close()
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/runtime", serveRuntimeMetrics)
	var waits schedWaits
	mux.HandleFunc("/debug/sched", func(w http.ResponseWriter, _ *http.Request) { _ = json.NewEncoder(w).Encode(waits.window()) })
	go func() { _ = http.Serve(pl, mux) }()
	_ = json.NewEncoder(os.Stdout).Encode(childInfo{URL: m.URL(), CAPath: m.CAPath(), Pprof: "http://" + pl.Addr().String()})
	<-ctx.Done()
	pl.Close()
	return m.Close()
}

// serverProc is a running server child.
type serverProc struct {
	childInfo
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{}
}

// startServer starts the server child on dataDir (SQLite) or dbURL.
func startServer(dataDir, dbURL, adminPassword string) (*serverProc, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	args := []string{serveChildArg, "--data", dataDir, "--log", filepath.Join(dataDir, "server.log")}
	if dbURL != "" {
		args = append(args, "--database", dbURL)
	}
	// The server runs with its own defaults (TuneCollector), whatever the
	// harness set for itself.
	c, err := startChild(args, "HOIST_ADMIN_PASSWORD="+adminPassword)
	if err != nil {
		return nil, err
	}
	s := &serverProc{cmd: c.cmd, stdin: c.stdin, done: make(chan struct{})}
	go func() { _ = c.cmd.Wait(); close(s.done) }()
	line := make(chan []byte, 1)
	go func() {
		b, _ := bufio.NewReader(c.stdout).ReadBytes('\n')
		line <- b
		_, _ = io.Copy(io.Discard, c.stdout)
	}()
	select {
	case b := <-line:
		if err := json.Unmarshal(b, &s.childInfo); err != nil {
			s.stop()
			return nil, fmt.Errorf("the server child did not start: %q", b)
		}
	case <-time.After(2 * time.Minute):
		s.stop()
		return nil, errors.New("the server child did not start within 2 minutes")
	}
	return s, nil
}

func (s *serverProc) pid() int { return s.cmd.Process.Pid }

// stop asks the server to finish (SIGTERM, by pid), and kills it if it has
// not within 30 seconds.
func (s *serverProc) stop() {
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.stdin.Close()
}

// cpuProfile saves a CPU profile of the next d to path.
func (s *serverProc) cpuProfile(d time.Duration, path string) error {
	return s.savePprof(fmt.Sprintf("/debug/pprof/profile?seconds=%d", int(d.Seconds())), path, d+time.Minute)
}

// heapProfile saves the server's heap profile to path.
func (s *serverProc) heapProfile(path string) error {
	return s.savePprof("/debug/pprof/heap", path, time.Minute)
}

func (s *serverProc) savePprof(query, path string, timeout time.Duration) error {
	hc := &http.Client{Timeout: timeout}
	resp, err := hc.Get(s.Pprof + query)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof answered %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// goRuntime is where the server's memory is, as its Go runtime counts it.
type goRuntime struct {
	HeapInuseMiB  float64 `json:"heap_inuse_mib"`  // spans holding objects, live or not yet collected
	HeapAllocMiB  float64 `json:"heap_alloc_mib"`  // objects allocated and not yet freed
	StackInuseMiB float64 `json:"stack_inuse_mib"` // goroutine stacks
	SysMiB        float64 `json:"sys_mib"`         // everything the runtime has from the OS
	Goroutines    int     `json:"goroutines"`
	// From runtime/metrics (see runtimeMetricNames): the heap live at the
	// last collection, the size new goroutines start with, the collections
	// so far and the CPU they took.
	HeapLiveMiB      float64 `json:"heap_live_mib,omitempty"`
	StartingStackKiB float64 `json:"starting_stack_kib,omitempty"`
	GCCycles         uint64  `json:"gc_cycles,omitempty"`
	GCCPUSeconds     float64 `json:"gc_cpu_seconds,omitempty"`
}

// runtimeMetricNames are the runtime/metrics the server child reports at
// /debug/runtime, in goRuntime's order (the last three summed).
// The collector's CPU leaves out its idle-time marking, which runs only on
// cores nothing else wanted.
var runtimeMetricNames = []string{"/gc/heap/live:bytes", "/gc/stack/starting-size:bytes", "/gc/cycles/total:gc-cycles",
	"/cpu/classes/gc/mark/assist:cpu-seconds", "/cpu/classes/gc/mark/dedicated:cpu-seconds", "/cpu/classes/gc/pause:cpu-seconds"}

// serveRuntimeMetrics answers runtimeMetricNames' values, as JSON numbers.
func serveRuntimeMetrics(w http.ResponseWriter, _ *http.Request) {
	samples := make([]metrics.Sample, len(runtimeMetricNames))
	for i, name := range runtimeMetricNames {
		samples[i].Name = name
	}
	metrics.Read(samples)
	out := make([]float64, len(samples))
	for i, s := range samples {
		switch s.Value.Kind() {
		case metrics.KindUint64:
			out[i] = float64(s.Value.Uint64())
		case metrics.KindFloat64:
			out[i] = s.Value.Float64()
		}
	}
	_ = json.NewEncoder(w).Encode(out)
}

// gcCPUSeconds is the CPU the server's collector has used so far (as
// goRuntime.GCCPUSeconds).
func (s *serverProc) gcCPUSeconds() (float64, error) {
	resp, err := (&http.Client{Timeout: time.Minute}).Get(s.Pprof + "/debug/runtime")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var v []float64
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&v); err != nil {
		return 0, err
	}
	if len(v) != len(runtimeMetricNames) {
		return 0, fmt.Errorf("the server child reported %d runtime metrics, want %d", len(v), len(runtimeMetricNames))
	}
	return v[3] + v[4] + v[5], nil
}

// schedWindow is how long the server's goroutines waited to run since the
// last call (see schedWindow).
func (s *serverProc) schedWindow() (schedWindow, error) {
	var v schedWindow
	resp, err := (&http.Client{Timeout: time.Minute}).Get(s.Pprof + "/debug/sched")
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	err = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&v)
	return v, err
}

// runtimeStats reads the server's runtime.MemStats (the tail of pprof's
// text heap profile) and its goroutine count.
func (s *serverProc) runtimeStats() (goRuntime, error) {
	var r goRuntime
	hc := &http.Client{Timeout: time.Minute}
	get := func(path string) (string, error) {
		resp, err := hc.Get(s.Pprof + path)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		return string(b), err
	}
	heap, err := get("/debug/pprof/heap?debug=1")
	if err != nil {
		return r, err
	}
	for line := range strings.SplitSeq(heap, "\n") {
		var name string
		var v float64
		if _, err := fmt.Sscanf(line, "# %s = %g", &name, &v); err != nil {
			continue
		}
		if name == "Stack" { // "# Stack = StackInuse / StackSys"
			name = "StackInuse"
		}
		switch name {
		case "HeapInuse":
			r.HeapInuseMiB = v / (1 << 20)
		case "HeapAlloc":
			r.HeapAllocMiB = v / (1 << 20)
		case "StackInuse":
			r.StackInuseMiB = v / (1 << 20)
		case "Sys":
			r.SysMiB = v / (1 << 20)
		}
	}
	gs, err := get("/debug/pprof/goroutine?debug=1")
	if err != nil {
		return r, err
	}
	_, _ = fmt.Sscanf(gs, "goroutine profile: total %d", &r.Goroutines)
	if rm, err := get("/debug/runtime"); err == nil {
		var v []float64
		if json.Unmarshal([]byte(rm), &v) == nil && len(v) == len(runtimeMetricNames) {
			r.HeapLiveMiB, r.StartingStackKiB = v[0]/(1<<20), v[1]/1024
			r.GCCycles, r.GCCPUSeconds = uint64(v[2]), v[3]+v[4]+v[5]
		}
	}
	return r, nil
}
