package control_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/idptest"
	"github.com/hoist-jit/hoist/sqlite"
	"github.com/hoist-jit/hoist/sso"
	"github.com/hoist-jit/hoist/testenv"
)

const ssoRedirect = "https://hoist.example.test/sso/callback"

// ssoSite is a control service that signs people in through a real
// provider, admin/approver/auditor from the groups hoist-admins,
// hoist-approvers and hoist-auditors.
type ssoSite struct {
	svc   *control.Service
	idp   *idptest.IdP
	store hoist.Store
	clock *testenv.Clock
}

func newSSOSite(t *testing.T, mutate ...func(*control.SSO)) *ssoSite {
	t.Helper()
	idp := idptest.New(t)
	idp.AddClient("hoist", "client-secret", ssoRedirect)
	p, err := sso.New(sso.Config{Issuer: idp.Issuer, ClientID: "hoist", ClientSecret: "client-secret", RedirectURL: ssoRedirect,
		Scopes: []string{"profile", "groups"}, UnixNamesClaim: "unix_names", HTTPClient: idp.Client()})
	if err != nil {
		t.Fatal(err)
	}
	cfg := control.SSO{Provider: p, RoleGroups: map[hoist.Role][]string{
		hoist.RoleAdmin: {"hoist-admins"}, hoist.RoleApprover: {"hoist-approvers"}, hoist.RoleAuditor: {"hoist-auditors"}}}
	for _, m := range mutate {
		m(&cfg)
	}
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clk := testenv.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	svc, err := control.New(control.Config{Store: store, Settings: hoist.DefaultApprovalSettings(), Clock: clk.Now, SSO: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Bootstrap(ctx, idsPassword); err != nil {
		t.Fatal(err)
	}
	return &ssoSite{svc: svc, idp: idp, store: store, clock: clk}
}

// begin starts a console sign-in and goes through the provider as user;
// it returns the callback's state and code.
func (s *ssoSite) begin(t *testing.T, user string) (state, code string) {
	t.Helper()
	state, auth, err := s.svc.StartSSO(ctx, control.SSOStart{Next: "/policies"})
	if err != nil {
		t.Fatal(err)
	}
	back, err := url.Parse(s.idp.SignIn(t, auth, user))
	if err != nil {
		t.Fatal(err)
	}
	if back.Query().Get("state") != state || !strings.HasPrefix(back.String(), ssoRedirect+"?") {
		t.Fatalf("the provider sent the browser to %s, want %s with state %s", back, ssoRedirect, state)
	}
	return state, back.Query().Get("code")
}

// signIn signs user in through the provider and returns the actor of
// the login.
func (s *ssoSite) signIn(t *testing.T, user string) (control.Actor, error) {
	t.Helper()
	state, code := s.begin(t, user)
	res, err := s.svc.FinishSSO(ctx, state, code, "192.0.2.7", true, 30*time.Minute)
	if err != nil {
		return control.Actor{}, err
	}
	if res.Next != "/policies" {
		t.Errorf("after the sign-in the console goes to %q, want /policies", res.Next)
	}
	return s.svc.Authenticate(ctx, res.Login.Token)
}

func (s *ssoSite) actions(t *testing.T) []string {
	t.Helper()
	var out []string
	admin := control.Actor{Name: "admin", Role: hoist.RoleAdmin}
	if err := s.svc.Audit(ctx, admin, hoist.AuditFilter{}, func(r hoist.AuditRecord) error {
		out = append(out, r.Action+" "+r.Actor)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSSOAccountFollowsTheProvider: the first sign-in makes the account
// with the role of the person's groups; a change of groups at the
// provider changes the role at the next sign-in; no more Hoist group
// disables the account and ends its logins; each step is audited.
func TestSSOAccountFollowsTheProvider(t *testing.T) {
	s := newSSOSite(t)
	s.idp.SetUser("ana", "hoist-approvers", "staff")
	a, err := s.signIn(t, "ana")
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "ana" || a.Role != hoist.RoleApprover {
		t.Fatalf("first sign-in: %+v, want approver ana", a)
	}
	s.idp.SetUser("ana", "hoist-auditors")
	if a, err = s.signIn(t, "ana"); err != nil || a.Role != hoist.RoleAuditor {
		t.Fatalf("after the move to hoist-auditors: %+v, %v; want auditor", a, err)
	}
	s.idp.SetUser("ana", "staff")
	_, err = s.signIn(t, "ana")
	if hoist.ErrorCode(err) != hoist.EForbidden || !strings.Contains(hoist.ErrorMessage(err), "no longer") {
		t.Fatalf("a sign-in with no Hoist group: %v, want refused", err)
	}
	admins, _ := s.svc.Admins(ctx, control.Actor{Name: "admin", Role: hoist.RoleAdmin})
	i := slices.IndexFunc(admins, func(x hoist.Admin) bool { return x.Name == "ana" })
	if i < 0 || !admins[i].Disabled {
		t.Fatalf("ana's account after the provider let her go: %+v", admins)
	}
	want := []string{"admin.created hoist", "admin.created sso", "admin.login ana", "admin.sso_role_changed sso", "admin.login ana",
		"admin.sso_role_changed sso", "admin.sso_refused ana"}
	if got := s.actions(t); !slices.Equal(got, want) {
		t.Fatalf("audit: %q, want %q", got, want)
	}
	// Back in a Hoist group, the account stays disabled until an admin
	// enables it: the provider cannot undo an admin's decision.
	s.idp.SetUser("ana", "hoist-approvers")
	if _, err := s.signIn(t, "ana"); hoist.ErrorCode(err) != hoist.EForbidden {
		t.Fatalf("a disabled account signed in: %v", err)
	}
}

// TestSSOEndsTheLoginsOfADisabledAccount: a console login of the account
// the provider no longer lets in stops working.
func TestSSOEndsTheLoginsOfADisabledAccount(t *testing.T) {
	s := newSSOSite(t)
	s.idp.SetUser("bo", "hoist-admins")
	state, code := s.begin(t, "bo")
	res, err := s.svc.FinishSSO(ctx, state, code, "192.0.2.7", true, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s.idp.SetUser("bo")
	if _, err := s.signIn(t, "bo"); err == nil {
		t.Fatal("bo signed in without a Hoist group")
	}
	if _, err := s.svc.Authenticate(ctx, res.Login.Token); hoist.ErrorCode(err) != hoist.EUnauthorized {
		t.Fatalf("bo's earlier login after the provider let him go: %v, want %s", err, hoist.EUnauthorized)
	}
}

func TestSSORefusals(t *testing.T) {
	s := newSSOSite(t)
	s.idp.SetUser("cy", "hoist-admins")
	s.idp.SetUser("nobody", "staff")

	t.Run("replayed state", func(t *testing.T) {
		state, code := s.begin(t, "cy")
		if _, err := s.svc.FinishSSO(ctx, state, code, "192.0.2.7", true, time.Hour); err != nil {
			t.Fatal(err)
		}
		_, err := s.svc.FinishSSO(ctx, state, code, "192.0.2.7", true, time.Hour)
		if hoist.ErrorCode(err) != hoist.EUnauthorized || !strings.Contains(hoist.ErrorMessage(err), "already used") {
			t.Fatalf("the callback replayed: %v", err)
		}
	})
	t.Run("callback in another browser", func(t *testing.T) {
		state, code := s.begin(t, "cy")
		if _, err := s.svc.FinishSSO(ctx, state, code, "192.0.2.7", false, time.Hour); hoist.ErrorCode(err) != hoist.EUnauthorized {
			t.Fatalf("a console sign-in finished by a browser without its cookie: %v", err)
		}
	})
	t.Run("state of no sign-in", func(t *testing.T) {
		_, code := s.begin(t, "cy")
		if _, err := s.svc.FinishSSO(ctx, "made-up-state", code, "192.0.2.7", true, time.Hour); hoist.ErrorCode(err) != hoist.EUnauthorized {
			t.Fatalf("a made-up state: %v", err)
		}
	})
	t.Run("state too old", func(t *testing.T) {
		state, code := s.begin(t, "cy")
		s.clock.Add(hoist.SSOLoginTTL)
		if _, err := s.svc.FinishSSO(ctx, state, code, "192.0.2.7", true, time.Hour); hoist.ErrorCode(err) != hoist.EUnauthorized {
			t.Fatalf("a sign-in after %s: %v", hoist.SSOLoginTTL, err)
		}
	})
	t.Run("code of another sign-in", func(t *testing.T) {
		state, _ := s.begin(t, "cy")
		_, otherCode := s.begin(t, "cy") // its nonce and verifier differ
		if _, err := s.svc.FinishSSO(ctx, state, otherCode, "192.0.2.7", true, time.Hour); hoist.ErrorCode(err) != hoist.EUnauthorized {
			t.Fatalf("a code swapped between sign-ins: %v", err)
		}
	})
	t.Run("no Hoist group", func(t *testing.T) {
		_, err := s.signIn(t, "nobody")
		if hoist.ErrorCode(err) != hoist.EForbidden {
			t.Fatalf("a person in no Hoist group: %v", err)
		}
		if _, err := s.svc.Admins(ctx, control.Actor{Name: "admin", Role: hoist.RoleAdmin}); err != nil {
			t.Fatal(err)
		}
		admins, _ := s.svc.Admins(ctx, control.Actor{Name: "admin", Role: hoist.RoleAdmin})
		if slices.ContainsFunc(admins, func(a hoist.Admin) bool { return a.Name == "nobody" }) {
			t.Fatal("an account was made for a person in no Hoist group")
		}
	})
	t.Run("local account of the same name", func(t *testing.T) {
		if _, err := s.svc.CreateAdmin(ctx, control.Actor{Name: "admin", Role: hoist.RoleAdmin},
			control.AdminInput{Name: "dee", Role: hoist.RoleAuditor, Password: idsPassword}); err != nil {
			t.Fatal(err)
		}
		s.idp.SetUser("dee", "hoist-admins")
		_, err := s.signIn(t, "dee")
		if hoist.ErrorCode(err) != hoist.EForbidden || !strings.Contains(hoist.ErrorMessage(err), "not linked") {
			t.Fatalf("the provider's dee took over the local account dee: %v", err)
		}
	})
}

// TestSSOUnixNamesBindTheNoSelfApprovalRule: the Unix names the provider
// sends become the account's identities, so its approval of one of them
// is refused.
func TestSSOUnixNamesBindTheNoSelfApprovalRule(t *testing.T) {
	s := newSSOSite(t)
	s.idp.SetUser("eve", "hoist-approvers")
	s.idp.SetUnixNames("eve", "eve-dev")
	a, err := s.signIn(t, "eve")
	if err != nil {
		t.Fatal(err)
	}
	r, _, err := s.svc.CreateRequest(ctx, control.RequestInput{User: "eve-dev", Host: "ws-01", Reason: "driver", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if code, msg := approve(t, s.svc, a, r.ID); code != hoist.EForbidden || !strings.Contains(msg, "own request") {
		t.Fatalf("eve approving eve-dev's request: %q %q, want refused", code, msg)
	}
}

// TestPasswordSignInOffButBreakGlass: with local sign-in off, only the
// break-glass account signs in with a password.
func TestPasswordSignInOffButBreakGlass(t *testing.T) {
	s := newSSOSite(t, func(c *control.SSO) { c.NoLocalLogin, c.BreakGlass = true, "admin" })
	admin := control.Actor{Name: "admin", Role: hoist.RoleAdmin}
	if _, err := s.svc.CreateAdmin(ctx, admin, control.AdminInput{Name: "fay", Role: hoist.RoleApprover, Password: idsPassword}); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.svc.Login(ctx, "admin", idsPassword, "192.0.2.7"); err != nil {
		t.Fatalf("the break-glass admin: %v", err)
	}
	_, _, _, err := s.svc.Login(ctx, "fay", idsPassword, "192.0.2.7")
	if hoist.ErrorCode(err) != hoist.EUnauthorized || !strings.Contains(hoist.ErrorMessage(err), "identity provider") {
		t.Fatalf("fay with the right password while local sign-in is off: %v", err)
	}
}
