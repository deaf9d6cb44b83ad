//go:build linux

package main

// footprintNotes is where an idle hoistd's memory goes and what was done
// about it: figures measured by hand, alternating old and new builds, when
// the change was made.
const footprintNotes = `
**Where it went, and what was done** (issue 21; measured by hand on this machine, old = commit
b811326, new = branch h-hoistd, each run of new right after one of old). The last full run
before (at 331d098) had 25.5 MiB; by ` + "`/proc/PID/smaps`" + ` per mapping of an enrolled idle hoistd at
b811326: 8.0 MiB the exec record's ring buffer (4 MiB, mapped twice), 9.3 MiB hoistd's own file
(4.5 MiB of text, 4.4 MiB of read-only data, 0.3 MiB of data: with the kernel's 64 KiB fault-around
nearly every page of text and tables a Go daemon runs is resident), 5.9 MiB the Go heap's arena,
the rest the runtime's own (stacks, spans, ≈ 1.5 MiB). A heap profile of the same hoistd after a
collection had 250 KiB in use: the heap was garbage and freed pages, not data.

- **The ring buffer holds records as long as their argv, in 1 MiB** (was 4 MiB of fixed
  2,360-byte records): an exec is built in a per-CPU scratch map and only its header, filename
  and argument bytes go into the ring; an exit is the 48-byte header alone. RSS 8.0 → 2.0 MiB.
  What a storm can queue while hoistd does not read: about 4,000 execs and their exits with
  100 bytes of arguments each (the 4 MiB ring held 888 of any length), about 430 with 2 KiB of
  arguments each (was 888). Past that the kernel counts each record it had no room for, and the
  session's final record says how many (` + "`lost_by_source`" + `); ` + "`TestBPFExecWatcherCountsWhatTheRingCannotHold`" + `
  queues 1,000 execs of 2 KiB with nothing read and sees delivered + counted = every event
  (1,079 delivered, 923 counted).
- **No second queue after the ring**: the reader handed events to a channel of 8,192 (1.1 MiB
  of heap allocated at start, dropping when full); it is now a 64-event hand-off and the reader
  waits for the consumer (never the watched processes), so the ring is the one queue and what
  overflows it is counted by the kernel.
- **The collector's target is 25** (` + "`hoistd run --gc-percent`" + `, key ` + "`gc-percent`" + `; the environment's
  GOGC wins): at Go's 100 the heap reaches the runtime's 4 MiB minimum goal before it collects,
  and keeps those pages; at 25 the goal is 1 MiB.
`
