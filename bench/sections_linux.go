package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// hyperfineRun is one command of a hyperfine JSON export, in seconds.
type hyperfineRun struct {
	Command string    `json:"command"`
	Mean    float64   `json:"mean"`
	Median  float64   `json:"median"`
	Min     float64   `json:"min"`
	Max     float64   `json:"max"`
	Times   []float64 `json:"times"`
}

// timing is one command's distribution, in milliseconds.
type timing struct {
	Command string  `json:"command"`
	Runs    int     `json:"runs"`
	Median  float64 `json:"median_ms"`
	Mean    float64 `json:"mean_ms"`
	P90     float64 `json:"p90_ms"`
	P99     float64 `json:"p99_ms"`
	Min     float64 `json:"min_ms"`
}

type elevationResult struct {
	Batch   []timing `json:"batch"`   // hoist run, sudo, /bin/true, in one hyperfine batch
	Startup []timing `json:"startup"` // hoist --help, an empty Go program, /bin/true
	Ratio   float64  `json:"hoist_over_sudo"`
}

// runElevation runs bench/elevation.sh, which holds the whole setup (a
// user, its sudoers entry, hoistd with a local grant) and its cleanup.
func runElevation(runs int, results string) (elevationResult, error) {
	var r elevationResult
	cmd := exec.Command("bash", "bench/elevation.sh")
	cmd.Env = append(os.Environ(), "RUNS="+strconv.Itoa(runs))
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return r, fmt.Errorf("bench/elevation.sh: %w", err)
	}
	var err error
	if r.Batch, err = readHyperfine(filepath.Join(results, "elevation.json")); err != nil {
		return r, err
	}
	if r.Startup, err = readHyperfine(filepath.Join(results, "startup.json")); err != nil {
		return r, err
	}
	if len(r.Batch) == 3 && r.Batch[1].Median > 0 {
		r.Ratio = r.Batch[0].Median / r.Batch[1].Median
	}
	return r, nil
}

func readHyperfine(path string) ([]timing, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var export struct {
		Results []hyperfineRun `json:"results"`
	}
	if err := json.Unmarshal(data, &export); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var out []timing
	for _, h := range export.Results {
		d := make([]time.Duration, len(h.Times))
		for i, t := range h.Times {
			d[i] = time.Duration(t * float64(time.Second))
		}
		s := summarize(d, 0)
		out = append(out, timing{Command: h.Command, Runs: len(h.Times), Median: h.Median * 1000, Mean: h.Mean * 1000,
			P90: s.P90, P99: s.P99, Min: h.Min * 1000})
	}
	return out, nil
}

// endCase is one line of BenchmarkEnd.
type endCase struct {
	Tracker   string  `json:"tracker"`
	Procs     int     `json:"procs"`
	Grace     string  `json:"grace"`
	Runs      int     `json:"runs"`
	MsPerEnd  float64 `json:"ms_per_end"`
	Survivors float64 `json:"survivors"`
}

type endResult struct {
	Cases []endCase `json:"cases"`
	// KillFloorMs is the machine's own floor: bash kills 1,000 sleeping
	// children with SIGKILL and waits for them (median of 3).
	KillFloorMs float64 `json:"kill_floor_ms"`
}

var endLine = regexp.MustCompile(`^BenchmarkEnd/tracker=(\w+)/procs=(\d+)/grace=(\S+?)-\d+\s+(\d+)\s+.*?([\d.]+) ms/end\s+([\d.]+) survivors`)

// runEnd runs platform's BenchmarkEnd (both trackers) and measures the
// machine's floor for comparison.
func runEnd(benchtime int) (endResult, error) {
	var r endResult
	cmd := exec.Command("go", "test", "-run", "NONE", "-bench", "^BenchmarkEnd$", "-benchtime", fmt.Sprintf("%dx", benchtime), "./platform")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		os.Stderr.Write(out.Bytes())
		return r, fmt.Errorf("go test -bench End ./platform: %w", err)
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		m := endLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		procs, _ := strconv.Atoi(m[2])
		runs, _ := strconv.Atoi(m[4])
		msEnd, _ := strconv.ParseFloat(m[5], 64)
		surv, _ := strconv.ParseFloat(m[6], 64)
		r.Cases = append(r.Cases, endCase{Tracker: m[1], Procs: procs, Grace: m[3], Runs: runs, MsPerEnd: msEnd, Survivors: surv})
	}
	if len(r.Cases) == 0 {
		return r, fmt.Errorf("BenchmarkEnd printed no result:\n%s", out.String())
	}
	var floors []time.Duration
	for range 3 {
		d, err := killFloor(1000)
		if err != nil {
			return r, err
		}
		floors = append(floors, d)
	}
	r.KillFloorMs = summarize(floors, 0).P50
	return r, nil
}

