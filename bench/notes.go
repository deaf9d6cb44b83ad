//go:build linux

package main

// The prose of the report that does not change with the figures: what the
// profiles showed and what was done about it. Before/after figures here
// were measured by hand, by the commands given, when the fix was made.

const elevationNotes = `### What the profile of ` + "`hoist run`" + ` showed, and what was done

| finding | how it was measured | fix | before → after |
|---|---|---|---|
| the domain package compiled ` + "`^[\\p{L}\\p{N}][\\p{L}\\p{N} ()._/-]{0,99}$`" + ` (policy and group names) at start-up: 26 ms and 3.9 MB of every ` + "`hoist`" + ` command, and of hoistd's and the server's start | ` + "`GODEBUG=inittrace=1 hoist --help`" + ` | name checks are loops (held to the same answers as the expressions by a test) | ` + "`hoist --help`" + ` 52.8 → 18.9 ms mean; ` + "`hoist run -- /bin/true`" + ` 48.3 → 39.4 ms median against sudo's 33.3 in one batch on a loaded machine (` + "`hyperfine -N`" + `, 200 runs) |
| (earlier) every run fsynced two audit events before answering (≈ 4 ms) | strace, timing of ` + "`Outbox.Append`" + ` | the fsync is batched in the background | 24.1 → 18.0 ms |
| (earlier) ` + "`hoist`" + ` linked the whole server for the admin wire types | ` + "`go list -deps ./cmd/hoist`" + ` | wire types in package ` + "`wire`" + ` | 13.2 → 10.1 MB |

What remained before the client split, in the two parts the tables above separate:

- **The Go client's start-up** (` + "`hoist --help`" + ` against an empty Go program and ` + "`/bin/true`" + `): an
  empty Go program already costs several times ` + "`/bin/true`" + ` here, and ` + "`hoist`" + ` adds its package
  initialisation (93 packages with init work: net/http, crypto/tls and x509 for ` + "`hoist admin`" + `,
  YAML for policy files, D-Bus for the JIT helper, cobra). ` + "`perf record -e page-faults`" + ` over
  ` + "`hoist run`" + ` counts ≈ 460 page faults against ≈ 150 for the empty program and ≈ 50 for
  ` + "`/bin/true`" + `, and a page fault is dear in this VM; CPU samples put a quarter of the client in
  the runtime's own start (schedinit, ` + "`internal/cpu`" + `'s cpuid exits), a quarter in package inits,
  a sixth in cobra and JSON reflection. ` + "`GOMAXPROCS=1`" + ` and ` + "`GODEBUG=memprofilerate=0`" + ` changed
  nothing measurable. A ` + "`hoist`" + ` whose user commands do not carry the admin client's packages
  would cut most of the inits: done since, see "The client split" below.
- **The round trip through hoistd** (` + "`hoist run -- /bin/true`" + ` minus ` + "`hoist --help`" + `): the bare
  spawn into the session cgroup is ≈ 3 ms (` + "`go test -bench StartTrue ./platform`" + `, /bin/true
  itself 2 ms); the rest of hoistd's path (peer credentials, the policy decision, the audit
  events written to the outbox, the relay and the exit report) is the next thing to profile:
  ` + "`perf record -g -p $(pidof hoistd)`" + ` during the batch shows it spread over syscalls, the
  outbox's write and the fork/exec, with no single hot spot found yet.
`

const capacityNotes = `### What limits capacity here

- **Open files.** This sandbox fixes every process's hard limit at 20,000 open files, and root
  lacks CAP_SYS_RESOURCE to raise it; each agent costs the server one descriptor (and the
  harness one), so one server process cannot hold 50,000 agents on this machine whatever its
  speed. The search therefore stops just under the limit; the RSS per agent measured on the
  way gives the 50,000 extrapolation above. On a normal host (` + "`LimitNOFILE=`" + ` in the unit)
  the same harness runs to 50,000 with ` + "`-steps`" + `; several replicas on one PostgreSQL
  database are the designed way past one process.
- **CPU, shared.** The harness (the client side of every TLS connection) and the server share
  the 2 cores; the server's share is in the table. Growing the fleet is bounded by TLS
  handshakes and enrolment (each enrolment is a transaction with its audit record).
- **SQLite has one writer.** Enrolments and check-ins (which record last-seen) queue on it;
  long polls and agent authentication read beside it (WAL).
`

