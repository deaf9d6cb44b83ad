package console_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/console"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/sqlite"
	"github.com/hoist-jit/hoist/testenv"
)

// newKeyedSite is newSite with a server key, which authenticator secrets
// are sealed with.
func newKeyedSite(t *testing.T) *site {
	t.Helper()
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clk := testenv.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	svc, err := control.New(control.Config{Store: store, Settings: hoist.DefaultApprovalSettings(), Clock: clk.Now, SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Bootstrap(ctx, password); err != nil {
		t.Fatal(err)
	}
	admin := control.Actor{Name: "admin", Role: hoist.RoleAdmin}
	if _, err := svc.CreateAdmin(ctx, admin, control.AdminInput{Name: "carol", Role: hoist.RoleApprover, Password: "password-of-carol"}); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(console.New(console.Config{Service: svc, Clock: clk.Now, IdleTimeout: 30 * time.Minute}))
	t.Cleanup(srv.Close)
	return &site{t: t, srv: srv, svc: svc, clock: clk, admin: admin, store: store}
}

// TestTOTPSecondFactor: carol sets up an authenticator app on her account
// page; from then on her password leads to the code step, a right code
// signs her in, a used or wrong code does not, and the API's password
// login refuses her.
func TestTOTPSecondFactor(t *testing.T) {
	s := newKeyedSite(t)
	v := s.visitor()
	v.signIn("carol", "password-of-carol")
	_, body := v.post("/account/totp/begin", url.Values{"csrf": {v.csrf()}})
	m := regexp.MustCompile(`id="totp-secret">([A-Z2-7]+)<`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no secret on the setup page:\n%s", body)
	}
	secret := m[1]
	res, _ := v.post("/account/totp/confirm", url.Values{"csrf": {v.csrf()}, "code": {"000000"}})
	if _, page := v.get("/account"); res.StatusCode != http.StatusSeeOther || !strings.Contains(page, "not the app") {
		t.Fatalf("a wrong confirmation code: %d\n%s", res.StatusCode, page)
	}
	code, _ := totp.GenerateCode(secret, s.clock.Now())
	v.post("/account/totp/confirm", url.Values{"csrf": {v.csrf()}, "code": {code}})
	if _, page := v.get("/account"); !strings.Contains(page, "is a second factor of your sign-in") {
		t.Fatalf("after the confirmation the account page reads:\n%s", page)
	}

	// password, then the code step
	passwordStep := func() *visitor {
		t.Helper()
		w := s.visitor()
		res, body := w.post("/login", url.Values{"user": {"carol"}, "password": {"password-of-carol"}, "next": {"/policies"}, "login": {w.loginToken()}})
		if hasSession(res) || !strings.Contains(body, `name="code"`) {
			t.Fatalf("carol's password alone: %d, session %v\n%s", res.StatusCode, hasSession(res), body)
		}
		return w
	}
	s.clock.Add(30 * time.Second) // the confirmation's code is spent
	code, _ = totp.GenerateCode(secret, s.clock.Now())
	w := passwordStep()
	res, body = w.post("/login/totp", url.Values{"code": {code}, "next": {"/policies"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/policies" || !hasSession(res) {
		t.Fatalf("the right code: %d %s\n%s", res.StatusCode, res.Header.Get("Location"), body)
	}
	w = passwordStep()
	if res, _ := w.post("/login/totp", url.Values{"code": {code}, "next": {"/policies"}}); hasSession(res) {
		t.Fatal("a used code signed in again")
	}
	w = s.visitor()
	if res, _ := w.post("/login/totp", url.Values{"code": {code}}); hasSession(res) {
		t.Fatal("a code without the password step signed in")
	}
	if _, _, _, err := s.svc.Login(ctx, "carol", "password-of-carol", "192.0.2.1"); hoist.ErrorCode(err) != hoist.EUnauthorized {
		t.Fatalf("the API's password login of an account with an authenticator app: %v", err)
	}
	var actions []string
	_ = s.svc.Audit(ctx, s.admin, hoist.AuditFilter{}, func(r hoist.AuditRecord) error { actions = append(actions, r.Action); return nil })
	if !strings.Contains(strings.Join(actions, " "), hoist.AuditTOTPAdded) {
		t.Errorf("no %s in the audit: %v", hoist.AuditTOTPAdded, actions)
	}
}
