package agent

import "time"

// Clock is the agent's source of time and of the timers that end sessions.
// Tests pass a settable one (testenv.Clock), so that an expiry is seen by
// moving the clock, not by waiting for it.
type Clock interface {
	Now() time.Time
	// AfterFunc calls f in its own goroutine once d has passed on this
	// clock; Stop on the result cancels a call that has not begun.
	AfterFunc(d time.Duration, f func()) Timer
}

// Timer is a pending AfterFunc call: Stop cancels it, and reports false
// when it has already begun or was stopped. It is an alias of the plain
// interface so that a clock need not import this package to implement it.
type Timer = interface{ Stop() bool }

// RealClock is the wall clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// AfterFunc is time.AfterFunc.
func (RealClock) AfterFunc(d time.Duration, f func()) Timer { return time.AfterFunc(d, f) }
