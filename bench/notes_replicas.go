//go:build linux

package main

// replicasNotes is what the runs of several replicas showed when this part
// of the harness was written: figures measured by hand, on a loaded
// machine, each with its batch and the command that reproduces it.
const replicasNotes = `
#### Several replicas: how push crosses them, and what was measured by hand

**How an approval on replica A reaches an agent polling replica C.** The approval's
transaction appends the agent's event and names the agent (` + "`tx.NotifyAgent`" + `); after the commit,
A wakes its own long polls of that agent at once and hands the agent id to its store's notifier,
which sends ` + "`pg_notify('hoist_agent_events', id)`" + ` in one short transaction that does not wait for
its flush (` + "`sqlstore/notify.go`" + `). Every replica holds one LISTEN connection
(` + "`postgres/listen.go`" + `) and wakes the long polls it holds for that id; the poll reads the event
in a new transaction and answers. A notification is not durable: one lost (a listener
reconnecting, a notifier flush that fails) leaves the agent to find its event at its next poll
(up to 25 s later); a listener that listens again wakes every poll it holds, for that reason.
The harness measures the two paths side by side, alternately in one batch: *same* is only
the local wake, *cross* is the local commit plus the NOTIFY round trip.

**Measured by hand, 2026-12-02, on the shared 2-core machine at load averages 14–41** (other
helpers' builds and benchmarks ran at the same time; the three servers got 0.3–0.6 cores in all),
so the check-in tails say more about the machine than about Hoist:

| batch | agents (3 replicas) | check-in p50 / p99 | push same p50 / p90 / p99 | push cross p50 / p90 / p99 | servers' RSS (each) | fleet RSS |
|---|---:|---|---|---|---|---:|
| A, commit 2ac3a6d | 10,000 | 3.2 / 66.1 ms | 13.4 / 46.0 / 121.2 ms (100) | 15.1 / 58.9 / 115.5 ms (100) | 1,152 MiB (388, 389, 375) | 1,146 MiB |
| A | 24,023 (the time limit, growing to 30,000) | 56.2 / 3,346 ms | 12.9 / 70.8 / 248.8 ms (100) | 19.0 / 81.3 / 477.4 ms (100), one at 29.98 s | 2,733 MiB (917, 924, 891) | 2,572 MiB |
| B, 2ac3a6d + a timer on the notifier's flush | 8,000 | 4.7 / 130.8 ms | 20.8 / 75.4 / 207.5 ms (150) | 22.0 / 87.0 / 369.1 ms (150) | 930 MiB | 833 MiB |
| C, commit 15fc3fb (the defaults of ` + "`make bench`" + `) | 10,000 | 6.7 / 1,172 ms | 21.6 / 90.8 / 261.6 ms (100) | 30.8 / 95.8 / 177.4 ms (100) | 1,115 MiB (372, 378, 365) | 1,140 MiB |
| C | 17,090 (the time limit, growing to 30,000) | 6.0 / 2,334 ms | 16.3 / 79.1 / 405.8 ms (100) | 17.5 / 78.8 / 294.6 ms (100) | 1,935 MiB (640, 641, 655) | 1,892 MiB |
| D, commit 3c630e7 | 27,783 (the time limit, growing to 30,000) | 487 / 7,716 ms | 3 approvals in the 90 s budget: 2 calls timed out at 30 s | — | 3,051 MiB (1,001, 1,010, 1,040) | 2,548 MiB |

Batch A: ` + "`go build -o /tmp/replicas-bench ./bench && /tmp/replicas-bench -only capacity -stores postgres -replicas 3 -replica-deadline 8m`" + `
(10,000 / 30,000 / 50,000; growing reached 24,023 agents in the 8 minutes: 45–80 enrolments
a second at that load, against ≈ 330 a second for one SQLite server on a quiet run). Batch B:
the same with ` + "`-replica-steps 8000 -replica-push-samples 150`" + `, and a line on stderr from the
notifier whenever a flush took over 200 ms or failed (not committed). Batch C: ` + "`go run ./bench -only capacity -stores postgres -replicas 3`" + `
(06:25–06:32 UTC, load average 16 at its start and 33–41 during it); the part took 7.2 minutes.
Batch D, the larger run: ` + "`go run ./bench -only capacity -stores postgres -replicas 3 -replica-steps 30000 -replica-deadline 14m`" + `
(06:33–06:50 UTC, load average 26 at its start and 30–38 during it): 27,783 agents connected in
14 minutes (33 a second), 2 fleet processes.

What they show:

- **Cross-replica push works and costs little**: 1–2 ms at the median over the same-replica
  path and within the noise at p90 and p99 (batch C: the cross-replica tail the lower at both
  sizes), in the same batches. In batch B no notifier flush took over 200 ms
  (300 approvals), so the p99 gap there is the tail of a loaded machine, not the NOTIFY path.
- **One cross-replica push in batch A took 29.98 s** — an approval that reached its agent only
  when the agent's next poll read it, i.e. a notification lost. In the same batch an approval
  call took 10.6 s, and the notifier gives up a flush after 10 s and drops it (by design: "the
  agents' next polls find the events"). Not reproduced in batch B. If it matters at the
  figure's scale, the notifier could re-queue a failed flush (with a pause), or send on a
  connection of its own rather than on the writer pool that check-ins queue on; not changed
  here (` + "`sqlstore`" + ` is another helper's this round).
- **At 27,783 agents (batch D) the one database, or the machine under it, was the limit**:
  check-ins queued (p50 487 ms, p99 7.7 s, none failed) while the three servers used 0.62 cores
  together, and approval calls timed out at the client's 30 s (where they waited was not profiled). Each agent's long poll is renewed
  every 25 s and each renewal reads the database, so 27,783 agents are ≈ 1,100 reads a second
  beside ≈ 110 check-ins a second (writes, last seen) — on one PostgreSQL whichever replica
  takes them. On a machine shared at load 35 this says where the limit is, not how far it is:
  the figure is for a quiet run of ` + "`make bench`" + ` and for the PostgreSQL work of this round.
- **Memory**: 116 KiB per agent on each replica at 24,023 (the same as one server), so 50,000
  agents on three replicas would take ≈ 5.7 GiB together — the aim's 4 GiB needs the memory per
  connection to fall, not more replicas. The fleet processes take about as much again (the
  client side of every TLS connection): 50,000 agents ≈ 11 GiB of the 24 GiB machine.
- **Time**: growing is the cost (each agent enrolled for real: a key, a CSR, a transaction with
  its audit record, then a mutual-TLS handshake). The part is bounded by ` + "`-replica-deadline`" + `
  (9 minutes by default, 6 before stop 17: see "Growing the fleet" below; the fleet held then is
  measured as the last size), plus one window, at most 90 s of push samples and teardown:
  ≈ 11 minutes at most.
`
