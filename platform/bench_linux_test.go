package platform_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/platform"
	"github.com/hoist-jit/hoist/testenv"
)

// BenchmarkEnd measures the end of a session: from the first SIGTERM to the
// cgroup empty and removed, for sessions of 1, 100 and 1,000 processes,
// detached ones included. Reported as ms/end, with the processes of the
// session still alive (not even a zombie) once End returned, as survivors.
func BenchmarkEnd(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	for kind, tracker := range trackers(b) {
		b.Run("tracker="+kind, func(b *testing.B) { benchmarkEnd(b, tracker) })
	}
}

func benchmarkEnd(b *testing.B, tracker platform.Tracker) {
	for _, c := range []struct {
		n     int
		grace time.Duration
	}{{1, 10 * time.Second}, {100, 10 * time.Second}, {1000, 10 * time.Second}, {1000, 0}} {
		n := c.n
		b.Run(fmt.Sprintf("procs=%d/grace=%s", n, c.grace), func(b *testing.B) {
			var total time.Duration
			survivors := 0
			for i := range b.N {
				b.StopTimer()
				g, err := tracker.NewGroup(fmt.Sprintf("ses_bench_%d_%d_%d", n, c.grace.Milliseconds(), i))
				if err != nil {
					b.Fatal(err)
				}
				// A failure below must not leave a thousand sleeps behind.
				b.Cleanup(func() { _, _ = g.End(context.Background(), 0) })
				// Half are detached with setsid, as escapes would be.
				start(b, g, fmt.Sprintf(`i=0; while [ $i -lt %d ]; do if [ $((i%%2)) = 0 ]; then setsid sleep 1000 & else sleep 1000 & fi; i=$((i+1)); done; exec sleep 1000`, n-1))
				var pids []int
				testenv.WaitUntil(b, "the processes", func() bool { pids, _ = g.Pids(); return len(pids) >= n })
				b.StartTimer()
				rep, err := g.End(context.Background(), c.grace)
				if err != nil {
					b.Fatal(err)
				}
				total += rep.Took
				b.StopTimer()
				survivors += countAlive(pids)
				b.StartTimer()
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/end")
			b.ReportMetric(float64(survivors), "survivors")
		})
	}
}

// countAlive counts the pids that still name a live process: one that
// exists and is not a zombie. (Within a benchmark's milliseconds a pid is
// not handed to a new process.)
func countAlive(pids []int) int {
	alive := 0
	for _, pid := range pids {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		if i := strings.LastIndexByte(string(stat), ')'); i > 0 && i+2 < len(stat) && stat[i+2] != 'Z' {
			alive++
		}
	}
	return alive
}

// BenchmarkStartTrue measures hoistd's part of an elevated run: start
// /bin/true inside a session cgroup and wait for it.
func BenchmarkStartTrue(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	cgs := testCgroups(b)
	g, err := cgs.NewGroup("ses_bench_true")
	if err != nil {
		b.Fatal(err)
	}
	defer g.End(context.Background(), 0)
	devnull, _ := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	defer devnull.Close()
	for b.Loop() {
		p, err := g.Start(platform.Spec{Path: "/bin/true", Argv: []string{"true"}, Dir: "/", Stdin: devnull, Stdout: devnull, Stderr: devnull})
		if err != nil {
			b.Fatal(err)
		}
		p.Wait()
	}
}
