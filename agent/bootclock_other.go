//go:build !linux

package agent

import "time"

// bootClock: no boot clock is read here yet; sessions resume by the wall
// clock alone (see bootclock_linux.go).
func bootClock() (id string, since time.Duration, ok bool) { return "", 0, false }
