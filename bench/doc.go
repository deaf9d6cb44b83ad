// Command bench runs Hoist's benchmarks and load harness and rewrites
// BENCHMARKS.md with what it measured: elevation latency against sudo, the
// end of a session, approval push, server capacity with simulated agents on
// SQLite and PostgreSQL, approvals per second, and the agent's footprint.
//
// Run it as root from the module root (make bench, or go run ./bench). It
// makes and removes its own users, cgroups, sudoers entry, temporary
// directories and PostgreSQL cluster; every server it starts listens on
// loopback only, every load it makes is bounded in count and time, and it
// ends only the processes it started, by pid.
package main
