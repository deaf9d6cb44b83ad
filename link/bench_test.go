package link_test

import (
	"sort"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/link"
)

// BenchmarkApprovalPush measures approval → agent knows: an agent holds a
// long poll over mutual TLS; an approver approves its user's request; the
// time until the poll returns the signed grant. Reports p50 and p99.
func BenchmarkApprovalPush(b *testing.B) {
	srv := startServer(b)
	state := b.TempDir()
	tok, _, err := srv.Service().CreateEnrollToken(ctx, adminActor, "", time.Hour, 1)
	if err != nil {
		b.Fatal(err)
	}
	id, err := link.Enroll(ctx, "", tok, state, link.Facts(hoist.Version))
	if err != nil {
		b.Fatal(err)
	}
	c, err := link.Load(state)
	if err != nil {
		b.Fatal(err)
	}
	rec, err := srv.Service().Agent(ctx, id.AgentID)
	if err != nil {
		b.Fatal(err)
	}
	var cursor int64
	lat := make([]time.Duration, 0, b.N)
	for i := range b.N {
		b.StopTimer()
		user := "user" + time.Now().Format("150405.000000") + string(rune('a'+i%26))
		r, _, err := srv.Service().AgentRequest(ctx, rec, user, "bench", time.Minute)
		if err != nil {
			b.Fatal(err)
		}
		got := make(chan time.Time, 1)
		go func() {
			ans, err := c.Events(ctx, cursor, link.PollWait)
			if err != nil || len(ans.Events) == 0 {
				got <- time.Time{}
				return
			}
			cursor = ans.Cursor
			got <- time.Now()
		}()
		time.Sleep(2 * time.Millisecond) // let the poll reach the server and wait there
		b.StartTimer()
		approved := time.Now()
		if res, err := srv.Service().Approve(ctx, adminActor, []string{r.ID}, time.Minute, ""); err != nil || !res[0].OK {
			b.Fatalf("approve: %+v %v", res, err)
		}
		at := <-got
		if at.IsZero() {
			b.Fatal("the poll returned no event")
		}
		lat = append(lat, at.Sub(approved))
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Microseconds()) / 1000 }
	b.ReportMetric(pct(0.5), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
}
