//go:build linux

package main

// PostgreSQL check-ins and approvals, second round: what the probe showed
// and what was done. Figures measured by hand, on a heavily loaded machine,
// when the fix was made.

const pgperfNotes = `
### PostgreSQL, second round: check-ins and approvals are round trips

**How it was measured.** The probe now also watches every check-in window (` + "`postgres-checkin-N.txt`" + `
beside ` + "`postgres-file.txt`" + ` and ` + "`postgres-approve.txt`" + `: statements per check-in, wait events of the
server's backends sampled every 10 ms), and a CPU profile of the server was taken during 2,000
approvals. Base ` + "`9ddbb6b`" + ` (old) against this branch (new), alternately, same flags:

    go build -o /tmp/bench-X ./bench      # at each commit
    /tmp/bench-X -only capacity -stores postgres -steps 1000,3000 -window 10s -settle 2s \
        -approvals-at 1000 -approvals 1000 -results /tmp/pg-X

**Check-ins: the database is idle; the time is the round trips.** At 1,000 agents (load average
12) the check-in p99 was 80 ms while the sampled backends were active 0.00 on average and every
statement's mean was under 0.05 ms; at 3,000 agents the same (0.03 active backends, p99 97 ms), with
the server's process at 0.04–0.19 cores. So neither locks nor the disk is the limit, and the 16-connection
pool is unlikely to be (its wait count is not recorded by the harness: not measured). A
check-in was 8 statements in one write transaction (begin, the agent, ` + "`SET LOCAL synchronous_commit`" + `,
groups, policies, emergency codes, the update, commit), plus 3 for the agent's record when it is not
cached (5 s), and each long-poll renewal is 2 read transactions of 3 statements (the agent, its
events). Each statement is a round trip to another process, and on a machine where two cores run
30 processes each round trip waits for the scheduler twice: SQLite, in the server's process, pays
none of this, which is why it reaches the open-file limit first.

**Approvals (before, the quietest runs, load 1–8):** 181–404/s one per call with 8 callers, 83–199/s in
batches of 100; ≈ 38 statements per approval (5 read transactions: the admin's token, the batch's
window check, the woken long poll's read, the renewed poll's agent and events reads, and the read
after this server's own NOTIFY comes back), the decision's transaction, its share of a seal. Wait
events during approvals: ` + "`LWLock: WALWrite`" + ` 0.65 + ` + "`IO: WALSync`" + ` 0.41 backends on average, CPU 0.38; the
server's CPU profile: 28 % in write/read syscalls to PostgreSQL, 13 % building the outbox events
(their JSON and the records they read back). A batch decided its ids one after another, each
waiting for its own commit's flush and then its seal's: 100 flushes in turn.

What was done (all in ` + "`sqlstore`" + ` and ` + "`control`" + `; the guarantees are unchanged: each approval, its
grant and its audit records are committed durably in one transaction, and sealed into the chain
before the call returns):

| change | statements per operation, before → after |
|---|---|
| a transaction reads back the requests and sessions it wrote from what it wrote (the rows are locked by the write, so it is what a read returns): the outbox's event data no longer reads them again | approval: request reads 3 → 2, session reads 1 → 0 |
| a decision's transaction (which seals after commit and relies on no lock) reads its agent once: the grant and each outbox event's computer group used to read it again | approval: agent reads 3.1 → 2.4 (the rest are the long polls') |
| ` + "`Groups`" + ` reads the groups, policies and emergency codes in one statement where the transaction may take them as one read (read-only views, check-ins that relaxed durability, decisions); a write in the transaction drops it | check-in transaction: 8 → 6 statements |
| on PostgreSQL, ` + "`Approve`" + ` decides a batch's ids four at a time, each still in its own transaction (a batch naming an id twice stays in order), so their commits and seals share flushes | batch of 100: 100 decisions in turn → ≈ 25 rounds of 4 sharing flushes |

Before → after, alternately in one batch each (approvals/s one per call with 8 callers / in batches of
100 / requests filed per second; check-in p99 at 1,000 and 3,000 agents). Old is ` + "`9ddbb6b`" + ` throughout;
new is the branch as it stood: b1 the first two changes without the agent's read, b2 ` + "`93e082f`" + `, b3–b4
` + "`ca148a4`" + `, b5–b6 ` + "`cd8c5e6`" + `. The machine's load average was 13–43 for b1–b4 (four other sessions building
and benchmarking), so single figures swing by 4× from one run to the next; only the quietest pair (b5–b6) is worth reading closely:

| batch (load) | old | new |
|---|---|---|
| b1 (13–24) | 213 / 89 / 289, p99 33 ms; 51 / 20 / 59, p99 114 ms | 194 / 245 / 328, p99 41 ms; 91 / 70 / 188, p99 47 ms |
| b2 (23–38) | 128 / 15 / 133, p99 561 ms; 105 / 40 / 157, p99 125 ms | 138 / 190 / 148, p99 642 ms; 126 / 42 / 64, p99 193 ms |
| b3 (31–41), with 3,000 | 68 / 19 / 105, p99 281 / 1298 ms; 235 / 44 / 314, p99 65 / 96 ms | 87 / 76 / 137, p99 323 / 52 ms; 57 / 74 / 130, p99 162 / 1991 ms |
| b4 (25–43), with 3,000 | 59 / 21 / 92, p99 573 / 888 ms; 102 / 50 / 88, p99 169 / 120 ms | 56 / 18 / 24, p99 341 / 518 ms; 75 / 65 / 141, p99 1820 / 1506 ms |
| b5–b6 (6–10), with 3,000 | 292 / 65 / 512, p99 87 / 112 ms; 275 / 158 / 478, p99 4 / 6 ms | 397 / 366 / 806, p99 4 / 5 ms; 330 / 288 / 572, p99 8 / 4 ms |

On the quietest pair (b5–b6, load 6–10) approvals one per call rose ≈ 1.3× (275–292 → 330–397/s),
in batches 2–5× (65–158 → 288–366/s), filings ≈ 1.4×; check-in p99 was 4–8 ms on both at 1,000 and
3,000 agents: at that load neither build is near the 100 ms line, so the fleet-size aim is decided by
the load of the full run. At load 25–43 (b4) no difference stands out of the noise: with every
core taken, fewer round trips wait as long for the scheduler as before.

SQLite, the same two builds alternately (` + "`-stores sqlite -steps 1000 -approvals 1000`" + `, load 4–18; one per
call / batched / filed): old 321 / 472 / 1048, 416 / 475 / 804, 397 / 499 / 831; new 395 / 377 / 715
(the build that still ran SQLite's batches four at a time: since then one at a time, as before),
353 / 471 / 1231, 576 / 683 / 1521. Not lower.

Not reached here: 500 approvals/s and SQLite's fleet size on PostgreSQL. What the probe says it takes,
in order of round trips saved per operation:

- **Fewer round trips per transaction** (check-ins, polls, approvals alike): database/sql sends
  ` + "`begin`" + `, each statement and ` + "`commit`" + ` as separate round trips. pgx's own interface can send a
  read transaction's begin, statements and commit in one flush (a pipeline or ` + "`pgx.Batch`" + `), making a
  long-poll renewal 1 round trip instead of 6 and a check-in 1–2 instead of 6; that means a
  PostgreSQL implementation of the store's reads on pgx rather than the shared database/sql code.
- **The read after this server's own NOTIFY** (one read transaction per decision): the listener
  cannot tell its own notifications from another replica's without knowing its pool's backend pids
  (a notification carries the sender's pid) or a server id in the payload; both change the listener
  that the replicas work also uses, so left for it.
- **The agent's cached record (5 s) and the admin's token** are read again on most calls; a longer
  cache would need revocations on other replicas to reach it (a NOTIFY, as for events).
- **The seal on the approval's path**: an approval waits for its commit's flush and then for a seal's
  (its records' place in the chain). Letting the call return before the seal would halve the flushes
  it waits for, but readers of the log (console, export, checkpoints) would then have to seal first to
  keep seeing every record of a call that returned.
`
