// Package e2e holds Hoist's whole-system tests: a real hoist-server (SQLite,
// or replicas on PostgreSQL), an enrolled hoistd with its socket, real
// cgroups and a real non-root user who runs the built hoist command, and
// where a test needs them a headless Chromium on the web console and a
// private D-Bus session bus for the JIT helper.
//
// There is no code here, only tests; run them as root:
//
//	go test -race -count=1 ./e2e/
//
// They need PostgreSQL's server binaries, Chromium, dbus-daemon, script(1)
// and desktop-file-validate (scripts/test installs them on Debian); under
// HOIST_CI=1 a missing one fails instead of skipping. The harness is in
// fleet_linux_test.go: newFleet starts a server and an agent linked to it.
// Tests of one package's own contract stay beside that package.
//
// The fault suite (fault*_linux_test.go, TestFault…) runs the built binaries
// as processes of their own and breaks their world: PostgreSQL restarts,
// SIGKILL, a full disk, clock jumps, a network partition, a soak. CI runs
// its bounded form; HOIST_FAULTS=long (make faults) the long one. See
// docs/reliability.md.
package e2e
