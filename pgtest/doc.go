// Package pgtest starts a real PostgreSQL server for tests: initdb into a
// fresh directory, the server run as an unprivileged OS user when the tests
// run as root, listening on a loopback port. One server serves a whole test
// binary; each test gets a database of its own.
//
// A package that uses it runs its tests through Main:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// Where PostgreSQL is missing the tests skip — except under HOIST_CI=1,
// where a missing capability is a failure.
package pgtest
