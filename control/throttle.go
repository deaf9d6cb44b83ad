package control

import (
	"context"
	"encoding/json"
	"net/netip"
	"time"

	"github.com/hoist-jit/hoist"
)

// The sign-in throttle. Its counters live in the store, so that replicas on
// one database count the same failures, under four kinds of key:
//
//	pair    ACCOUNT SOURCE  failures for one account from one source (hoist.PairLoginRule)
//	source  SOURCE          one source's failures over all accounts (hoist.SourceLoginRule)
//	account ACCOUNT         one account's failures from all sources (hoist.AccountLoginRule)
//	known   ACCOUNT SOURCE  the source signed in to the account (exempt from "account" and "source")
//	device  ACCOUNT DEVICE  failures for one account from one proven device (hoist.DeviceLoginRule)
//
// A try that carries a valid device token for the account (see device.go)
// is judged by its device counter alone: neither the source, the pair nor
// the account counters apply to it, nor does it add to the source and pair
// counters, so that whoever shares its address (an IPv6 /64, a NAT, a proxy
// not configured as trusted) cannot lock it out.
//
// A try that must wait is refused before any password hash is computed and
// is not counted. A try that may be checked is counted under its pair key
// before the check (so concurrent tries cannot slip past the count) and
// uncounted when it succeeds. Unknown account names are counted like known
// ones, so that the throttle tells nothing about which accounts exist.
//
// ACCOUNT is a valid account name (no spaces) and SOURCE a normalized
// address (see source), so keys cannot collide.

// maxLoginCounters bounds the throttle's rows: an attacker cycling through
// sources makes new counters, and past this many the ones that expire first
// are dropped (see pruneEvery).
const maxLoginCounters = 100_000

// pruneEvery is how many failures a server records between prunes.
const pruneEvery = 64

// source is the throttle's name for the address from: IPv4 as it is, IPv6
// by its /64, which one subscriber commonly holds whole (cycling through
// 2^64 addresses must not buy 2^64 fresh counters). Anything that is not an
// address is kept, cut to 64 bytes.
func source(from string) string {
	a, err := netip.ParseAddr(from)
	if err != nil {
		if len(from) > 64 {
			from = from[:64]
		}
		return "?" + from
	}
	a = a.WithZone("").Unmap()
	if a.Is6() {
		p, _ := a.Prefix(64)
		return p.String()
	}
	return a.String()
}

func pairKey(name, src string) string  { return "pair " + name + " " + src }
func sourceKey(src string) string      { return "source " + src }
func accountKey(name string) string    { return "account " + name }
func knownKey(name, src string) string { return "known " + name + " " + src }
func deviceKey(name, id string) string { return "device " + name + " " + id }

// attempt is one sign-in try as the throttle sees it: the account name
// (empty when no account can have it), the source, and the id of the
// device it proved to be (empty when it proved none).
type attempt struct {
	name, src, device string
}

// knownSource reports whether at's source signed in to its account within
// hoist.KnownSourceFor.
func knownSource(ctx context.Context, tx hoist.Tx, at attempt, now time.Time) (bool, error) {
	if at.name == "" {
		return false, nil
	}
	known, err := tx.LoginCounter(ctx, knownKey(at.name, at.src))
	return known.Expires.After(now), err
}

// throttled returns an ERateLimited error when the password of at must not
// be checked at now.
func throttled(ctx context.Context, tx hoist.Tx, at attempt, now time.Time) error {
	if at.device != "" {
		c, err := tx.LoginCounter(ctx, deviceKey(at.name, at.device))
		if err != nil {
			return err
		}
		if wait := hoist.DeviceLoginRule.Wait(c, now); wait > 0 {
			return rateLimited("too many failed logins for "+at.name+" from this device", wait)
		}
		return nil
	}
	known, err := knownSource(ctx, tx, at, now)
	if err != nil {
		return err
	}
	// A source that signed in to the account is not held to the source
	// rule for it: others behind its address spraying names must not lock
	// it out of its own account.
	if !known {
		c, err := tx.LoginCounter(ctx, sourceKey(at.src))
		if err != nil {
			return err
		}
		if wait := hoist.SourceLoginRule.Wait(c, now); wait > 0 {
			return rateLimited("too many failed logins from this address", wait)
		}
	}
	if at.name == "" {
		return nil
	}
	c, err := tx.LoginCounter(ctx, pairKey(at.name, at.src))
	if err != nil {
		return err
	}
	if wait := hoist.PairLoginRule.Wait(c, now); wait > 0 {
		return rateLimited("too many failed logins for "+at.name+" from this address", wait)
	}
	if known {
		return nil // this source signed in to the account before
	}
	if c, err = tx.LoginCounter(ctx, accountKey(at.name)); err != nil {
		return err
	}
	if wait := hoist.AccountLoginRule.Wait(c, now); wait > 0 {
		return rateLimited("too many failed logins for "+at.name+" from addresses it has not signed in from", wait)
	}
	return nil
}

