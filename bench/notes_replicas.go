//go:build linux

package main

// replicasNotes is what the run of several replicas showed, measured by
// hand when the harness part was written.
const replicasNotes = `
#### Several replicas: how it works and what was measured by hand

Not yet written.
`
