//go:build linux

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReportReplicas renders the report from a run without the replicas
// (an older run.json) and from one with them.
func TestReportReplicas(t *testing.T) {
	cases := []struct {
		name string
		rep  report
		want []string
	}{
		{"older run", report{}, []string{"| PostgreSQL, three replicas on one database: 50,000 agents, check-in p99 < 100 ms, cross-replica push p99 < 200 ms, servers' RSS ≤ 4 GiB | 50,000 | not measured in this run | |"}},
		{"three replicas", report{Replicas: []replicasResult{{
			Replicas: 3, FleetProcs: 4, Largest: 10000, Stopped: "at the part's time limit (6m0s) while growing to 30,000 agents (24,023 connected)",
			Steps: []replicaStep{
				{Agents: 10000, OK: true, RSSMiB: 1152, Checkins: summary{N: 1329, P99: 66.1}, PushSame: &summary{N: 100, P99: 121.2}, PushCross: &summary{N: 100, P99: 115.5},
					Replicas: []replicaUsage{{Replica: 0, Agents: 3334}, {Replica: 1, Agents: 3333}, {Replica: 2, Agents: 3333}}},
				{Agents: 24023, Partial: true, Target: 30000, Why: "check-in p99 3346 ms ≥ 100 ms", PushSame: &summary{}, PushCross: &summary{}},
			},
		}}}, []string{
			"| 10,000 (1152 MiB; push p99 115.5 ms cross-replica, 121.2 ms same) | **not reached**: the run stopped at the part's time limit (6m0s) while growing to 30,000 agents (24,023 connected); at 24,023 agents, check-in p99 3346 ms ≥ 100 ms |",
			"### PostgreSQL, 3 replicas on one database",
			"**4 fleet processes**",
			"| 24,023 (the time limit, growing to 30,000) |",
			"| 10,000 | 2 | 3,333 |",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "BENCHMARKS.md")
			if err := writeReport(path, tc.rep); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(data), w) {
					t.Errorf("the report lacks %q", w)
				}
			}
		})
	}
}
