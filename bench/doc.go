// Command bench runs Hoist's benchmarks and load harness and rewrites
// BENCHMARKS.md with what it measured: elevation latency against sudo, the
// end of a session, approval push, server capacity with simulated agents on
// SQLite and PostgreSQL, approvals per second, and the agent's footprint.
// Several hoist-server replicas on one PostgreSQL are measured with the
// fleet spread over them and held by several fleet processes (the harness
// run again as "fleet-child"), one process's open files being too few.
//
// Run it as root from the module root (make bench, or go run ./bench). It
// makes and removes its own users, cgroups, sudoers entry, temporary
// directories and PostgreSQL cluster; every server it starts listens on
// loopback only, every load it makes is bounded in count and time, and it
// ends only the processes it started, by pid.
package main
