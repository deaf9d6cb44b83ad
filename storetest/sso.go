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

// testPasskeys: an account's passkeys are stored, updated, listed oldest
// first, removed one by one, and go with the account.
func testPasskeys(t *testing.T, s hoist.Store) {
	a := hoist.Admin{ID: hoist.NewID(hoist.AdminIDPrefix), Name: "pat", Role: hoist.RoleApprover, CreatedAt: t0}
	other := hoist.Admin{ID: hoist.NewID(hoist.AdminIDPrefix), Name: "quin", Role: hoist.RoleApprover, CreatedAt: t0}
	update := func(fn func(tx hoist.Tx) error) error { return s.Update(ctx(), fn) }
	list := func(id string) []hoist.Passkey {
		t.Helper()
		var ps []hoist.Passkey
		if err := s.View(ctx(), func(tx hoist.Tx) (err error) { ps, err = tx.Passkeys(ctx(), id); return err }); err != nil {
			t.Fatal(err)
		}
		return ps
	}
	if err := update(func(tx hoist.Tx) error {
		if err := tx.InsertAdmin(ctx(), a); err != nil {
			return err
		}
		return tx.InsertAdmin(ctx(), other)
	}); err != nil {
		t.Fatal(err)
	}
	k1 := hoist.Passkey{ID: "cred-1", AdminID: a.ID, Name: "laptop", CreatedAt: t0, Credential: []byte(`{"n":1}`)}
	k2 := hoist.Passkey{ID: "cred-2", AdminID: a.ID, Name: "key", CreatedAt: t0.Add(time.Minute), Credential: []byte(`{"n":2}`)}
	for _, k := range []hoist.Passkey{k2, k1} {
		if err := update(func(tx hoist.Tx) error { return tx.InsertPasskey(ctx(), k) }); err != nil {
			t.Fatal(err)
		}
	}
	wantCode(t, update(func(tx hoist.Tx) error { return tx.InsertPasskey(ctx(), k1) }), hoist.EConflict)
	if got := list(a.ID); len(got) != 2 || got[0].ID != "cred-1" || got[1].ID != "cred-2" || got[0].Name != "laptop" || string(got[0].Credential) != `{"n":1}` {
		t.Fatalf("passkeys = %+v", got)
	}
	k1.Credential, k1.LastUsed = []byte(`{"n":11}`), t0.Add(time.Hour)
	if err := update(func(tx hoist.Tx) error { return tx.UpdatePasskey(ctx(), k1) }); err != nil {
		t.Fatal(err)
	}
	if got := list(a.ID); string(got[0].Credential) != `{"n":11}` || !got[0].LastUsed.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after the update: %+v", got[0])
	}
	// Another account cannot touch them.
	wantCode(t, update(func(tx hoist.Tx) error { return tx.DeletePasskey(ctx(), other.ID, "cred-1") }), hoist.ENotFound)
	stolen := k1
	stolen.AdminID = other.ID
	wantCode(t, update(func(tx hoist.Tx) error { return tx.UpdatePasskey(ctx(), stolen) }), hoist.ENotFound)
	if err := update(func(tx hoist.Tx) error { return tx.DeletePasskey(ctx(), a.ID, "cred-1") }); err != nil {
		t.Fatal(err)
	}
	if got := list(a.ID); len(got) != 1 || got[0].ID != "cred-2" {
		t.Fatalf("after removing cred-1: %+v", got)
	}
	if err := update(func(tx hoist.Tx) error { return tx.DeleteAdmin(ctx(), a.ID) }); err != nil {
		t.Fatal(err)
	}
	if got := list(a.ID); len(got) != 0 {
		t.Fatalf("passkeys of a deleted account: %+v", got)
	}
}

// testTOTP: an account's TOTP secret is stored, replaced, removed, and
// goes with the account.
func testTOTP(t *testing.T, s hoist.Store) {
	a := hoist.Admin{ID: hoist.NewID(hoist.AdminIDPrefix), Name: "tess", Role: hoist.RoleApprover, CreatedAt: t0}
	get := func() (o hoist.TOTP, err error) {
		err = s.View(ctx(), func(tx hoist.Tx) (err error) { o, err = tx.TOTP(ctx(), a.ID); return err })
		return o, err
	}
	put := func(o hoist.TOTP) {
		t.Helper()
		if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.PutTOTP(ctx(), o) }); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.InsertAdmin(ctx(), a) }); err != nil {
		t.Fatal(err)
	}
	_, err := get()
	wantCode(t, err, hoist.ENotFound)
	put(hoist.TOTP{AdminID: a.ID, Secret: "sealed-1", CreatedAt: t0})
	if o, err := get(); err != nil || o.Secret != "sealed-1" || !o.ConfirmedAt.IsZero() || o.LastStep != 0 || !o.CreatedAt.Equal(t0) {
		t.Fatalf("unconfirmed: %+v, %v", o, err)
	}
	put(hoist.TOTP{AdminID: a.ID, Secret: "sealed-1", ConfirmedAt: t0.Add(time.Minute), LastStep: 59000, CreatedAt: t0})
	if o, err := get(); err != nil || !o.ConfirmedAt.Equal(t0.Add(time.Minute)) || o.LastStep != 59000 {
		t.Fatalf("confirmed: %+v, %v", o, err)
	}
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.DeleteTOTP(ctx(), a.ID) }); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.Update(ctx(), func(tx hoist.Tx) error { return tx.DeleteTOTP(ctx(), a.ID) }), hoist.ENotFound)
	put(hoist.TOTP{AdminID: a.ID, Secret: "sealed-2", CreatedAt: t0})
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.DeleteAdmin(ctx(), a.ID) }); err != nil {
		t.Fatal(err)
	}
	_, err = get()
	wantCode(t, err, hoist.ENotFound)
}
