//go:build linux

package main

import (
	"fmt"
	"strings"
)

// LargestStep is the largest size that passed, nil when none did.
func (r replicasResult) LargestStep() *replicaStep {
	for i := range r.Steps {
		if r.Steps[i].Agents == r.Largest && r.Steps[i].OK {
			return &r.Steps[i]
		}
	}
	return nil
}

// FleetSchedMeasured says whether the run measured the fleet processes'
// waits to run (older run.json files did not).
func (r replicasResult) FleetSchedMeasured() bool {
	for _, st := range r.Steps {
		if st.FleetSched != nil {
			return true
		}
	}
	return false
}

// StoppedText says why the run of several replicas stopped growing, for
// the report.
func (r replicasResult) StoppedText() string {
	if len(r.Steps) > 0 {
		if l := r.Steps[len(r.Steps)-1]; !l.OK && l.Why != "" && !strings.HasPrefix(r.Stopped, "at ") {
			return fmt.Sprintf("the run stopped at %s agents, its last size: %s", thousands(l.Agents), l.Why)
		}
	}
	switch {
	case strings.HasPrefix(r.Stopped, "at ") && len(r.Steps) > 0 && r.Steps[len(r.Steps)-1].Partial && r.Steps[len(r.Steps)-1].Why != "":
		l := r.Steps[len(r.Steps)-1]
		return fmt.Sprintf("the run stopped %s; at %s agents, %s", r.Stopped, thousands(l.Agents), l.Why)
	case strings.HasPrefix(r.Stopped, "at "):
		return "the run stopped " + r.Stopped
	case r.Stopped == "every step passed":
		return "every size measured passed, up to the run's last step"
	case r.Stopped != "":
		return "the run stopped at " + r.Stopped
	}
	return "not measured"
}

// replicasGlance is the row of "The aims at a glance" for the replicas;
// an older run.json without them renders as not measured.
const replicasGlance = `
{{- range .Replicas}}
| PostgreSQL, {{.Replicas}} replicas on one database: agents with check-in p99 < 100 ms, push p99 < 200 ms from an approval on any replica to an agent on any other, servers' RSS ≤ 4 GiB | 50,000 | {{n .Largest}}{{with .LargestStep}} ({{f0 .RSSMiB}} MiB; push p99 {{f1 .PushCross.P99}} ms cross-replica, {{f1 .PushSame.P99}} ms same){{end}} | {{if ge .Largest 50000}}met{{else}}**not reached**: {{.StoppedText}}{{end}} |
{{- else}}
| PostgreSQL, three replicas on one database: 50,000 agents, check-in p99 < 100 ms, cross-replica push p99 < 200 ms, servers' RSS ≤ 4 GiB | 50,000 | not measured in this run | |
{{- end}}`

