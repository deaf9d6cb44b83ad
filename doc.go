// Package hoist is the domain core of Hoist, a just-in-time privilege elevation
// system: JIT requests and their approval, sessions with a fixed window, admin
// users and their roles, and the hash-chained audit log.
//
// Nothing here does I/O. Time comes in as an argument, randomness only through
// NewID, and storage through the Store interface that the sqlite and postgres
// packages implement. The rules live here so that both stores, the HTTP API
// and the agent share one copy of them.
package hoist
