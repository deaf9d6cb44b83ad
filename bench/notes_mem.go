//go:build linux

package main

// memoryNotes is where a connected agent's server memory goes and what was
// done about it: figures measured by hand, alternating old and new builds
// in one batch on a loaded machine, when the change was made.
const memoryNotes = `
## Server memory per connected agent

Measured with the capacity section on SQLite at 1,000 and 3,000 agents, from the server's RSS
and its runtime (` + "`server_runtime`" + ` in run.json: MemStats from pprof's heap text, the goroutine count,
and from runtime/metrics the live heap at the last collection, the size goroutines start with,
the collections and their CPU; ` + "`server_gc_cores`" + ` is the collector's share over the window):

    go run ./bench -only capacity -stores sqlite -steps 1000,3000 -window 10s -settle 5s \
        -approvals-at 1 -approvals 10

Per agent is the growth between the two sizes divided by 2,000. **Loaded machine** (2 cores
shared with four other sessions' builds and tests, load average 26–40): builds were run
alternately in two batches of 8 and 7 runs (the table; a third, quieter batch below):
` + "`base`" + ` = commit 9ddbb6b with this branch's sampling, the others = branch h-mem at 2b42910 and
40cbdd0 (the same server code; 40cbdd0 adds ` + "`server_gc_cores`" + `) with the collector's target as
named, each build run as ` + "`go build -o bench-X ./bench && ./bench-X -only capacity …`" + ` with the
flags above and ` + "`-out`" + `/` + "`-results`" + ` in a directory of its own.

| build | RSS per agent | goroutine stacks | live heap | RSS at 3,000 | growing 1,000 → 3,000 |
|---|---:|---:|---:|---:|---:|
| base (GOGC 100) | 112.6, 107.4, 99.7, 104.1 KiB | 40.8, 39.6, 40.1, 40.0 KiB | 30–36 KiB | 335–361 MiB | 22–94 s |
| branch, ` + "`--gc-percent 100`" + ` | 89.2, 95.7 KiB | 22.6, 24.9 KiB | 29–34 KiB | 293, 307 MiB | 18, 21 s |
| branch, ` + "`--gc-percent 50`" + ` (**the default**) | 78.7, 74.5, 78.5, 78.1 KiB | 23.1–24.0 KiB | 33–36 KiB | 252–266 MiB | 13–109 s |
| branch, ` + "`--gc-percent 25`" + ` | 67.6, 69.3, 68.6, 63.8 KiB | 22.7–23.7 KiB | 30–33 KiB | 233–239 MiB | 40–162 s |

What was done:

- **A connection's goroutine no longer keeps the TLS handshake's stack.** net/http handshakes on
  the goroutine that then serves the HTTP/2 connection for the agent's whole life; the hybrid
  key exchange and the client certificate's check grow it to tens of KiB, and a collection
  halves a stack at most once. The API listener now hands net/http connections whose handshake
  was done on a goroutine of its own that ends with it (` + "`server.handshakeListener`" + `; same
  configuration, same 10 s bound, HTTP/1.1 and HTTP/2 as before).
- **A parked long poll no longer keeps SQLite's stack.** The long poll's reads before it parks
  (the agent's record for authentication, its events) run on a goroutine of their own
  (` + "`control.Service.viewApart`" + `), which gives its grown stack back when the read returns.
- Together: goroutine stacks **≈ 40 → ≈ 23 KiB per agent** (3 goroutines at the runtime's 8 KiB
  start each; before, ≈ 13 KiB each), RSS ≈ 106 → ≈ 92 KiB at Go's collector target.
- **The collector's target is 50 (` + "`--gc-percent`" + `, default 50; the environment's GOGC wins).**
  At Go's 100 the heap grows by as much again as the live heap *and the stacks* before each
  collection; at 50, half that: ≈ 92 → ≈ 77 KiB per agent (50,000 agents ≈ 3.7 GiB instead of
  ≈ 5 GiB before this branch). Its cost: twice the collections (56 against 24 by the end of
  these runs); the server's whole CPU at 3,000 idle agents by /proc 0.06–0.09 cores against
  0.05–0.08 at base, 0.09–0.13 at 25 (the collector's own share over a 10 s window, by the
  runtime's estimate, which counts time on a core and so overstates it on a loaded machine:
  0.00–0.13 cores at 50, 0.03–0.27 at 25, 0.04 at base — a collection falls in the window
  or not). Growing the fleet (enrolment and TLS handshakes, which allocate much) took
  13–109 s at 50 and 40–162 s at 25 against 18–21 s for the branch at 100 and 22–94 s for
  base: the machine's load decides most of it, but the slow runs were mostly at the lower
  targets, so what a reconnecting fleet costs at each target is to be measured on a quiet
  machine before lowering the default further (the flag takes 100 back).
- **A third batch on a quieter machine** (load average 6–8; base, 50, 100, base, 50, 100, same
  command, same commit): RSS per agent base 107.2 and 103.8 KiB, the branch at 100 88.4 and
  92.6, at 50 77.9 and 75.2; stacks 40.0 / 37.7, 24.2 / 23.2, 23.9 / 23.5 KiB; growing
  1,000 → 3,000 took base 8 and 9 s, 100 4 and 4 s, 50 29 and 8 s; the server's CPU at 3,000
  idle agents 0.03–0.05 cores at each target; the collector's CPU over the whole run (start,
  enrolment of 3,000 agents, both windows), by the runtime's estimate: base 1.5 and 1.6 s,
  100 1.2 and 1.3 s, 50 8.8 and 4.6 s.

Tried and not kept: ` + "`GODEBUG=adaptivestackstart=0`" + ` (goroutines start at 2 KiB rather than
the runtime's adaptive 8 KiB): 22.2 against 23.3 KiB of stacks per agent at 50 (one run) —
the three goroutines grow to 8 KiB anyway. Considered and not tried: an HPACK table for what
agents send smaller than 512 bytes: an agent may encode its first requests before it has
read the server's settings, against a larger table, and a later reference to an entry the
server did not keep would break the connection.

**A shallower parked poll, and no HPACK table for answers (branch h-mem).** Where a
parked poll's stack goes was read from a goroutine dump of the server child with
` + "`GOTRACEBACK=system`" + ` (every frame's stack pointer; 200 agents parked, SIGQUIT by pid): the
connection's loop used 3,680 bytes of stack, its frame reader 1,848, the parked poll 4,008 —
of which 2,880 in Hoist's frames (` + "`agentAuthenticated`" + `'s closure 912 B: the agent's record and the
request's copy; ` + "`agentEvents`" + ` 720 B; ` + "`instrument`" + ` 296 B; ` + "`api.Handler.ServeHTTP`" + ` 216 B). The
runtime starts every goroutine at the average stack it scanned plus a 928-byte guard, rounded
up to a power of two: those three averaged just over 3,168 bytes, so every goroutine — every
renewed poll among them — started at 8 KiB. The work with large frames now runs in functions
of their own that are not inlined (` + "`withAgent`" + `, ` + "`readEventPoll`" + `, ` + "`writeEvents`" + `, ` + "`finish`" + `,
` + "`answerError`" + `, ` + "`noRoute`" + `) and have returned, or not begun, while the poll waits: those frames
are 40, 72, 192 and 80 bytes, goroutines start at 4 KiB, and the parked poll fits in it (the totals below come to 8 + 8 + 4 KiB per agent).
The answers' HPACK table (the server's encoder) is 1 byte instead of 512 (0 means Go's
4 KiB): an encoder may always use less than its peer allows and announces it in the header
block, so deployed hoistd versions decode it unchanged; it saves the answers' past headers and
two index maps per connection (encoder allocations in the sampled heap profile at 3,000 agents
3.5 → 1 MB). Measured alternately with the command above, SQLite, 1,000 → 3,000 agents, load
average 7–40 (four other sessions building and testing): base = b811326, d54c046 = the shallow
park, a12451c = with the HPACK change:

| build | RSS per agent | goroutine stacks | live heap | goroutines start at | RSS at 3,000 |
|---|---:|---:|---:|---:|---:|
| b811326 (6 runs) | 73.2, 74.1, 74.6, 76.1, 74.0, 73.2 KiB | 23.4–24.1 KiB | 28.5–33.1 KiB | 8 KiB | 249–258 MiB |
| d54c046 (4 runs) | 70.9, 76.7, 68.1, 70.4 KiB | 20.0–21.5 KiB | 29.7–32.1 KiB | 4 KiB | 240–256 MiB |
| a12451c (3 runs) | 70.8, 65.7, 71.3 KiB | 19.8–20.0 KiB | 27.9–33.6 KiB | 4 KiB | 235–244 MiB |

Stacks fell ≈ 3.7 KiB per agent (from three goroutines at 8 KiB to 8 + 8 + 4), RSS per agent
by about as much (medians 74.0 → 70.8 KiB; the runs' spread is as wide as the change). With
` + "`GODEBUG=adaptivestackstart=0`" + ` (one run, a harness build that passes GODEBUG to the server)
stacks were 19.9 KiB: the connection's loop and its frame reader grow past 4 KiB by
themselves, and parked at 3,680 and 1,848 bytes neither can be halved back (a collection
halves an 8 KiB stack only below ≈ 1,248 bytes used); both are net/http's and crypto/tls's
frames.

What is left, and why ≤ 60 KiB is not reached: ≈ 20 KiB of stacks (net/http's HTTP/2 server
runs three goroutines per agent with a long poll: the connection's loop and its frame reader
at 8 KiB each, as above, and the parked poll at 4 KiB) and ≈ 30 KiB of live heap, most
of it inside net/http and crypto/tls (sampled heap profile at 3,000 agents: the poll's
response writer 4 KiB, the TLS connection's handshake and record buffers ≈ 3–4 KiB, the
HPACK table of what agents send ≈ 2 KiB, the frame writer's buffer, AES-GCM state both ways, the
agent's parsed certificate ≈ 1–2 KiB each; the two response headers every API answer sets
before its handler runs, ≈ 0.7 KiB while a poll waits, could be set when the answer is written:
not done), ≈ 50 KiB before any garbage. Getting under 60 KiB takes an idle
long poll that holds no handler goroutine and no response writer — an HTTP/2 server of
our own, or a push channel other than a parked request — with the wire contract kept for
the hoistd versions already deployed.

**The security headers set as the answer begins (stop 18).** The two headers every API answer
carries (` + "`X-Content-Type-Options: nosniff`, `Cache-Control: no-store`" + `) were set before the
handler ran, so every parked poll held a header map it had not yet needed. They are now set as
an answer begins (the first write, status or flush; an answer the handler left empty; no route;
the metrics), checked by ` + "`api.TestEveryAnswerForbidsSniffingAndStorage`" + ` (ten kinds of answer).
Measured with the command above, old = 43a1875, new = 775be54, alternately on a quiet machine
(21:47–21:51 UTC, load average under 1, nothing else running): RSS per agent old 66.7, 68.3,
70.5 KiB, new 66.3, 70.3, 69.3 KiB — the change (≈ 0.5–0.7 KiB) is inside the runs' spread of
4 KiB; the sampled heap profiles at 3,000 agents show it: ` + "`MIMEHeader.Set`" + ` and
` + "`http2responseWriter.Header`" + ` held 1.0–2.0 MB in use in the old runs and nothing in the new.
`
