package platform_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

)

// BenchmarkEnd measures the end of a session: from the first SIGTERM to the
// cgroup empty and removed, for sessions of 1, 100 and 1,000 processes,
// detached ones included. Reported as ms/end.
func BenchmarkEnd(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("needs root")
	}
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("procs=%d", n), func(b *testing.B) {
			cgs := testCgroups(b)
			var total time.Duration
			for i := range b.N {
				b.StopTimer()
				g, err := cgs.NewGroup(fmt.Sprintf("ses_bench_%d", i))
				if err != nil {
					b.Fatal(err)
				}
				// Half are detached with setsid, as escapes would be.
				start(b, g, fmt.Sprintf(`i=0; while [ $i -lt %d ]; do if [ $((i%%2)) = 0 ]; then setsid sleep 1000 & else sleep 1000 & fi; i=$((i+1)); done; wait`, n-1))
				waitFor(b, "the processes", func() bool { pids, _ := g.Pids(); return len(pids) >= n })
				b.StartTimer()
				rep, err := g.End(context.Background(), 10*time.Second)
				if err != nil {
					b.Fatal(err)
				}
				total += rep.Took
			}
			b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms/end")
		})
	}
}
