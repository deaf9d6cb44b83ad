package server

import (
	"os"
	"runtime/debug"
)

// DefaultGCPercent is hoist-server's target for the Go collector (GOGC):
// the heap may grow this many percent over what the last collection found
// live, goroutine stacks counted in, before the next collection.
//
// Why not Go's 100: most of a large server's memory is its idle agents'
// connections (each a TLS and an HTTP/2 state, and three goroutines'
// stacks), live and few in allocations; at 100 the heap carries as much
// garbage again as all of that. The connections allocate little while idle,
// so collecting more often costs little CPU (BENCHMARKS.md, "Server memory
// per connected agent", has the figures).
const DefaultGCPercent = 50

// TuneCollector sets the collector's target to percent (GOGC; negative
// turns collection off, as GOGC=off), unless the environment's GOGC is set:
// an operator's GOGC wins over the flag's default. It returns the target in
// force. The setting is the process's: only a main calls it.
func TuneCollector(percent int) int {
	if _, ok := os.LookupEnv("GOGC"); ok {
		current := debug.SetGCPercent(100)
		debug.SetGCPercent(current)
		return current
	}
	debug.SetGCPercent(percent)
	return percent
}
