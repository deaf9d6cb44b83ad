//go:build linux

package main

// What the fault suite's recovery figures showed before and after the
// link's backoff was bounded: measured by hand, on a loaded machine.

const faultsNotes = `
## Recovery after a server outage: the link's backoff (fault suite)

The fault suite's long form had two unexplained slow recoveries (docs/reliability.md): the
agent's sessions active 9.98 s after PostgreSQL was back (one case in 12), and the agent
converged 8.66 s after a SIGKILL'd server was restarted (one round in 12). Both were hoistd's
wait between polls: the link's backoff doubled after every failed poll (503s from a server
whose database was down, or refused connections) up to 30 s, so the wait under way when the
server came back was about as long as the outage so far, up to 1.5 times it with jitter, and
the 503's Retry-After was not read. Since h-faults (link/run.go) the wait grows to 4 s and no
further (at most 6 s with jitter) in an outage's first minute, and a Retry-After sets it; since
h-left, after a minute it goes on doubling to 60 s with full jitter, so that a large fleet spreads
out against a server that stays down.

Measured alternately in one batch (2 cores shared with four other helpers' builds and tests),
old = commit 9ddbb6b, new = h-faults at a7a6d2d (the link change; f50b860 for the last three
SIGKILL runs, with the test's kill9.agent figure patched into both sides), long forms, each run
of new right after one of old:

    HOIST_FAULTS=long go test -count=1 -run '^TestFaultPostgresRestart$' -v ./e2e/   # 2 runs each
    HOIST_FAULTS=long go test -count=1 -run '^TestFaultServerKill9$' -v ./e2e/       # 5 runs each

| | old | new |
|---|---|---|
| PostgreSQL restarts: sessions active after it was back (24 cases each) | 0.29 s – 3.15 s | 0.23 s – 2.03 s |
| SIGKILL: converged after the restart began (60 rounds old, 60 new) | 0.57 s – 5.21 s | 0.81 s – 5.74 s |
| SIGKILL: converged after the approver's last decision (36 rounds each, 3 runs) | 0.07 s – 4.38 s | 0.36 s – 3.34 s |

Neither side met the 8–10 s case in this batch, and the spread within each side (load: the
test's own ` + "`hoist status`" + ` polls of 12 users take a second or more per look when the machine is
busy) is larger than any difference between them: the change is not measurable at this sample
size. What it changes is the bound: a wait after an outage of up to a minute is at most 6 s (2.5 s
while the server answers 503 with Retry-After: 2), where it was up to 45 s; after a longer one,
at most 60 s.
`
