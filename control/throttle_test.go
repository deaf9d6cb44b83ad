package control_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/sqlite"
	"github.com/hoist-jit/hoist/testenv"
)

// throttleSite is a service on one store with carol's account, and a fake
// clock: the throttle's waits pass when the test says so.
type throttleSite struct {
	svc   *control.Service
	clock *testenv.Clock
}

const carolPassword = "password-of-carol"

// onThrottleStores runs fn on SQLite and on PostgreSQL: the throttle's counters
// are in the store, shared by every server on it.
func onThrottleStores(t *testing.T, fn func(t *testing.T, s *throttleSite)) {
	eachStore(t, func(t *testing.T, store hoist.Store) {
		clk := testenv.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
		svc, err := control.New(control.Config{Store: store, Settings: hoist.DefaultApprovalSettings(), Clock: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Bootstrap(ctx, "correct horse battery staple"); err != nil {
			t.Fatal(err)
		}
		admin := control.Actor{Name: "admin", Role: hoist.RoleAdmin}
		if _, err := svc.CreateAdmin(ctx, admin, control.AdminInput{Name: "carol", Role: hoist.RoleApprover, Password: carolPassword}); err != nil {
			t.Fatal(err)
		}
		fn(t, &throttleSite{svc: svc, clock: clk})
	})
}

func (s *throttleSite) try(name, pw, from string) error {
	_, _, _, err := s.svc.Login(ctx, name, pw, from)
	return err
}

// TestLockoutAttemptDoesNotLockOut is the attack: wrong passwords for
// carol from one address, sent all the time for half an hour. The guesser
// gets few checks; carol signs in from her own address meanwhile, and from
// the guesser's address too once its wait is over.
func TestLockoutAttemptDoesNotLockOut(t *testing.T) {
	onThrottleStores(t, func(t *testing.T, s *throttleSite) {
		const attacker, carol = "203.0.113.7", "198.51.100.1"
		checked := 0
		for i := range 180 {
			err := s.try("carol", fmt.Sprintf("guess number %d", i), attacker)
			switch hoist.ErrorCode(err) {
			case hoist.EUnauthorized:
				checked++
			case hoist.ERateLimited:
			default:
				t.Fatalf("guess %d: %v, want unauthorized or rate_limited", i, err)
			}
			if i%30 == 0 {
				if err := s.try("carol", carolPassword, carol); err != nil {
					t.Fatalf("after %d guesses from %s, carol from %s: %v, want signed in", i+1, attacker, carol, err)
				}
			}
			s.clock.Add(10 * time.Second)
		}
		// 5 free, then waits of 1s, 2s, … 512s, 900s: at most 17 in 30 minutes.
		if checked > 17 {
			t.Errorf("guesses checked in 30 minutes: got %d, want at most 17", checked)
		}
		if err := s.try("carol", carolPassword, attacker); hoist.ErrorCode(err) != hoist.ERateLimited {
			t.Fatalf("the right password from %s while it waits: %v, want rate_limited (unchecked)", attacker, err)
		}
		s.clock.Add(hoist.PairLoginRule.Max)
		if err := s.try("carol", carolPassword, attacker); err != nil {
			t.Fatalf("the right password from %s after the wait: %v, want signed in", attacker, err)
		}
	})
}

// TestLoginWaitGrowsAndCaps: after five free failures for one account from
// one source, each wait doubles from one second, up to fifteen minutes; a
// try a moment before the wait ends is refused and not counted.
func TestLoginWaitGrowsAndCaps(t *testing.T) {
	onThrottleStores(t, func(t *testing.T, s *throttleSite) {
		const from = "192.0.2.10"
		for i := range 5 {
			if err := s.try("carol", "wrong password", from); hoist.ErrorCode(err) != hoist.EUnauthorized {
				t.Fatalf("free failure %d: %v, want unauthorized", i+1, err)
			}
		}
		want := []time.Duration{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 900, 900}
		for _, w := range want {
			wait := w * time.Second
			s.clock.Add(wait - time.Millisecond)
			if err := s.try("carol", carolPassword, from); hoist.ErrorCode(err) != hoist.ERateLimited {
				t.Fatalf("%s into a %s wait: %v, want rate_limited", wait-time.Millisecond, wait, err)
			}
			s.clock.Add(time.Millisecond)
			if err := s.try("carol", "wrong password", from); hoist.ErrorCode(err) != hoist.EUnauthorized {
				t.Fatalf("at the end of a %s wait: %v, want the password checked (unauthorized)", wait, err)
			}
		}
		s.clock.Add(15 * time.Minute)
		if err := s.try("carol", carolPassword, from); err != nil {
			t.Fatalf("after the capped wait: %v, want signed in", err)
		}
		// The right password cleared this source's count for carol.
		if err := s.try("carol", "wrong password", from); hoist.ErrorCode(err) != hoist.EUnauthorized {
			t.Fatalf("after a sign-in: %v, want a free failure again", err)
		}
	})
}

// TestBotnetSlowsAccountForStrangersOnly: wrong passwords for carol from
// many addresses, one each, slow carol's account down for addresses she
// never signed in from (a wait of at most a minute), but not for one she
// did.
func TestBotnetSlowsAccountForStrangersOnly(t *testing.T) {
	onThrottleStores(t, func(t *testing.T, s *throttleSite) {
		const home, stranger = "198.51.100.1", "2001:db8:1:2::77"
		if err := s.try("carol", carolPassword, home); err != nil {
			t.Fatal(err)
		}
		for i := range hoist.AccountLoginRule.Free + 10 {
			from := fmt.Sprintf("10.%d.%d.1", i/250, i%250)
			err := s.try("carol", "guess from a botnet", from)
			if hoist.ErrorCode(err) == hoist.ERateLimited {
				s.clock.Add(hoist.AccountLoginRule.Max) // the bots wait their turn
				err = s.try("carol", "guess from a botnet", from)
			}
			if hoist.ErrorCode(err) != hoist.EUnauthorized {
				t.Fatalf("bot %d: %v, want unauthorized", i, err)
			}
		}
		if err := s.try("carol", carolPassword, stranger); hoist.ErrorCode(err) != hoist.ERateLimited {
			t.Fatalf("carol from an address she never used, right after the bots: %v, want rate_limited", err)
		}
		if err := s.try("carol", carolPassword, home); err != nil {
			t.Fatalf("carol from her known address: %v, want signed in", err)
		}
		// The account's wait is capped at a minute, even after 110 failures.
		s.clock.Add(hoist.AccountLoginRule.Max)
		if err := s.try("carol", carolPassword, "2001:db8:1:2::99"); err != nil {
			t.Fatalf("carol from a new address after a minute: %v, want signed in", err)
		}
		// That address's /64 is known to carol's account now.
		if err := s.try("carol", "one more bot guess", "10.9.9.9"); hoist.ErrorCode(err) != hoist.EUnauthorized {
			t.Fatalf("one more bot: %v", err)
		}
		if err := s.try("carol", carolPassword, stranger); err != nil {
			t.Fatalf("carol from the same /64: %v, want signed in", err)
		}
	})
}

// TestThrottleCountersArePruned: an attacker cycling through sources makes
// a counter per source; the server removes the expired ones as it goes, so
// that they do not pile up.
func TestThrottleCountersArePruned(t *testing.T) {
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clk := testenv.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	svc, err := control.New(control.Config{Store: store, Settings: hoist.DefaultApprovalSettings(), Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	stored := func(key string) bool {
		var c hoist.LoginCounter
		_ = store.View(ctx, func(tx hoist.Tx) (err error) { c, err = tx.LoginCounter(ctx, key); return err })
		return !c.Last.IsZero()
	}
	// Names no account can have: no hash to compute, only the source counted.
	const n = 64
	for i := range n {
		if _, _, _, err := svc.Login(ctx, "NOT A NAME", "x", fmt.Sprintf("192.0.2.%d", i)); hoist.ErrorCode(err) != hoist.EUnauthorized {
			t.Fatalf("try %d: %v", i, err)
		}
		if i == 0 {
			if !stored("source 192.0.2.0") {
				t.Fatal("the first source's failure was not counted")
			}
			clk.Add(hoist.SourceLoginRule.Forget) // the first counter expires
		}
	}
	if stored("source 192.0.2.0") {
		t.Error("an expired counter is still stored after 64 more failures")
	}
	if !stored(fmt.Sprintf("source 192.0.2.%d", n-1)) {
		t.Error("the latest counter was pruned")
	}
}
