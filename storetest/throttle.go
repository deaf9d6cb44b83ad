package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

// testLoginCounters: the sign-in throttle's counters are stored, replaced
// only in place of what was read (so that two servers counting at once do
// not lose a failure), and pruned by expiry and by number.
func testLoginCounters(t *testing.T, s hoist.Store) {
	get := func(key string) hoist.LoginCounter {
		t.Helper()
		var c hoist.LoginCounter
		if err := s.View(ctx(), func(tx hoist.Tx) (err error) { c, err = tx.LoginCounter(ctx(), key); return err }); err != nil {
			t.Fatal(err)
		}
		return c
	}
	put := func(was, c hoist.LoginCounter) error {
		return s.Update(ctx(), func(tx hoist.Tx) error { return tx.PutLoginCounter(ctx(), was, c) })
	}
	if got := get("pair admin 10.0.0.1"); got != (hoist.LoginCounter{Key: "pair admin 10.0.0.1"}) {
		t.Fatalf("a counter never stored: got %+v, want only its key", got)
	}
	none := hoist.LoginCounter{Key: "pair admin 10.0.0.1"}
	one := hoist.LoginCounter{Key: none.Key, Failures: 1, Last: t0, Expires: t0.Add(time.Hour)}
	if err := put(none, one); err != nil {
		t.Fatal(err)
	}
	if got := get(one.Key); got != one {
		t.Fatalf("stored counter: got %+v, want %+v", got, one)
	}
	two := hoist.LoginCounter{Key: one.Key, Failures: 2, Last: t0.Add(time.Second), Expires: t0.Add(time.Hour + time.Second)}
	wantCode(t, put(none, two), hoist.EConflict) // stored meanwhile
	wantCode(t, put(hoist.LoginCounter{Key: one.Key, Failures: 3, Last: t0}, two), hoist.EConflict)
	if err := put(one, two); err != nil {
		t.Fatal(err)
	}
	if got := get(one.Key); got != two {
		t.Fatalf("replaced counter: got %+v, want %+v", got, two)
	}

	// Two logins counting the same failure at once: one counts, the other
	// is told it lost.
	three := two
	three.Failures = 3
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range errs {
		wg.Go(func() { errs[i] = put(two, three) })
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("two puts in place of one counter: got %v and %v, want one success and one EConflict", errs[0], errs[1])
	}
	for _, err := range errs {
		if err != nil && hoist.ErrorCode(err) != hoist.EConflict {
			t.Fatalf("the losing put: got %v, want EConflict", err)
		}
	}

	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.DeleteLoginCounter(ctx(), one.Key) }); err != nil {
		t.Fatal(err)
	}
	if got := get(one.Key); !got.Last.IsZero() {
		t.Fatalf("deleted counter: got %+v, want none", got)
	}

	// Prune: the expired go, then the soonest to expire beyond keep.
	for i := range 6 {
		c := hoist.LoginCounter{Key: fmt.Sprintf("source 192.0.2.%d", i), Failures: 1, Last: t0, Expires: t0.Add(time.Duration(i) * time.Minute)}
		if err := put(hoist.LoginCounter{Key: c.Key}, c); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.PruneLoginCounters(ctx(), t0.Add(time.Minute), 3) }); err != nil {
		t.Fatal(err)
	}
	for i := range 6 {
		kept := !get(fmt.Sprintf("source 192.0.2.%d", i)).Last.IsZero()
		if want := i >= 3; kept != want {
			t.Errorf("after pruning at +1m keeping 3: counter %d (expires +%dm) kept %v, want %v", i, i, kept, want)
		}
	}
}