// checkKey is the counter a try of at is reserved under before its check.
func (at attempt) checkKey() (hoist.LoginRule, string) {
	if at.device != "" {
		return hoist.DeviceLoginRule, deviceKey(at.name, at.device)
	}
	return hoist.PairLoginRule, pairKey(at.name, at.src)
}

func rateLimited(why string, wait time.Duration) error {
	return hoist.Errorf(hoist.ERateLimited, "%s; try again in %s", why, wait.Round(time.Second)+time.Second)
}

// fail counts one failure under key by rule, in tx.
func fail(ctx context.Context, tx hoist.Tx, rule hoist.LoginRule, key string, now time.Time) error {
	c, err := tx.LoginCounter(ctx, key)
	if err != nil {
		return err
	}
	return tx.PutLoginCounter(ctx, c, rule.Failed(c, now))
}

// reserveCheck checks the throttle again inside a write transaction and,
// when the password may be checked, counts the try under its pair (or
// device) key first. Two tries racing for the last free check: one of them gets
// EConflict from the store and is refused as busy.
func (s *Service) reserveCheck(ctx context.Context, at attempt, now time.Time) error {
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		if err := throttled(ctx, tx, at, now); err != nil {
			return err
		}
		rule, key := at.checkKey()
		return fail(ctx, tx, rule, key, now)
	})
	if hoist.ErrorCode(err) == hoist.EConflict {
		return hoist.Errorf(hoist.ERateLimited, "another sign-in to %s from this address is being checked; try again shortly", at.name)
	}
	return err
}

// countFailure counts a failed check under the source and account keys
// (the pair or device key was counted before the check, or is counted here
// when pair is true), in tx. A try from a proven device adds to its device
// and account counters only.
func (s *Service) countFailure(ctx context.Context, tx hoist.Tx, at attempt, pair bool, now time.Time) error {
	if at.device == "" {
		if err := fail(ctx, tx, hoist.SourceLoginRule, sourceKey(at.src), now); err != nil {
			return err
		}
	}
	if at.name == "" {
		return nil
	}
	if pair {
		rule, key := at.checkKey()
		if err := fail(ctx, tx, rule, key, now); err != nil {
			return err
		}
	}
	return fail(ctx, tx, hoist.AccountLoginRule, accountKey(at.name), now)
}

// signedIn clears the counter a right password was reserved under and
// marks the source as known to the account, in tx. A proven device clears
// its device counter, not the pair counter: that one may hold a
// neighbour's guesses at the account, which one's own sign-in must not
// forgive.
func signedIn(ctx context.Context, tx hoist.Tx, at attempt, now time.Time) error {
	_, key := at.checkKey()
	if err := tx.DeleteLoginCounter(ctx, key); err != nil {
		return err
	}
	k := knownKey(at.name, at.src)
	was, err := tx.LoginCounter(ctx, k)
	if err != nil {
		return err
	}
	return tx.PutLoginCounter(ctx, was, hoist.LoginCounter{Key: k, Last: now, Expires: now.Add(hoist.KnownSourceFor)})
}

// maybePrune keeps the throttle's counters bounded: every pruneEvery
// failures this server records, the expired ones go, and the soonest to
// expire beyond maxLoginCounters.
func (s *Service) maybePrune(ctx context.Context, now time.Time) {
	if s.loginFailures.Add(1)%pruneEvery != 0 {
		return
	}
	if err := s.store.Update(ctx, func(tx hoist.Tx) error { return tx.PruneLoginCounters(ctx, now, maxLoginCounters) }); err != nil {
		s.log.Warn("cannot prune the login throttle", "err", err)
	}
}

// retryConflicts runs update up to three times while it loses races
// (EConflict): counters that two logins touch at once must not turn a
// right password into an error.
func retryConflicts(update func() error) error {
	var err error
	for range 3 {
		if err = update(); hoist.ErrorCode(err) != hoist.EConflict {
			return err
		}
	}
	return err
}

// encode is at as a second-factor ticket carries it (see ticketAttempt).
func (at attempt) encode() string {
	b, _ := json.Marshal([3]string{at.name, at.src, at.device})
	return string(b)
}

// ticketAttempt is the sign-in try a second-factor ticket carries in
// stored, so that the second step counts (or clears) the counters the
// password step reserved. A ticket without one (made before it was
// carried) stands for a try of name from the address from.
func ticketAttempt(stored, name, from string) attempt {
	var f [3]string
	if json.Unmarshal([]byte(stored), &f) != nil || f[0] == "" {
		return attempt{name: name, src: source(from)}
	}
	return attempt{name: f[0], src: f[1], device: f[2]}
}