const profileNotes = `## Profiles, and what they point at

The harness keeps a CPU profile (over the measurement window) and a heap profile of the server
at the largest size that passed and the first that failed, in ` + "`bench/results/`" + `
(` + "`go tool pprof -top -cum bench/results/sqlite-*.cpu.pprof`" + `). The first full run (at
commit 826ab57, SQLite, 19,500 agents) showed:

| share of the server's CPU | where |
|---:|---|
| 55% | requests under ` + "`agentAuthenticated`" + `: every agent request first read the agent's record in a read transaction of its own (` + "`control.Service.Agent`" + `, 27%) to refuse a revoked agent |
| 17% | ` + "`AgentEvents`" + `: the long polls' renewals (one every 25 s per agent) and their read transaction |
| 15% | SQLite parsing the same statements again: ` + "`modernc.org/sqlite`" + ` through ` + "`database/sql`" + ` prepares every query anew (` + "`_sqlite3RunParser`" + `) |
| 16% | syscalls (network, futex) |

and, on PostgreSQL, check-ins that each waited for a WAL flush to this VM's disk (p99 376 ms at
100 agents, 1.3 s at 1,000), not CPU.

What was done, with the figures before (run at 826ab57) and after (the tables above, and
` + "`go run ./bench -only capacity -stores sqlite -steps 1,1000,10000,15000,19500`" + ` run alone right
after the change):

| fix | before | after |
|---|---|---|
| agent records read for authentication are kept 5 s (` + "`control.agentCache`" + `); a revoke drops the record at once and wakes the agent's long poll, a revoke on another replica is seen within the 5 s | SQLite check-in p99: 34.5 ms at 10,000, 72.2 ms at 15,000, **2,668 ms at 19,500** (fail); server 0.58 cores at 15,000 | 22.7 ms at 10,000, 52.9 ms at 15,000, **65.4 ms at 19,500** (pass); 0.45 cores at 15,000 |
| a check-in commits without waiting for the disk on PostgreSQL (` + "`Tx.RelaxDurability`" + `: ` + "`SET LOCAL synchronous_commit = off`" + `; a crash can lose the last check-ins' last-seen times, never corrupt) | PostgreSQL check-in p99 376 ms at 100 agents | the PostgreSQL table above |
| (client) the domain package's start-up regular expression, see elevation above | 26 ms and 3.9 MB of every start of hoist, hoistd and hoist-server | gone |

Next, not done yet: prepared statements kept per connection in ` + "`sqlstore`" + ` for the hot queries
(agent events, agent by id), which the profile puts at about a sixth of the server's CPU.
`

// changeReportNotes is measured by go test -bench, not by the harness: it is
// kept as written when the harness rewrites the page.
const changeReportNotes = `
## Change report: the snapshot of a session's start and end

Not measured by the harness: ` + "`" + `go test -bench` + "`" + `, run by hand (as root) on the machine of the
tables above while other test runs shared it (load average 6.5 on its 2 cores):

    go test -run '^$' -bench Snapshot -benchtime 20x -count 5 -benchmem ./snapshot/

A snapshot of this Debian 12 machine (merged /usr; 916 packages, 252 unit files in
/usr/lib/systemd/system, 1,187 entries in /usr/bin; 1,361 entries in all, with the default
list of files under /etc), as hoistd takes it at each session's start and end:

| run | time per snapshot | allocated | allocations |
|---|---:|---:|---:|
| first of the batch (colder caches) | 29.6 ms | 1.9 MB | 22,098 |
| the four after it | 16.0 – 17.6 ms | 1.9 MB | 22,099 |

Aim "well under a second": met, by some fifty times. Where the time goes (` + "`" + `-cpuprofile` + "`" + `, 100
snapshots): 60% in system calls; the setuid scan (one ` + "`" + `fstatat` + "`" + ` per entry of each binary
directory) 39%, the unit directories (a listing and a hash per file) 29%, dpkg's status file
(0.8 MB here, parsed line by line) 17%. Each snapshot is bounded in time as well
(` + "`" + `agent.DefaultChangesTimeout` + "`" + `, 10 s) and hoistd takes one at a time.
`
