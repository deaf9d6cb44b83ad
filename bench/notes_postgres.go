//go:build linux

package main

// What the PostgreSQL profile showed, and what was done: figures measured
// by hand, on a loaded machine, when the fix was made.

const postgresNotes = `## PostgreSQL: what the profile showed, and what was done

**Measured on a loaded machine** (2 cores shared with six other builds and test runs; load
average 3–26 during these runs), so only the comparisons *within one batch* mean anything:
old and new binaries were run alternately, same sizes, same flags. To reproduce on a quiet
machine, build each commit's harness and run, alternately:

    go build -o /tmp/bench-X ./bench
    /tmp/bench-X -only capacity -stores postgres -steps 1000 -window 10s -settle 2s \
        -approvals-at 1000 -approvals 400 -results /tmp/pg-X

Each run leaves ` + "`postgres-file.txt`" + ` and ` + "`postgres-approve.txt`" + ` in its results: the harness's PostgreSQL
now loads ` + "`pg_stat_statements`" + ` (pgtest, durable mode), and while requests are filed and then
approved (400 each, 8 callers at once, 1,000 agents connected) the harness resets the
statistics, samples ` + "`pg_stat_activity`" + `'s wait events every 10 ms, and writes both, with calls per
operation.

What they showed before (commit f263d05, with the harness's probe added):

| during 400 approvals | |
|---|---|
| ` + "`SELECT seq, hash FROM audit_head … FOR UPDATE`" + ` | 2 calls per approval, **39.6 ms mean** (the statement waits for the lock), 31.7 s of the phase's 6.8 s × 8 callers |
| wait events of active backends | ` + "`Lock: tuple`" + ` 3.0 + ` + "`Lock: transactionid`" + ` 1.6 backends on average (waiting for the audit head's row lock), CPU 0.8, ` + "`IO: WALSync`" + ` 0.1 |
| every other statement | under 0.7 ms mean |
| statements per approval | ≈ 44 (5 read transactions: the token, the batch's window check, the long polls' reads; the decision's transaction; its seal), all prepared once per connection by pgx's statement cache |

The suspects of the issue, one by one:

- **The audit head's row lock serialized every writer that audits**, from its first record to
  its commit, flush to disk included: no two approvals or filings could commit together. This
  was the cause. Fixed: requests filed, approvals, denials, withdrawals and the expiries decided
  with them write their records to ` + "`audit_pending`" + ` in their own transaction, and a seal chains
  them right after the commit, in one short transaction for all that wait (see
  ` + "`docs/audit.md`" + `, "How records join the chain"; the chain, its hashes, ` + "`audit verify`" + ` and
  checkpoints are unchanged). Other audited writers keep the lock: their checks rely on it.
- **NOTIFY in the decision's transaction.** With the head lock gone, the next wait was
  ` + "`Lock: object`" + ` (≈ 1 backend on average): PostgreSQL serializes the commits of transactions
  that NOTIFY, flush included. A NOTIFY in a durable transaction of its own after the commit
  was worse (it gets a transaction id, so a second flush per decision, still under that lock).
  Fixed: notifications leave after the commit from one notifier per server, batched, in a
  transaction that does not wait for the disk (a notification needs no durability: it is
  delivered at commit; lost to a crash, the agent finds its events at its next poll).
- **database/sql's 2 idle connections** with 16 open: every burst past two transactions
  reconnected (a backend forked each time). Now 16 idle.
- **REPEATABLE READ with retries**: not a cause. Only read-only transactions use it (no
  serialization failures are possible there); writers run at READ COMMITTED and race on row
  versions and unique indexes.
- **Missing indexes or prepared statements**: none found; every statement but the lock wait
  was under 0.7 ms mean, and pgx prepares each once per connection.
- **The disk**: ` + "`IO: WALSync`" + ` was 0.1 backends on average before, and is what is left now, with
  ` + "`LWLock: WALWrite`" + ` (commits queueing for the flush, now grouped) and CPU.

Before → after, alternately, same run (approvals/s one request per call with 8 callers;
approvals/s in batches of 100; requests filed/s; 1,000 agents):

| batch (load average) | f263d05 (before) | seal after commit, 16 idle connections (3c7d6af) | + notifier after the commit (00a491f) |
|---|---|---|---|
| A (3–11) | 59 / 28 / 51 | 283 / 146 / 377 | — |
| B (7–26) | 27 / 32 / 63, 28 / 26 / 59 | 170 / 49 / 161, 108 / 41 / 153 | — |
| C (13–26) | 50 / 54 / 68, 36 / 30 / 52 | 132 / 62 / 184, 132 / 48 / 258 | 141 / 77 / 255, 80 / 56 / 162 |
| D (4–17), the branch's last commit | 76 / 59 / 184, 44 / 47 / 45 | — | 99 / 42 / 119, 106 / 51 / 180 |

After both fixes the sampled backends are mostly idle during approvals (≈ 1 active on
average, of 8 callers, against ≈ 5.5 before, 4.5 of them waiting on the head's lock): what is left is the server's and the harness's CPU on these two
shared cores, and the WAL flush; the 500/s aim is to be measured on a quiet machine. The
check-in p99 at 1,000 agents was 11–206 ms in these runs, before and after alike, following
the machine's load rather than the code (the 461 ms of the last full run is not explained by
them; the 16-connection pool held by writers waiting on the head lock is the likely one).

Considered and not done: letting the seal commit without waiting for the disk. A lost seal
would be redone from ` + "`audit_pending`" + `, but perhaps in another order than a checkpoint had
already signed, which would then read as tampering.
`
