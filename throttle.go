package hoist

import "time"

// LoginCounter is one counter of the sign-in throttle: Failures counted
// under Key, the latest at Last. The store may forget it once Expires has
// passed. A counter that was never stored has a zero Last.
type LoginCounter struct {
	Key      string
	Failures int
	Last     time.Time
	Expires  time.Time
}

// LoginRule is how one kind of login counter slows guessing: Free failures
// cost nothing, then each further failure makes the next check wait, from
// one second doubling up to Max after the latest failure. A counter quiet
// for Forget starts over.
type LoginRule struct {
	Free   int
	Max    time.Duration
	Forget time.Duration
}

// The sign-in throttle's rules. A password is checked only when none of the
// counters that apply asks for a wait; a try during a wait is refused
// without a check and is not counted, so that the right password, sent
// after the wait, signs in whatever others sent meanwhile.
var (
	// PairLoginRule counts failures for one account from one source: the
	// guesser at one address is slowed on that account, and no one else is.
	PairLoginRule = LoginRule{Free: 5, Max: 15 * time.Minute, Forget: 24 * time.Hour}
	// SourceLoginRule counts one source's failures over all accounts (one
	// password tried on many accounts). Twenty are free: an office behind
	// one address mistypes too.
	SourceLoginRule = LoginRule{Free: 20, Max: 15 * time.Minute, Forget: time.Hour}
	// AccountLoginRule counts one account's failures from every source,
	// for guessers spread over many addresses. Its threshold is high and
	// its longest wait short, and it does not apply to a source that signed
	// in to the account within KnownSourceFor: a botnet slows the account
	// down for strangers but does not lock out a client known to be good.
	AccountLoginRule = LoginRule{Free: 100, Max: time.Minute, Forget: 24 * time.Hour}
)

// KnownSourceFor is how long a source that signed in to an account stays
// exempt from that account's AccountLoginRule.
const KnownSourceFor = 30 * 24 * time.Hour

// Wait returns how long c still has to wait at now before a password is
// checked under it; zero when it need not.
func (r LoginRule) Wait(c LoginCounter, now time.Time) time.Duration {
	c = r.current(c, now)
	if c.Failures < r.Free {
		return 0
	}
	d := time.Second
	for i := r.Free; i < c.Failures && d < r.Max; i++ {
		d *= 2
	}
	if left := c.Last.Add(min(d, r.Max)).Sub(now); left > 0 {
		return left
	}
	return 0
}

// Failed returns c with one more failure at now.
func (r LoginRule) Failed(c LoginCounter, now time.Time) LoginCounter {
	c = r.current(c, now)
	c.Failures++
	c.Last, c.Expires = now, now.Add(r.Forget)
	return c
}

// current is c, or c started over when it has been quiet for Forget.
func (r LoginRule) current(c LoginCounter, now time.Time) LoginCounter {
	if !c.Last.IsZero() && now.Sub(c.Last) >= r.Forget {
		c.Failures = 0
	}
	return c
}

// DeviceLoginRule counts failures for one account from one device: a
// client that proves, with a device token from an earlier sign-in to that
// account (see KnownDeviceFor), that it is the same browser or CLI. Such a
// try skips the source and pair rules, so neighbours behind the same
// address cannot lock it out, and is slowed by this counter of its own: a
// stolen device token still needs the password, and guessing with it is as
// slow as from one address.
var DeviceLoginRule = LoginRule{Free: 5, Max: 15 * time.Minute, Forget: 24 * time.Hour}

// KnownDeviceFor is how long a device token stays valid after it was
// issued; every sign-in with it issues a fresh one.
const KnownDeviceFor = 180 * 24 * time.Hour
