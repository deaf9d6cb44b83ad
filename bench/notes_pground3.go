//go:build linux

package main

// PostgreSQL approvals, third round: what the probe showed and what was
// done. Figures measured by hand, alternately, on a heavily loaded machine,
// when the fix was made.

const pgroundThreeNotes = `
### PostgreSQL, third round: fewer statements in the decision, batches bounded together

**What the probe showed first** (` + "`b811326`" + `, the quietest moment of this stop, load average 1.4,
` + "`-steps 1000 -window 5s -settle 1s -approvals-at 1000 -approvals 1000`" + `): 553 approvals/s one per
call with 8 callers, 484/s in batches of 100 — on a quiet machine the one-per-call aim was already
met by stop 16's changes; batches were not. During the approvals the sampled backends were mostly
idle (CPU 0.25, ` + "`IO: WALSync`" + ` 0.23, ` + "`Client: ClientRead`" + ` 0.09 backends on average) and every
statement's mean was under 0.15 ms. A CPU profile of the server during 3,000 approvals (taken from
the child's pprof port) spent 23 % of its samples in write/read system calls to PostgreSQL, 18 % in
the collector, 11 % decoding JSON; a whole-machine ` + "`perf record -a`" + ` put the harness and the server
(one executable) at 41 % of the machine, PostgreSQL at 30 %. So what is left is round trips and
CPU on the two shared cores, not locks or the disk. Of the 34–36 statements counted per approval
(` + "`pg_stat_statements`" + `, the foreign-key and guard triggers' own statements included), four
were the two audit records' ` + "`INSERT INTO audit_pending … RETURNING id`" + ` and their two outbox
events' ` + "`INSERT INTO audit_pending_events`" + `, each a round trip, and one the request's policy
(` + "`SELECT data FROM policies WHERE id = … OR name = …`" + `), already read by the same transaction with
the groups.

What was done (the guarantees are unchanged: each approval, its grant and its audit records are
committed durably in one transaction and sealed into the chain before the call returns):

| change | statements per approval, before → after |
|---|---|
| a transaction that seals after commit keeps its audit records and their outbox events, and writes them all in one statement just before its commit; the statement draws the records' ids and gives them out in ascending order, so the seal keeps the transaction's order (conformance test ` + "`AuditSealedAfterCommit`" + ` now puts a record without an event between two with one) | 4 → 1 |
| ` + "`Policy`" + ` answers from the policies ` + "`Groups`" + ` read in the same statement (where the transaction may take them as one read); a decision checks that JIT mode is still on (which reads them) before the passkey step-up (which wants the request's policy) | 1 → 0 |
| all the batches under way share 8 decisions at once (half the 16-connection pool); four batches at once held all 16 before, and every other call — a single approval, a check-in, a long poll, the seal the batches wait for — queued behind them; a batch of one id is decided on the caller's goroutine (test ` + "`TestBatchesShareTheirSlots`" + `: 16 at once without the bound) | — |

Before → after, alternately, same flags as above (approvals/s one per call with 8 callers / in
batches of 100; statements of every kind per approval, the probe's own left out, which also counts
the long polls' reads and the triggers' statements, and so grows with the phase's length). The machine was shared with four other
sessions building and running their tests the whole time (load average 12–40), so the rates swing
by 3× from one run to the next and say nothing about the change; the statement counts do:

| run (load) | ` + "`b811326`" + ` (old) | this branch (new) |
|---|---|---|
| a (23–40) | 177 / 147, 35.9 statements; 101 / 71, 36.3 | 34 / 41, 35.0; 88 / 74, 32.1 |
| b (12–30) | 114 / 110, 35.8; 152 / 113, 35.3 | 369 / 209, 30.0; 112 / 84, 31.3 |
| c (16–24) | 227 / 354, 34.1; 167 / 118, 34.5 | 326 / 274, 30.1; 190 / 182, 31.0 |

Statements per approval: 34.1–36.3 old, 30.0–32.1 new (35.0 in the run at load 40, the slowest,
whose long polls renewed most often). SQLite, the same two builds alternately
(` + "`-stores sqlite -steps 1000 -approvals 1000`" + `, load 10–13; one per call / batched): old 544 / 842,
245 / 442; new 723 / 925, 546 / 570. Not lower (SQLite's batches still decide one at a time; its views answer
` + "`Policy`" + ` from the groups' read too).

Per approval, old → new in the probe's files: ` + "`INSERT INTO audit_pending`" + ` 2.00 and
` + "`INSERT INTO audit_pending_events`" + ` 2.00 → one ` + "`WITH drawn …`" + ` 1.00; the policy read 1.00 → gone;
everything else the same.

Not reached here: a measurement of the 500/s aim on a quiet machine after these changes (the next
quiet ` + "`make bench`" + ` will say). What is still left, in round trips per approval: begin and commit of
the decision and of its share of a seal; the admin's token and account read outside the
transaction and the account read again inside it (2 admins reads: the second keeps an account
disabled meanwhile from deciding); the request read by the batch's window check and again by the
decision; the advisory lock on the agent's event queue before its event's insert (one statement
could take both, but the order of the lock before the number is what the last review fixed, so it
was left); ` + "`SET LOCAL synchronous_commit = off`" + ` in each relaxed transaction; the long polls' two
reads of the agent's events. Sending a transaction's statements as one pgx pipeline is still the
way to most of these, and still means a PostgreSQL store beside the shared database/sql code.
`