// replicasSection is the report's section on several replicas.
const replicasSection = `
{{range .Replicas}}
### PostgreSQL, {{.Replicas}} replicas on one database

Alone: ` + "`go run ./bench -only capacity -stores postgres -replicas {{.Replicas}}`" + ` (as root; sizes with
` + "`-replica-steps`" + `). {{.Replicas}} server children as above, each with a copy of the first one's CA and keys
(as an operator gives every replica the same), on one PostgreSQL cluster made with initdb as above.
Agent *n* enrols with and connects to replica *n* mod {{.Replicas}}, so the fleet is spread evenly. One
process's open-file limit holds neither all the servers' connections nor all the agents', so the
fleet is held by **{{.FleetProcs}} fleet process{{if ne .FleetProcs 1}}es{{end}}** (the harness run again as ` + "`fleet-child`" + `, at most
15,000 agents each, driven over a pipe); each agent behaves as above, from its own 127.x.y.z
source address. At each size: a few seconds to settle, one {{$.Window}} window of check-ins (by replica), each
server's RSS and CPU from ` + "`/proc`" + `, then **push** of two kinds, alternately: a request filed
through a random agent, approved over the API of the replica that agent long-polls (*same*), or of
another replica (*cross*: the approving replica's commit sends ` + "`pg_notify`" + `, the agent's replica
hears it on its LISTEN connection and answers the long poll). The time runs from sending the
approval to the grant arrived and verified in the fleet process (stamped by the wall clock
both processes read). A size passes when check-in p99 < 100 ms with ≤ 0.1% failed, push p99
< 200 ms of both kinds with none lost, and the servers' RSS together ≤ 4 GiB.
Starting PostgreSQL, the replicas and the fleet processes took {{f0 .StartSecs}} s; the whole part
{{mins .Seconds}} minutes.

| agents | grow (s) | check-ins | p50 | p99 | failed | poll errors | servers' RSS | per agent | servers' CPU | fleet RSS | push same p50 / p99 (n) | push cross p50 / p99 (n) | approve call p50 |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---:|
{{- range .Steps}}
| {{n .Agents}}{{if .Partial}} (the time limit, growing to {{n .Target}}){{end}} | {{f0 .GrowSeconds}} | {{.Checkins.N}} | {{f1 .Checkins.P50}} ms | {{f1 .Checkins.P99}} ms | {{.Checkins.Errors}} | {{.PollErrors}} | {{f0 .RSSMiB}} MiB | {{if ge .Agents 1000}}{{kib .RSSMiB .Agents}} KiB{{else}}—{{end}} | {{f2 .CPU}} cores | {{f0 .FleetRSSMiB}} MiB | {{with .PushSame}}{{f1 .P50}} / {{f1 .P99}} ms ({{.N}}{{if .Errors}}, {{.Errors}} lost{{end}}){{end}} | {{with .PushCross}}{{f1 .P50}} / {{f1 .P99}} ms ({{.N}}{{if .Errors}}, {{.Errors}} lost{{end}}){{end}} | {{with .ApproveCall}}{{f1 .P50}} ms{{end}} |
{{- end}}

By replica:

| agents | replica | agents on it | check-ins | p50 | p99 | failed | RSS | peak RSS | CPU | threads | waits to run p99 / max (≥ 100 ms) | GC pause max, GC CPU |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|
{{- range $st := .Steps}}{{range .Replicas}}
| {{n $st.Agents}} | {{.Replica}} | {{n .Agents}} | {{.Checkins.N}} | {{f1 .Checkins.P50}} ms | {{f1 .Checkins.P99}} ms | {{.Checkins.Errors}} | {{f0 .RSSMiB}} MiB | {{f0 .PeakMiB}} MiB | {{f2 .CPU}} cores | {{.Threads}} | {{with .Sched}}{{f1 .RunnableP99}} / {{f1 .RunnableMax}} ms ({{.RunnableOver100ms}}){{else}}—{{end}} | {{with .Sched}}{{f1 .GCPauseMax}} ms, {{f2 .GCCPUSeconds}} s{{else}}—{{end}} |
{{- end}}{{end}}
{{- if .FleetSchedMeasured}}

The fleet processes in the same windows (the worst p99 and longest wait among them; the waits of 100 ms or more and the collectors' CPU summed):

| agents | waits to run p99 / max (≥ 100 ms) | GC pause max | GC CPU |
|---:|---|---:|---:|
{{- range $st := .Steps}}{{with .FleetSched}}
| {{n $st.Agents}} | {{f1 .RunnableP99}} / {{f1 .RunnableMax}} ms ({{.RunnableOver100ms}}) | {{f1 .GCPauseMax}} ms | {{f2 .GCCPUSeconds}} s |
{{- end}}{{end}}
{{- end}}

*Waits to run* are each process's own Go runtime's count of how long goroutines sat ready to run
without a thread (` + "`/sched/latencies:seconds`" + `, bucket bounds), over the window: a check-in
timed by a fleet process includes its own goroutine's wait, and a server's answer its handler's.
The database's side of each window is in ` + "`postgres-replicas-window-N.txt`" + ` (wait events, statements).

Largest fleet that passed: **{{n .Largest}} agents**; {{.StoppedText}}.
{{end}}
` + replicasNotes + replicasGrowthNotes
