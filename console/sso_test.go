package console_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/console"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/idptest"
	"github.com/hoist-jit/hoist/sqlite"
	"github.com/hoist-jit/hoist/sso"
	"github.com/hoist-jit/hoist/testenv"
)

// TestSSOCallbackBoundToItsBrowser: the provider's answer to a sign-in
// one browser started signs in that browser only; brought by another
// browser (a forger who wants the victim signed in as the forger), it is
// refused, and a replay of it too.
func TestSSOCallbackBoundToItsBrowser(t *testing.T) {
	idp := idptest.New(t)
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	var srv *httptest.Server
	mux := http.NewServeMux()
	srv = httptest.NewUnstartedServer(mux)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	redirect := srv.URL + "/sso/callback"
	idp.AddClient("hoist", "secret", redirect)
	idp.SetUser("ana", "ops")
	p, err := sso.New(sso.Config{Issuer: idp.Issuer, ClientID: "hoist", ClientSecret: "secret", RedirectURL: redirect, HTTPClient: idp.Client()})
	if err != nil {
		t.Fatal(err)
	}
	clk := testenv.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	svc, err := control.New(control.Config{Store: store, Settings: hoist.DefaultApprovalSettings(), Clock: clk.Now,
		SSO: control.SSO{Provider: p, RoleGroups: map[hoist.Role][]string{hoist.RoleApprover: {"ops"}}}})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", console.New(console.Config{Service: svc, Clock: clk.Now}))
	s := &site{t: t, srv: srv, svc: svc, clock: clk, store: store}

	// start: the browser gets the state cookie and goes to the provider
	start := func(v *visitor) string {
		t.Helper()
		res, _ := v.get("/sso/start?next=/policies")
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), idp.Issuer) {
			t.Fatalf("/sso/start: %d %s", res.StatusCode, res.Header.Get("Location"))
		}
		back := idp.SignIn(t, res.Header.Get("Location"), "ana")
		u, _ := url.Parse(back)
		return u.RequestURI()
	}
	victim, forger := s.visitor(), s.visitor()
	callback := start(forger)
	res, body := victim.get(callback)
	if hasSession(res) || !strings.Contains(body, "another browser") {
		t.Fatalf("the forger's callback in the victim's browser: %d, session %v\n%s", res.StatusCode, hasSession(res), body)
	}

	callback = start(victim)
	res, body = victim.get(callback)
	if !hasSession(res) || !strings.Contains(body, `url=/policies`) {
		t.Fatalf("the victim's own callback: %d, session %v\n%s", res.StatusCode, hasSession(res), body)
	}
	if res, _ := s.visitor().get(callback); hasSession(res) {
		t.Fatal("a replayed callback signed a browser in")
	}
}