// killFloor times bash sending SIGKILL to n sleeping children and reaping
// them: what the kernel alone needs to tear n processes down.
func killFloor(n int) (time.Duration, error) {
	script := fmt.Sprintf(`for i in $(seq %d); do sleep 1000 & done
sleep 1
s=$(date +%%s%%N); kill -9 $(jobs -p); wait; e=$(date +%%s%%N)
echo $(( (e - s) / 1000 ))`, n)
	out, err := exec.Command("bash", "-c", script).Output()
	if err != nil {
		return 0, fmt.Errorf("kill floor: %w", err)
	}
	us, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64)
	return time.Duration(us) * time.Microsecond, err
}

// footprintResult is hoistd at rest, enrolled, holding its long poll.
type footprintResult struct {
	Seconds    float64 `json:"seconds"`
	RSSMiB     float64 `json:"rss_mib"`     // at the end
	MaxRSSMiB  float64 `json:"max_rss_mib"` // the largest sample
	PeakMiB    float64 `json:"peak_mib"`    // VmHWM, start-up included
	CPUSeconds float64 `json:"cpu_seconds"`
	Threads    int     `json:"threads"`
	// Where the RSS at the end is, from /proc/PID/smaps.
	BPFMiB    float64 `json:"bpf_maps_mib"` // BPF maps mapped (the exec record's ring, twice)
	BinaryMiB float64 `json:"binary_mib"`   // hoistd's own file: text and data touched
	AnonMiB   float64 `json:"anon_mib"`     // the rest: Go heap, stacks, runtime
}

// runFootprint enrols a real hoistd with a real server, lets it settle, and
// samples its RSS every second for d, and its CPU time over d.
func runFootprint(d time.Duration, binDir string) (r footprintResult, err error) {
	dir, err := os.MkdirTemp("", "hoist-bench-footprint-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(dir)
	password := randomPassword()
	srv, err := startServer(filepath.Join(dir, "server"), "", password)
	if err != nil {
		return r, err
	}
	defer srv.stop()
	admin, _, err := adminClient(srv, password)
	if err != nil {
		return r, err
	}
	tok, err := admin.EnrollToken(context.Background(), "", time.Hour, 1)
	if err != nil {
		return r, err
	}
	state := filepath.Join(dir, "state")
	hoistd := filepath.Join(binDir, "hoistd")
	if out, err := exec.Command(hoistd, "enroll", "--server", srv.URL, "--token", tok.Token, "--state", state).CombinedOutput(); err != nil {
		return r, fmt.Errorf("hoistd enroll: %v: %s", err, out)
	}
	mount, err := cgroup2Mount()
	if err != nil {
		return r, err
	}
	cgroupRoot := filepath.Join(mount, fmt.Sprintf("hoist-bench-footprint-%d", os.Getpid()))
	defer os.Remove(cgroupRoot)
	cmd := exec.Command(hoistd, "run", "--state", state, "--socket", filepath.Join(dir, "hoistd.sock"),
		"--cgroup-root", cgroupRoot, "--autostart-dir=")
	logFile, err := os.Create(filepath.Join(dir, "hoistd.log"))
	if err != nil {
		return r, err
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return r, err
	}
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // by pid: the hoistd started here
		_ = cmd.Wait()
	}()
	time.Sleep(5 * time.Second) // enrolled start-up, the first check-in and poll
	first, err := readUsage(cmd.Process.Pid)
	if err != nil {
		return r, fmt.Errorf("hoistd is not running: %w", err)
	}
	var last usage
	for end := time.Now().Add(d); time.Now().Before(end); {
		time.Sleep(time.Second)
		if last, err = readUsage(cmd.Process.Pid); err != nil {
			return r, fmt.Errorf("hoistd stopped: %w", err)
		}
		r.MaxRSSMiB = max(r.MaxRSSMiB, mib(last.rssKiB))
	}
	r.Seconds = last.at.Sub(first.at).Seconds()
	r.RSSMiB, r.PeakMiB, r.Threads = mib(last.rssKiB), mib(last.hwmKiB), last.threads
	r.CPUSeconds = (last.cpu - first.cpu).Seconds()
	kinds, err := readRSSByKind(cmd.Process.Pid, hoistd)
	if err != nil {
		return r, fmt.Errorf("hoistd stopped: %w", err)
	}
	r.BPFMiB, r.BinaryMiB, r.AnonMiB = mib(kinds.bpfKiB), mib(kinds.binaryKiB), mib(kinds.anonKiB)
	log.Printf("hoistd at rest: %.1f MiB RSS (BPF maps %.1f, binary %.1f, heap and the rest %.1f), %.2f s CPU over %.0f s",
		r.RSSMiB, r.BPFMiB, r.BinaryMiB, r.AnonMiB, r.CPUSeconds, r.Seconds)
	return r, nil
}

func cgroup2Mount() (string, error) {
	data, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return "", err
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) > 2 && f[2] == "cgroup2" {
			return f[1], nil
		}
	}
	return "", fmt.Errorf("no cgroup2 mount")
}
