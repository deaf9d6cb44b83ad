package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// usage is what /proc says of one process at one moment.
type usage struct {
	at      time.Time
	rssKiB  int64         // VmRSS
	hwmKiB  int64         // VmHWM: the peak RSS so far
	cpu     time.Duration // user + system time so far
	threads int
}

// clockTick is USER_HZ, which Linux fixes at 100 on every architecture Go
// supports.
const clockTick = 10 * time.Millisecond

func readUsage(pid int) (usage, error) {
	u := usage{at: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return u, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		switch k {
		case "VmRSS":
			u.rssKiB = n
		case "VmHWM":
			u.hwmKiB = n
		case "Threads":
			u.threads = int(n)
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return u, err
	}
	// The command name may hold spaces; the fields after it are fixed.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(fields) < 13 {
		return u, fmt.Errorf("short /proc/%d/stat", pid)
	}
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	u.cpu = time.Duration(utime+stime) * clockTick
	return u, nil
}

// cpuShare is the CPU the process used between a and b, in cores (1.0 is
// one core busy the whole time).
func cpuShare(a, b usage) float64 {
	wall := b.at.Sub(a.at)
	if wall <= 0 {
		return 0
	}
	return float64(b.cpu-a.cpu) / float64(wall)
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

// rssByKind is a process's resident memory by what it maps, from
// /proc/PID/smaps, in KiB.
type rssByKind struct {
	bpfKiB    int64 // BPF maps mapped by the process (the exec record's ring buffer)
	binaryKiB int64 // the executable's own pages: text, read-only data, data
	anonKiB   int64 // everything else: the Go heap, stacks, the runtime's own
}

// readRSSByKind sums the Rss of each of pid's mappings by kind; exe is the
// path the process was started from.
func readRSSByKind(pid int, exe string) (rssByKind, error) {
	var r rssByKind
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return r, err
	}
	var into *int64
	for line := range strings.SplitSeq(string(data), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":"):
			name := ""
			if len(f) >= 6 {
				name = f[5]
			}
			switch {
			case strings.HasPrefix(name, "anon_inode:bpf"):
				into = &r.bpfKiB
			case name == exe:
				into = &r.binaryKiB
			default:
				into = &r.anonKiB
			}
		case len(f) == 3 && f[0] == "Rss:" && into != nil:
			n, _ := strconv.ParseInt(f[1], 10, 64)
			*into += n
		}
	}
	return r, nil
}
