//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/hoist-jit/hoist/pgtest"
)

// report is everything one run measured.
type report struct {
	Started      time.Time        `json:"started"`
	Seconds      float64          `json:"seconds"`
	Machine      machine          `json:"machine"`
	FileLimit    uint64           `json:"file_limit"`
	Steps        []int            `json:"steps"`
	Window       string           `json:"window"`
	CheckinEvery string           `json:"checkin_every"`
	Probes       int              `json:"probes"`
	Elevation    *elevationResult `json:"elevation,omitempty"`
	End          *endResult       `json:"end,omitempty"`
	Footprint    *footprintResult `json:"footprint,omitempty"`
	Capacity     []storeResult    `json:"capacity,omitempty"`
	// Replicas are the runs of several servers on one PostgreSQL; absent
	// from runs older than them.
	Replicas []replicasResult `json:"replicas,omitempty"`
	// Failures are the sections that could not be measured, and why; the
	// others still are.
	Failures map[string]string `json:"failures,omitempty"`
	LoadAvg  []string          `json:"load_average,omitempty"` // /proc/loadavg as each section began
}

func (r *report) failed(section string, err error) {
	log.Printf("%s failed: %v", section, err)
	if r.Failures == nil {
		r.Failures = map[string]string{}
	}
	r.Failures[section] = err.Error()
}

// noteLoad records the machine's load as a section begins: the machine is
// shared, and a busy neighbour shows in the figures.
func (r *report) noteLoad(section string) {
	data, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(data))
	if len(f) >= 3 {
		r.LoadAvg = append(r.LoadAvg, section+": "+strings.Join(f[:3], " "))
	}
}

type machine struct {
	CPU        string `json:"cpu"`
	Cores      int    `json:"cores"`
	MemoryGiB  int    `json:"memory_gib"`
	Kernel     string `json:"kernel"`
	OS         string `json:"os"`
	Go         string `json:"go"`
	PostgreSQL string `json:"postgresql"`
	Hyperfine  string `json:"hyperfine"`
	Commit     string `json:"commit"`
}

func describeMachine() machine {
	m := machine{Cores: runtime.NumCPU(), Go: runtime.Version()}
	firstLine := func(name string, args ...string) string {
		out, _ := exec.Command(name, args...).Output()
		line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		return line
	}
	m.Kernel = firstLine("uname", "-r")
	if data, err := os.ReadFile("/etc/debian_version"); err == nil {
		m.OS = "Debian " + strings.TrimSpace(string(data))
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if data, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kib int64
		for line := range strings.SplitSeq(string(data), "\n") {
			if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
				kib = atoi64(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			}
		}
		m.MemoryGiB = int((kib + 1<<19) >> 20)
	}
	if bin, err := pgtest.BinDir(); err == nil {
		m.PostgreSQL = firstLine(bin+"/postgres", "--version")
	}
	m.Hyperfine = firstLine("hyperfine", "--version")
	m.Commit = firstLine("git", "rev-parse", "--short", "HEAD")
	if firstLine("git", "status", "--porcelain", "--untracked-files=no") != "" {
		m.Commit += " (with uncommitted changes)"
	}
	return m
}

func atoi64(s string) int64 {
	var n int64
	for _, c := range s {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

// renderSaved rewrites out from a run saved as JSON.
func renderSaved(runJSON, out string) error {
	data, err := os.ReadFile(runJSON)
	if err != nil {
		return err
	}
	var rep report
	if err := json.Unmarshal(data, &rep); err != nil {
		return err
	}
	return writeReport(out, rep)
}

func writeReport(path string, rep report) error {
	t, err := template.New("report").Funcs(template.FuncMap{
		"f1":   func(v float64) string { return trimFloat(v, 1) },
		"f2":   func(v float64) string { return trimFloat(v, 2) },
		"f0":   func(v float64) string { return trimFloat(v, 0) },
		"n":    thousands,
		"date": func(t time.Time) string { return t.UTC().Format("2006-01-02") },
		"mins": func(s float64) string { return trimFloat(s/60, 1) },
		"kib":  func(mib float64, agents int) string { return trimFloat(mib*1024/float64(max(agents, 1)), 0) },
		"at": func(steps []stepResult, n int) *stepResult {
			for i := range steps {
				if steps[i].Agents == n {
					return &steps[i]
				}
			}
			return nil
		},
		"last": func(steps []stepResult) stepResult { return steps[len(steps)-1] },
		"stopped": func(r storeResult) string {
			// A failed last size ends the search as surely as a second
			// failure in a row; say which.
			if l := r.Steps[len(r.Steps)-1]; !l.OK && l.Why != "" && !strings.HasPrefix(r.Stopped, "at ") {
				return fmt.Sprintf("the search stopped at %d agents, the last size: %s", l.Agents, l.Why)
			}
			switch {
			case strings.HasPrefix(r.Stopped, "at "):
				return "the search stopped " + r.Stopped
			case r.Stopped == "every step passed":
				return "every size measured passed, up to the last step of the search"
			case r.Stopped != "":
				return "the search stopped at " + r.Stopped
			}
			return r.Stopped
		},
		"div":      func(a, b float64) float64 { return a / b },
		"mul":      func(a, b float64) float64 { return a * b },
		"sub":      func(a, b float64) float64 { return a - b },
		"top":      func(steps []int) int { return steps[len(steps)-1] },
		"perAgent": perAgent,
		"largestOf": func(caps []storeResult, store string) int {
			for _, c := range caps {
				if c.Store == store {
					return c.Largest
				}
			}
			return 0
		},
		"extrapolate": func(steps []stepResult, agents int) string {
			// The server's RSS grows linearly with connected agents: the
			// slope between the smallest and the largest measured size.
			var a, b *stepResult
			for i := range steps {
				if steps[i].ServerRSSMiB > 0 && steps[i].Agents >= 1000 {
					if a == nil {
						a = &steps[i]
					}
					b = &steps[i]
				}
			}
			if a == nil || b == a {
				return "— (too few sizes measured)"
			}
			slope := (b.ServerRSSMiB - a.ServerRSSMiB) / float64(b.Agents-a.Agents)
			return "≈ " + trimFloat((b.ServerRSSMiB+slope*float64(agents-b.Agents))/1024, 1) + " GiB"
		},
	}).Parse(reportTemplate)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, rep); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func trimFloat(v float64, digits int) string { return strconv.FormatFloat(v, 'f', digits, 64) }

// thousands writes n with commas: 50,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// memoryPerAgent is the server's RSS growth per connected agent between two
// fleet sizes.
type memoryPerAgent struct {
	KiB      float64
	From, To int
}

// perAgent is the RSS slope between the smallest and the largest measured
// size of at least 1,000 agents (smaller fleets are the runtime's own
// start-up); nil when fewer than two were measured.
func perAgent(steps []stepResult) *memoryPerAgent {
	var a, b *stepResult
	for i := range steps {
		if steps[i].ServerRSSMiB > 0 && steps[i].Agents >= 1000 {
			if a == nil {
				a = &steps[i]
			}
			b = &steps[i]
		}
	}
	if a == nil || b == a || b.Agents == a.Agents {
		return nil
	}
	return &memoryPerAgent{KiB: (b.ServerRSSMiB - a.ServerRSSMiB) * 1024 / float64(b.Agents-a.Agents), From: a.Agents, To: b.Agents}
}
