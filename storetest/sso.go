package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

// testSSOLogins: a sign-in in flight is spent once, by one of two
// concurrent takers, and not after it expired.
func testSSOLogins(t *testing.T, s hoist.Store) {
	l := hoist.SSOLogin{Key: "state:abc", Nonce: "n", Verifier: "v", Next: "/policies", Redirect: "http://127.0.0.1:5000/callback",
		Challenge: "c", AdminID: "", ExpiresAt: t0.Add(10 * time.Minute)}
	insertLogin := func(l hoist.SSOLogin) error {
		return s.Update(ctx(), func(tx hoist.Tx) error { return tx.InsertSSOLogin(ctx(), l, t0) })
	}
	take := func(key string, now time.Time) (got hoist.SSOLogin, err error) {
		err = s.Update(ctx(), func(tx hoist.Tx) (err error) { got, err = tx.TakeSSOLogin(ctx(), key, now); return err })
		return got, err
	}
	if err := insertLogin(l); err != nil {
		t.Fatal(err)
	}
	wantCode(t, insertLogin(l), hoist.EConflict)
	got, err := take(l.Key, t0.Add(time.Minute))
	if err != nil || got != (hoist.SSOLogin{Key: l.Key, Nonce: "n", Verifier: "v", Next: "/policies", Redirect: l.Redirect, Challenge: "c", ExpiresAt: l.ExpiresAt}) {
		t.Fatalf("take: got %+v, %v; want %+v", got, err, l)
	}
	_, err = take(l.Key, t0.Add(time.Minute))
	wantCode(t, err, hoist.ENotFound) // spent

	late := hoist.SSOLogin{Key: "state:late", ExpiresAt: t0.Add(time.Minute)}
	if err := insertLogin(late); err != nil {
		t.Fatal(err)
	}
	_, err = take(late.Key, t0.Add(time.Minute))
	wantCode(t, err, hoist.ENotFound) // expired at its expiry
	// A later sign-in prunes it (a refused take rolls back with its
	// transaction, so the prune is what removes it).
	if err := s.Update(ctx(), func(tx hoist.Tx) error {
		return tx.InsertSSOLogin(ctx(), hoist.SSOLogin{Key: "state:next", ExpiresAt: t0.Add(time.Hour)}, t0.Add(2*time.Minute))
	}); err != nil {
		t.Fatal(err)
	}
	_, err = take(late.Key, t0)
	wantCode(t, err, hoist.ENotFound)

	raced := hoist.SSOLogin{Key: "handoff:race", AdminID: "adm_1", ExpiresAt: t0.Add(time.Minute)}
	if err := insertLogin(raced); err != nil {
		t.Fatal(err)
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		wins int
	)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := take(raced.Key, t0); err == nil {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if wins != 1 {
		t.Fatalf("%d concurrent takers got the handoff, want exactly 1", wins)
	}
}

// testSSOIdentities: a subject of an issuer links to one account, and the
// link goes with the account.
func testSSOIdentities(t *testing.T, s hoist.Store) {
	a := hoist.Admin{ID: hoist.NewID(hoist.AdminIDPrefix), Name: "dana", Role: hoist.RoleApprover, CreatedAt: t0}
	link := func(issuer, subject string) error {
		return s.Update(ctx(), func(tx hoist.Tx) error { return tx.LinkSSOAccount(ctx(), issuer, subject, a.ID) })
	}
	account := func(issuer, subject string) (id string, err error) {
		err = s.View(ctx(), func(tx hoist.Tx) (err error) { id, err = tx.SSOAccount(ctx(), issuer, subject); return err })
		return id, err
	}
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.InsertAdmin(ctx(), a) }); err != nil {
		t.Fatal(err)
	}
	if err := link("https://idp.example", "u-1"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, link("https://idp.example", "u-1"), hoist.EConflict)
	if id, err := account("https://idp.example", "u-1"); err != nil || id != a.ID {
		t.Fatalf("account of u-1: %q, %v; want %q", id, err, a.ID)
	}
	_, err := account("https://other.example", "u-1")
	wantCode(t, err, hoist.ENotFound) // the same subject at another issuer is someone else
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.DeleteAdmin(ctx(), a.ID) }); err != nil {
		t.Fatal(err)
	}
	_, err = account("https://idp.example", "u-1")
	wantCode(t, err, hoist.ENotFound)
}
