package console_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/console"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/sqlite"
	"github.com/hoist-jit/hoist/testenv"
)

var ctx = context.Background()

// site is a console on a real control service and SQLite store, served over
// TLS so that the browser rules for Secure cookies hold.
type site struct {
	t     *testing.T
	srv   *httptest.Server
	svc   *control.Service
	clock *testenv.Clock
	admin control.Actor
	store hoist.Store
}

const password = "correct horse battery staple"

func newSite(t *testing.T) *site {
	t.Helper()
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
	if _, err := svc.Bootstrap(ctx, password); err != nil {
		t.Fatal(err)
	}
	if err := svc.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	admin := control.Actor{Name: "admin", Role: hoist.RoleAdmin}
	for _, u := range []struct {
		name string
		role hoist.Role
	}{{"carol", hoist.RoleApprover}, {"audrey", hoist.RoleAuditor}} {
		if _, err := svc.CreateAdmin(ctx, admin, control.AdminInput{Name: u.name, Role: u.role, Password: "password-of-" + u.name}); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewTLSServer(console.New(console.Config{Service: svc, Clock: clk.Now, IdleTimeout: 30 * time.Minute}))
	t.Cleanup(srv.Close)
	return &site{t: t, srv: srv, svc: svc, clock: clk, admin: admin, store: store}
}

// visitor is one browser: a cookie jar, and no automatic redirects, so
// that each answer can be looked at.
type visitor struct {
	s      *site
	client *http.Client
}

func (s *site) visitor() *visitor {
	jar, _ := cookiejar.New(nil)
	c := *s.srv.Client() // a copy: each visitor has its own jar
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &visitor{s: s, client: &c}
}

func (v *visitor) do(req *http.Request) (*http.Response, string) {
	v.s.t.Helper()
	res, err := v.client.Do(req)
	if err != nil {
		v.s.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode >= 500 {
		v.s.t.Fatalf("%s %s: %d\n%s", req.Method, req.URL.Path, res.StatusCode, body)
	}
	return res, string(body)
}

func (v *visitor) get(path string) (*http.Response, string) {
	v.s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, v.s.srv.URL+path, nil)
	return v.do(req)
}

// post sends a form as a page of the console would (same origin).
func (v *visitor) post(path string, form url.Values, header ...string) (*http.Response, string) {
	v.s.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, v.s.srv.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return v.do(req)
}

// hidden opens page and returns the value of its hidden field name, as a
// browser holds it (any cookie half is in the jar).
func (v *visitor) hidden(page, name string) string {
	v.s.t.Helper()
	_, body := v.get(page)
	m := regexp.MustCompile(`name="` + name + `" value="([^"]+)"`).FindStringSubmatch(body)
	if m == nil {
		v.s.t.Fatalf("no %s field on %s:\n%s", name, page, body)
	}
	return m[1]
}

// loginToken opens the sign-in page, as a browser does first, and returns
// its form token.
func (v *visitor) loginToken() string { return v.hidden("/login", "login") }

func (v *visitor) signIn(user, pw string) {
	v.s.t.Helper()
	res, body := v.post("/login", url.Values{"user": {user}, "password": {pw}, "next": {"/approvals"}, "login": {v.loginToken()}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/approvals" {
		v.s.t.Fatalf("sign in as %s: %d %s\n%s", user, res.StatusCode, res.Header.Get("Location"), body)
	}
}

// csrf reads the form token from a page, as a console page holds it.
func (v *visitor) csrf() string { return v.hidden("/approvals", "csrf") }

func (s *site) pending(user string) hoist.Request {
	s.t.Helper()
	r, _, err := s.svc.CreateRequest(ctx, control.RequestInput{User: user, Host: "ws-01", Reason: "printer driver", Duration: time.Hour})
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

func (s *site) request(id string) hoist.Request {
	s.t.Helper()
	r, err := s.svc.Request(ctx, s.admin, id)
	if err != nil {
		s.t.Fatal(err)
	}
	return r
}

func TestEveryAnswerCarriesTheSecurityHeaders(t *testing.T) {
	s := newSite(t)
	v := s.visitor()
	for _, path := range []string{"/login", "/approvals", "/no/such/page", "/static/console.css"} {
		res, _ := v.get(path)
		csp := res.Header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "frame-ancestors 'none'", "form-action 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows inline code: %q", path, csp)
		}
		if res.Header.Get("X-Frame-Options") != "DENY" || res.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: framing or sniffing allowed: %v", path, res.Header)
		}
	}
	// Pages never reference another origin.
	_, body := v.get("/login")
	if strings.Contains(body, "http://") || strings.Contains(body, "https://") {
		t.Errorf("the login page loads from another origin:\n%s", body)
	}
}

func TestSignIn(t *testing.T) {
	s := newSite(t)
	v := s.visitor()
	res, _ := v.get("/policies?x=1")
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?next="+url.QueryEscape("/policies?x=1") {
		t.Fatalf("a stranger at /policies: %d → %q", res.StatusCode, res.Header.Get("Location"))
	}
	res, body := v.post("/login", url.Values{"user": {"admin"}, "password": {password}})
	if !strings.Contains(body, "Nothing was done") || hasSession(res) {
		t.Fatalf("a sign-in without the form's token was taken:\n%s", body)
	}
	res, body = v.post("/login", url.Values{"user": {"admin"}, "password": {password}, "login": {"forged"}})
	if !strings.Contains(body, "Nothing was done") || hasSession(res) {
		t.Fatalf("a sign-in with a forged token was taken:\n%s", body)
	}
	res, body = v.post("/login", url.Values{"user": {"admin"}, "password": {"wrong"}, "login": {v.loginToken()}})
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "wrong user name or password") || hasSession(res) {
		t.Fatalf("wrong password: %d, cookies %v\n%s", res.StatusCode, res.Cookies(), body)
	}
	res, _ = v.post("/login", url.Values{"user": {"admin"}, "password": {password}, "next": {"/policies"}, "login": {v.loginToken()}})
	var session *http.Cookie
	for _, c := range res.Cookies() {
		if c.Name == "__Host-hoist-session" {
			session = c
		}
	}
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/policies" || session == nil {
		t.Fatalf("sign in: %d → %q, cookies %v", res.StatusCode, res.Header.Get("Location"), res.Cookies())
	}
	if !session.Secure || !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Path != "/" || session.Domain != "" {
		t.Errorf("session cookie is not hardened: %+v", session)
	}
	if res, _ := v.get("/policies"); res.StatusCode != http.StatusOK {
		t.Fatalf("signed in, /policies answers %d", res.StatusCode)
	}
	// Sign out ends the login on the server, not only in the browser.
	token := session.Value
	v.post("/logout", url.Values{"csrf": {v.csrf()}})
	if _, err := s.svc.Authenticate(ctx, token); hoist.ErrorCode(err) != hoist.EUnauthorized {
		t.Errorf("the token still works after sign-out: %v", err)
	}
}

func hasSession(res *http.Response) bool {
	for _, c := range res.Cookies() {
		if c.Name == "__Host-hoist-session" && c.Value != "" {
			return true
		}
	}
	return false
}

func TestSignInSendsOnlyToThisSite(t *testing.T) {
	s := newSite(t)
	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "javascript:alert(1)", "/login?next=//evil.example",
		"/\t/evil.example", "/./\\evil.example", "/%2F/evil.example/../", "/\n/evil", "http:/evil.example", "/approvals#//evil"} {
		v := s.visitor()
		res, _ := v.post("/login", url.Values{"user": {"admin"}, "password": {password}, "next": {next}, "login": {v.loginToken()}})
		if loc := res.Header.Get("Location"); loc != "/approvals" {
			t.Errorf("next=%q sent the browser to %q", next, loc)
		}
	}
}

// TestFormsRefuseForgery: a state-changing request must carry the login's
// form token and come from this origin; otherwise it changes nothing.
func TestFormsRefuseForgery(t *testing.T) {
	s := newSite(t)
	v := s.visitor()
	v.signIn("admin", password)
	token := v.csrf()
	r := s.pending("alice")
	approve := func(csrf string) url.Values {
		return url.Values{"id": {r.ID}, "action": {"approve"}, "for": {"1h"}, "csrf": {csrf}}
	}
	other := s.visitor()
	other.signIn("carol", "password-of-carol")
	cases := []struct {
		name   string
		form   url.Values
		header []string
	}{
		{"no token", url.Values{"id": {r.ID}, "action": {"approve"}, "for": {"1h"}}, nil},
		{"wrong token", approve("AAAA" + token[4:]), nil},
		{"another login's token", approve(other.csrf()), nil},
		{"cross-site", approve(token), []string{"Sec-Fetch-Site", "cross-site"}},
		{"same-site, other origin", approve(token), []string{"Sec-Fetch-Site", "same-site"}},
		{"foreign Origin", approve(token), []string{"Sec-Fetch-Site", "", "Origin", "https://evil.example"}},
	}
	for _, tc := range cases {
		res, body := v.post("/approvals/decide", tc.form, tc.header...)
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body, "Nothing was changed") {
			t.Errorf("%s: %d\n%s", tc.name, res.StatusCode, body)
		}
		if got := s.request(r.ID); got.State != hoist.RequestPending {
			t.Fatalf("%s: the forged form decided the request: %+v", tc.name, got)
		}
	}
	// The real form works.
	res, _ := v.post("/approvals/decide", approve(token))
	if res.StatusCode != http.StatusSeeOther || s.request(r.ID).State != hoist.RequestApproved {
		t.Fatalf("the console's own form: %d, %+v", res.StatusCode, s.request(r.ID))
	}
}

// TestIdleLoginExpires: a console left alone signs out; using it keeps it
// signed in; the page's own polling does not count as use.
func TestIdleLoginExpires(t *testing.T) {
	s := newSite(t)
	v := s.visitor()
	v.signIn("admin", password)
	for range 4 {
		s.clock.Add(20 * time.Minute)
		if res, _ := v.get("/policies"); res.StatusCode != http.StatusOK {
			t.Fatalf("a console in use was signed out after %v: %d", 20*time.Minute, res.StatusCode)
		}
	}
	// Now only the page's polling: fine within the idle time, refused once
	// 30 minutes have passed since the last real use.
	for range 2 {
		s.clock.Add(10 * time.Minute)
		if res, _ := v.get("/approvals/live"); res.StatusCode != http.StatusOK {
			t.Fatalf("live poll within the idle time: %d", res.StatusCode)
		}
	}
	s.clock.Add(10 * time.Minute)
	if res, _ := v.get("/approvals/live"); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("polling kept an idle login alive: %d", res.StatusCode)
	}
	if res, _ := v.get("/approvals"); res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Fatalf("an idle console still opens pages: %d", res.StatusCode)
	}
}

// TestRolesSeeAndDoOnlyWhatTheyMay: an auditor sees no decision buttons and
// cannot decide by sending the form anyway; an approver cannot open the
// whole audit log (only the records of the sessions they approved) or
// change policies.
func TestRolesSeeAndDoOnlyWhatTheyMay(t *testing.T) {
	s := newSite(t)
	r := s.pending("alice")
	auditor := s.visitor()
	auditor.signIn("audrey", "password-of-audrey")
	if _, body := auditor.get("/approvals"); strings.Contains(body, `id="approve"`) || !strings.Contains(body, "alice") {
		t.Errorf("the auditor's approvals page:\n%s", body)
	}
	res, _ := auditor.post("/approvals/decide", url.Values{"id": {r.ID}, "action": {"approve"}, "for": {"1h"}, "csrf": {auditor.csrf()}})
	if s.request(r.ID).State != hoist.RequestPending {
		t.Fatalf("an auditor approved a request (%d)", res.StatusCode)
	}
	if _, body := auditor.get("/approvals"); !strings.Contains(body, "may not approve") {
		t.Errorf("the auditor is not told why:\n%s", body)
	}
	approver := s.visitor()
	approver.signIn("carol", "password-of-carol")
	if res, body := approver.get("/audit"); res.StatusCode != http.StatusOK || !strings.Contains(body, `id="approved-sessions"`) || strings.Contains(body, `id="audit"`) {
		t.Errorf("an approver's audit page: %d, want the sessions they approved and no records:\n%.2000s", res.StatusCode, body)
	}
	if res, _ := approver.get("/audit?subject=" + r.ID); res.StatusCode != http.StatusForbidden {
		t.Errorf("an approver read the records of a request they did not approve: %d", res.StatusCode)
	}
	if res, _ := approver.get("/audit/export"); res.StatusCode != http.StatusForbidden {
		t.Errorf("an approver exported the audit log: %d", res.StatusCode)
	}
	p, _ := s.svc.Policy(ctx, s.admin, "JIT Mode")
	approver.post("/policies/"+p.ID+"/active", url.Values{"active": {"true"}, "csrf": {approver.csrf()}})
	if after, _ := s.svc.Policy(ctx, s.admin, p.ID); after.Active {
		t.Errorf("an approver switched a policy on")
	}
}

// TestBadInputChangesNothing: whatever a form or a URL holds, the answer is
// a clear refusal, never a server error, and the stored policies stay as
// they were.
func TestBadInputChangesNothing(t *testing.T) {
	s := newSite(t)
	v := s.visitor()
	v.signIn("admin", password)
	csrf := v.csrf()
	p, _ := s.svc.Policy(ctx, s.admin, "JIT Mode (Startup and Approval)")
	g, _ := s.svc.Group(ctx, s.admin, hoist.DefaultGroup)
	long := strings.Repeat("x", 100_000)
	posts := []struct {
		path string
		form url.Values
	}{
		{"/approvals/decide", url.Values{"action": {"approve"}, "for": {"1h"}}},
		{"/approvals/decide", url.Values{"id": {"req_nope"}, "action": {"approve"}, "for": {"forever"}}},
		{"/approvals/decide", url.Values{"id": {"req_nope"}, "action": {"launch"}}},
		{"/approvals/decide", url.Values{"id": {long}, "action": {"deny"}, "reason": {long}}},
		{"/sessions/revoke", url.Values{"id": {"ses_\x00"}}},
		{"/policies/" + p.ID, url.Values{"name": {""}, "startup.max_duration": {"soon"}, "startup.durations": {"1h, x"}, "priority": {"high"}}},
		{"/policies/" + p.ID, url.Values{"name": {p.Name}, "groups": {"No Such Group"}, "version": {"1"}}},
		{"/policies/" + p.ID, url.Values{"name": {long}}},
		{"/policies/new", url.Values{"kind": {"nonsense"}, "name": {"x"}}},
		{"/policies/new", url.Values{"kind": {"application"}, "name": {"Bad regex"}, "groups": {hoist.DefaultGroup}, "application.path": {"relative"}, "application.args": {"("}, "application.action": {"explode"}}},
		{"/policies/pol_nope/active", url.Values{"active": {"true"}}},
		{"/policies/pol_nope/delete", nil},
		{"/groups/" + g.ID + "/config", url.Values{"config.create_jit_shortcut": {"maybe"}, "config.grace": {"-"}, "config.reminders": {"1h,,zz"}}},
		{"/groups/" + g.ID + "/delete", nil},
		{"/groups/new", url.Values{"name": {"../etc"}, "rules.hostname": {"[["}}},
		{"/agents/agt_nope/revoke", nil},
		{"/agents/enroll-token", url.Values{"uses": {"-1"}, "ttl": {"1h"}}},
		{"/agents/enroll-token", url.Values{"uses": {"1"}, "ttl": {"999999h"}}},
	}
	for _, tc := range posts {
		form := url.Values{"csrf": {csrf}}
		for k, vs := range tc.form {
			form[k] = vs
		}
		res, body := v.post(tc.path, form)
		if res.StatusCode == http.StatusSeeOther {
			_, body = v.get(res.Header.Get("Location"))
		}
		if !strings.Contains(body, `class="flash bad"`) && !strings.Contains(body, `class="err"`) {
			t.Errorf("POST %s %v: no error shown (%d)\n%.2000s", tc.path, tc.form, res.StatusCode, body)
		}
	}
	gets := []string{"/approvals?state=bogus", "/audit?before=-1", "/audit?text=" + url.QueryEscape(long[:300]),
		"/policies/pol_nope", "/groups/" + url.PathEscape("\x00"), "/policies/new?kind=../../etc"}
	for _, path := range gets {
		v.get(path) // do fails the test on any 5xx
	}
	if after, _ := s.svc.Policy(ctx, s.admin, p.ID); after.Version != p.Version {
		t.Errorf("bad input changed the startup policy: %+v", after)
	}
	if after, _ := s.svc.Group(ctx, s.admin, g.ID); after.Version != g.Version {
		t.Errorf("bad input changed the default group: %+v", after)
	}
	// The refused policy form shows each error beside its field, with what
	// was typed kept.
	res, body := v.post("/policies/"+p.ID, url.Values{"csrf": {csrf}, "name": {p.Name}, "groups": {hoist.DefaultGroup},
		"startup.max_duration": {"soon"}, "startup.users": {"alice, bob"}})
	if res.StatusCode != http.StatusOK || !strings.Contains(body, `id="f-startup-max_duration-err"`) ||
		!strings.Contains(body, `aria-describedby="f-startup-max_duration-hint f-startup-max_duration-err"`) ||
		!strings.Contains(body, `value="alice, bob"`) || !strings.Contains(body, `value="soon"`) {
		t.Errorf("refused policy form:\n%s", body)
	}
}

func TestPolicyEditAndToggleReachTheStore(t *testing.T) {
	s := newSite(t)
	v := s.visitor()
	v.signIn("admin", password)
	csrf := v.csrf()
	p, _ := s.svc.Policy(ctx, s.admin, "JIT Mode (Child Processes)")
	res, body := v.post("/policies/"+p.ID, url.Values{"csrf": {csrf}, "name": {p.Name}, "description": {"ends everything"}, "groups": {hoist.DefaultGroup},
		"priority": {"5"}, "version": {"1"}, "children.grace": {"30s"}, "children.reminders": {"10m, 1m"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("save: %d\n%s", res.StatusCode, body)
	}
	got, _ := s.svc.Policy(ctx, s.admin, p.ID)
	if got.Description != "ends everything" || got.Priority != 5 || got.Children.Grace.D() != 30*time.Second ||
		len(got.Children.Reminders) != 2 || got.Children.Reminders[1].D() != time.Minute || got.UpdatedBy != "admin" {
		t.Fatalf("saved policy: %+v %+v", got, got.Children)
	}
	// Remind every, on the policy's form; the startup policy's automatic
	// approval rules, which have no form, survive a save of its form.
	res, body = v.post("/policies/"+p.ID, url.Values{"csrf": {csrf}, "name": {p.Name}, "groups": {hoist.DefaultGroup},
		"version": {"2"}, "children.reminders": {"10m, 1m"}, "children.reminder_every": {"45m"}})
	if got, _ := s.svc.Policy(ctx, s.admin, p.ID); res.StatusCode != http.StatusSeeOther || got.Children.ReminderEvery == nil || got.Children.ReminderEvery.D() != 45*time.Minute {
		t.Fatalf("save with Remind every 45m: %d %+v\n%.2000s", res.StatusCode, got.Children, body)
	}
	if _, body := v.get("/policies/" + p.ID); !strings.Contains(body, `name="children.reminder_every" value="45m"`) {
		t.Errorf("the policy page does not show Remind every 45m:\n%.3000s", body)
	}
	sp, _ := s.svc.Policy(ctx, s.admin, "JIT Mode (Startup and Approval)")
	sp.Startup.AutoApprove = []hoist.AutoRule{{Name: "routine", MaxDuration: hoist.Duration(time.Hour)}}
	if sp, err := s.svc.UpdatePolicy(ctx, s.admin, sp.ID, sp); err != nil {
		t.Fatal(err)
	} else if res, body := v.post("/policies/"+sp.ID, url.Values{"csrf": {csrf}, "name": {sp.Name}, "groups": {hoist.DefaultGroup},
		"version": {strconv.Itoa(sp.Version)}, "startup.approver_role": {"approver"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("save of the startup policy: %d\n%.2000s", res.StatusCode, body)
	}
	if got, _ := s.svc.Policy(ctx, s.admin, sp.ID); len(got.Startup.AutoApprove) != 1 {
		t.Errorf("a save of the startup policy's form dropped its automatic approval rules: %+v", got.Startup)
	}
	// A save that does not say which version it edits is refused.
	_, body = v.post("/policies/"+p.ID, url.Values{"csrf": {csrf}, "name": {p.Name}, "groups": {hoist.DefaultGroup}, "version": {"x1"}})
	if !strings.Contains(body, "lost track of which version") {
		t.Errorf("a save with a broken version was not refused:\n%.3000s", body)
	}
	// A second save from the page opened before the first is refused.
	_, body = v.post("/policies/"+p.ID, url.Values{"csrf": {csrf}, "name": {p.Name}, "groups": {hoist.DefaultGroup}, "version": {"1"}})
	if !strings.Contains(body, "changed by someone else") {
		t.Errorf("a stale edit was not refused:\n%.3000s", body)
	}
	// A new application policy, from the form the page offers.
	_, body = v.get("/policies/new?kind=application")
	form := url.Values{"csrf": {csrf}, "kind": {"application"}, "name": {"Elevate apt"}, "groups": {hoist.DefaultGroup},
		"priority": {"10"}, "application.path": {"/usr/sbin/reboot"}, "application.action": {"elevate"}, "application.users": {"alice, bob"}}
	for _, m := range regexp.MustCompile(`type="hidden" name="(version)" value="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		form.Set(m[1], m[2])
	}
	res, body = v.post("/policies/new", form)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create from the new-policy form: %d\n%s", res.StatusCode, body)
	}
	created, err := s.svc.Policy(ctx, s.admin, "Elevate apt")
	if err != nil || created.Active || created.Application.Path != "/usr/sbin/reboot" || len(created.Application.Users) != 2 || created.Priority != 10 {
		t.Fatalf("created policy: %+v %v", created, err)
	}
	// Any arguments to reboot: stored, and its page shows the linter's
	// warning.
	if loc := res.Header.Get("Location"); loc != "/policies/"+created.ID {
		t.Errorf("a create with warnings went to %q, want the policy's page", loc)
	}
	if _, body := v.get("/policies/" + created.ID); !strings.Contains(body, "The policy linter warns") || !strings.Contains(body, "application.argv") {
		t.Errorf("the policy page shows no warning:\n%.3000s", body)
	}
	// A root shell is refused on the form, the field named.
	form.Set("name", "Root shell")
	form.Set("application.path", "/usr/bin/bash")
	if _, body := v.post("/policies/new", form); !strings.Contains(body, "The policy was not saved") || !strings.Contains(body, "A shell runs whatever") {
		t.Errorf("a root shell was not refused on the form:\n%.3000s", body)
	}
	// Duplicate, then delete the copy.
	res, _ = v.post("/policies/"+p.ID+"/duplicate", url.Values{"csrf": {csrf}})
	copyPath := res.Header.Get("Location")
	dup, err := s.svc.Policy(ctx, s.admin, strings.TrimPrefix(copyPath, "/policies/"))
	if err != nil || dup.Name != p.Name+" (copy)" || dup.Active {
		t.Fatalf("duplicate → %q: %+v, %v", copyPath, dup, err)
	}
	v.post(copyPath+"/delete", url.Values{"csrf": {csrf}})
	if _, err := s.svc.Policy(ctx, s.admin, dup.ID); hoist.ErrorCode(err) != hoist.ENotFound {
		t.Errorf("the copy was not deleted: %v", err)
	}
	// The agent configuration's tri-state: Inherit leaves the field unset.
	g, _ := s.svc.Group(ctx, s.admin, hoist.DefaultGroup)
	v.post("/groups/"+g.ID+"/config", url.Values{"csrf": {csrf}, "version": {"1"}, "config.create_jit_shortcut": {"yes"}, "config.grace": {"5s"}})
	g, _ = s.svc.Group(ctx, s.admin, g.ID)
	if g.Config.CreateJITShortcut == nil || !*g.Config.CreateJITShortcut || g.Config.Grace == nil || g.Config.Grace.D() != 5*time.Second || g.Config.MaxDuration != nil {
		t.Fatalf("config after save: %+v", g.Config)
	}
	v.post("/groups/"+g.ID+"/config", url.Values{"csrf": {csrf}, "version": {"2"}, "config.create_jit_shortcut": {""}})
	g, _ = s.svc.Group(ctx, s.admin, g.ID)
	if g.Config.CreateJITShortcut != nil || g.Config.Grace != nil {
		t.Fatalf("Inherit did not unset: %+v", g.Config)
	}
	// A configuration saved from a page opened before the last change is
	// refused, and saving that page again is refused again.
	for range 2 {
		_, body := v.post("/groups/"+g.ID+"/config", url.Values{"csrf": {csrf}, "version": {"2"}, "config.create_jit_shortcut": {"no"}})
		if !strings.Contains(body, "changed by someone else") || !strings.Contains(body, `name="version" value="2"`) {
			t.Fatalf("a stale configuration save:\n%.4000s", body)
		}
	}
	if after, _ := s.svc.Group(ctx, s.admin, g.ID); after.Version != g.Version || after.Config.CreateJITShortcut != nil {
		t.Fatalf("a stale save changed the group: %+v", after)
	}
	// Durations as people type them, as the CLI takes them; a grace of 0
	// means what it says.
	v.post("/groups/"+g.ID+"/config", url.Values{"csrf": {csrf}, "version": {"3"}, "config.checkin_interval": {"1h 30m"}, "config.grace": {"0"}})
	g, _ = s.svc.Group(ctx, s.admin, g.ID)
	if g.Config.CheckinInterval == nil || g.Config.CheckinInterval.D() != 90*time.Minute || g.Config.Grace == nil || *g.Config.Grace != 0 {
		t.Fatalf("config after saving \"1h 30m\" and a grace of 0: %+v", g.Config)
	}
	if _, body := v.post("/groups/"+g.ID+"/config", url.Values{"csrf": {csrf}, "version": {"4"}, "config.checkin_interval": {"5"}}); !strings.Contains(body, "did you mean 5m or 5h?") {
		t.Errorf("a duration without a unit:\n%.3000s", body)
	}
	// Remind every: a period, 0 for none, and one out of range refused
	// with the field named.
	v.post("/groups/"+g.ID+"/config", url.Values{"csrf": {csrf}, "version": {"4"}, "config.reminder_every": {"45m"}})
	g, _ = s.svc.Group(ctx, s.admin, g.ID)
	if g.Config.ReminderEvery == nil || g.Config.ReminderEvery.D() != 45*time.Minute {
		t.Fatalf("config after saving Remind every 45m: %+v", g.Config)
	}
	if _, body := v.get("/groups/" + g.ID); !strings.Contains(body, `name="config.reminder_every" value="45m"`) {
		t.Errorf("the group page does not show Remind every 45m:\n%.3000s", body)
	}
	if _, body := v.post("/groups/"+g.ID+"/config", url.Values{"csrf": {csrf}, "version": {"5"}, "config.reminder_every": {"10s"}}); !strings.Contains(body, "Remind every") || !strings.Contains(body, "or 0 for no periodic reminders") {
		t.Errorf("a period of 10s:\n%.3000s", body)
	}
}

func TestAuditPageAndExport(t *testing.T) {
	s := newSite(t)
	v := s.visitor()
	v.signIn("audrey", "password-of-audrey")
	for _, u := range []string{"alice", "bob", "chris"} {
		s.pending(u)
	}
	_, body := v.get("/audit?action=" + hoist.AuditRequestCreated)
	body = unbroken(body)
	if !strings.Contains(body, "Hash chain intact") || strings.Count(body, "<td>"+hoist.AuditRequestCreated+"</td>") != 3 || strings.Contains(body, "<td>"+hoist.AuditLogin+"</td>") {
		t.Errorf("audit page:\n%s", body)
	}
	// This service keeps no checkpoints: the chain check says what that
	// leaves out.
	if !strings.Contains(body, "Note: no checkpoints: truncation") {
		t.Errorf("the audit page does not say the check had no checkpoints:\n%s", body)
	}
	// The search sees the detail as shown, not as JSON escapes it, and an
	// action is a prefix.
	if _, _, err := s.svc.CreateRequest(ctx, control.RequestInput{User: "dora", Host: "ws-02", Reason: `fix <b> & "quotes"`, Duration: time.Hour}); err != nil {
		t.Fatal(err)
	}
	_, body = v.get("/audit?text=" + url.QueryEscape(`<b> & "quotes"`))
	body = unbroken(body)
	if strings.Count(body, "<td>"+hoist.AuditRequestCreated+"</td>") != 1 || !strings.Contains(body, `<dt>Reason</dt><dd>fix &lt;b&gt; &amp; &#34;quotes&#34;</dd>`) {
		t.Errorf("text search for markup:\n%s", body)
	}
	_, body = v.get("/audit?action=request.")
	body = unbroken(body)
	if strings.Count(body, "<td>"+hoist.AuditRequestCreated+"</td>") != 4 {
		t.Errorf("action prefix request. lists:\n%s", body)
	}
	res, err := v.client.Get(s.srv.URL + "/audit/export")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("export content type %q", res.Header.Get("Content-Type"))
	}
	var prev hoist.AuditRecord
	n := 0
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		var rec hoist.AuditRecord
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		if rec.Hash != rec.ComputeHash() || (n > 0 && rec.PrevHash != prev.Hash) {
			t.Fatalf("exported record %d breaks the chain", rec.Seq)
		}
		prev, n = rec, n+1
	}
	rep, _ := s.svc.VerifyAudit(ctx, s.admin)
	if int64(n) != rep.Records {
		t.Errorf("exported %d records of %d", n, rep.Records)
	}
}

func TestUsersPage(t *testing.T) {
	s := newSite(t)
	v := s.visitor()
	v.signIn("admin", password)
	csrf := v.csrf()
	res, _ := v.post("/users/new", url.Values{"csrf": {csrf}, "name": {"dana"}, "role": {"approver"}, "password": {"a long enough password"}, "password2": {"a long enough password"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d", res.StatusCode)
	}
	dana := s.visitor()
	dana.signIn("dana", "a long enough password")
	v.post("/users/dana", url.Values{"csrf": {csrf}, "change": {"role"}, "role": {"auditor"}})
	v.post("/users/dana", url.Values{"csrf": {csrf}, "change": {"disable"}})
	as, _ := s.svc.Admins(ctx, s.admin)
	for _, a := range as {
		if a.Name == "dana" && (a.Role != hoist.RoleAuditor || !a.Disabled) {
			t.Fatalf("dana after role change and disable: %+v", a)
		}
	}
	if res, _ := dana.get("/approvals"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("a disabled account still opens pages: %d", res.StatusCode)
	}
	// Refusals are shown, and change nothing.
	_, body := v.post("/users/new", url.Values{"csrf": {csrf}, "name": {"eve"}, "role": {"admin"}, "password": {"short"}, "password2": {"short"}})
	if !strings.Contains(body, "Nothing was created") || !strings.Contains(body, `value="eve"`) || strings.Contains(body, `value="short"`) {
		t.Errorf("a refused account:\n%s", body)
	}
	res, _ = v.post("/users/admin", url.Values{"csrf": {csrf}, "change": {"role"}, "role": {"auditor"}})
	if _, body := v.get(res.Header.Get("Location")); !strings.Contains(body, "cannot demote or disable your own account") {
		t.Errorf("self-demotion not explained:\n%s", body)
	}
	v.post("/users/dana/delete", url.Values{"csrf": {csrf}})
	as, _ = s.svc.Admins(ctx, s.admin)
	for _, a := range as {
		if a.Name == "dana" || (a.Name == "admin" && a.Role != hoist.RoleAdmin) {
			t.Errorf("after delete: %+v", a)
		}
	}
	// Only admins have the page.
	approver := s.visitor()
	approver.signIn("carol", "password-of-carol")
	if res, body := approver.get("/users"); res.StatusCode != http.StatusForbidden || strings.Contains(body, "audrey") {
		t.Errorf("an approver opened the users page: %d", res.StatusCode)
	}
}

func TestRequestPageTellsItsStory(t *testing.T) {
	s := newSite(t)
	v := s.visitor()
	v.signIn("carol", "password-of-carol")
	r := s.pending("alice")
	if _, err := s.svc.Approve(ctx, s.admin, []string{r.ID}, time.Hour, ""); err != nil {
		t.Fatal(err)
	}
	r = s.request(r.ID)
	if _, err := s.svc.Revoke(ctx, s.admin, []string{r.SessionID}, "done early"); err != nil {
		t.Fatal(err)
	}
	_, body := v.get("/requests/" + r.ID)
	for _, want := range []string{"Request of alice on ws-01", "printer driver", "request: pending → approved", "session: active → ended", "done early", r.SessionID} {
		if !strings.Contains(body, want) {
			t.Errorf("request page lacks %q:\n%s", want, body)
		}
	}
	if res, _ := v.get("/requests/req_nope"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown request: %d", res.StatusCode)
	}
}

// TestApproveAsRequested: each selected request gets the window it asked
// for, and the message names who was approved.
func TestApproveAsRequested(t *testing.T) {
	s := newSite(t)
	v := s.visitor()
	v.signIn("carol", "password-of-carol")
	var ids []string
	for user, d := range map[string]time.Duration{"alice": 45 * time.Minute, "bob": 2 * time.Hour} {
		r, _, err := s.svc.CreateRequest(ctx, control.RequestInput{User: user, Host: "ws-01", Reason: "x", Duration: d})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	res, _ := v.post("/approvals/decide", url.Values{"csrf": {v.csrf()}, "id": ids, "action": {"approve"}, "for": {"requested"}})
	_, body := v.get(res.Header.Get("Location"))
	if !strings.Contains(body, "Approved as requested: ") || !strings.Contains(body, "alice on ws-01") || !strings.Contains(body, "bob on ws-01") {
		t.Errorf("message after Approve as requested:\n%s", body)
	}
	for _, id := range ids {
		r := s.request(id)
		if r.State != hoist.RequestApproved || r.GrantedDuration != r.RequestedDuration {
			t.Errorf("%s: %s, granted %v for %v asked", r.User, r.State, r.GrantedDuration, r.RequestedDuration)
		}
	}
}

func TestChangeOwnPassword(t *testing.T) {
	s := newSite(t)
	v := s.visitor()
	v.signIn("audrey", "password-of-audrey")
	csrf := v.csrf()
	res, _ := v.post("/account/password", url.Values{"csrf": {csrf}, "current": {"not it at all"}, "password": {"a brand new password"}, "password2": {"a brand new password"}})
	if _, body := v.get(res.Header.Get("Location")); !strings.Contains(body, "current password is not right") {
		t.Fatalf("wrong current password:\n%s", body)
	}
	res, _ = v.post("/account/password", url.Values{"csrf": {csrf}, "current": {"password-of-audrey"}, "password": {"a brand new password"}, "password2": {"a brand new passwort"}})
	if _, body := v.get(res.Header.Get("Location")); !strings.Contains(body, "differ") {
		t.Fatalf("mismatched new passwords:\n%s", body)
	}
	res, _ = v.post("/account/password", url.Values{"csrf": {csrf}, "current": {"password-of-audrey"}, "password": {"a brand new password"}, "password2": {"a brand new password"}})
	if res.Header.Get("Location") != "/login" {
		t.Fatalf("after the change: %d → %q", res.StatusCode, res.Header.Get("Location"))
	}
	if res, _ := v.get("/approvals"); res.StatusCode != http.StatusSeeOther {
		t.Errorf("the old login survived the password change: %d", res.StatusCode)
	}
	if _, _, _, err := s.svc.Login(ctx, "audrey", "password-of-audrey", "127.0.0.1"); err == nil {
		t.Error("the old password still works")
	}
	v.signIn("audrey", "a brand new password")
}

// unbroken is a page without its line-break opportunities (<wbr>), as its
// text reads.
func unbroken(body string) string { return strings.ReplaceAll(body, "<wbr>", "") }

// TestHistoryPages: the history shows a hundred decisions a page, newest
// first, with links to the older and back, filters kept.
func TestHistoryPages(t *testing.T) {
	s := newSite(t)
	var ids []string
	for i := range 105 {
		ids = append(ids, s.pending(fmt.Sprintf("user%03d", i)).ID)
	}
	for len(ids) > 0 {
		n := min(len(ids), control.MaxBatch)
		if _, err := s.svc.Deny(ctx, s.admin, ids[:n], "not today"); err != nil {
			t.Fatal(err)
		}
		ids = ids[n:]
	}
	v := s.visitor()
	v.signIn("admin", password)
	rows := regexp.MustCompile(`<td class="asked">`)
	_, body := v.get("/approvals?state=denied")
	if n := len(rows.FindAllString(body, -1)); n != 100 || !strings.Contains(body, `href="/approvals?page=2&amp;state=denied#history-h">Older →</a>`) || strings.Contains(body, "← Newer") {
		t.Fatalf("first page: %d rows\n%s", n, body)
	}
	_, body = v.get("/approvals?state=denied&page=2")
	if n := len(rows.FindAllString(body, -1)); n != 5 || !strings.Contains(body, `href="/approvals?state=denied#history-h">← Newer</a>`) || strings.Contains(body, "Older →") {
		t.Fatalf("second page: %d rows\n%s", n, body)
	}
}

// TestHistorySaysOneTimeOrFor: the history and the request page say which
// the approver chose, as an auditor asks.
func TestHistorySaysOneTimeOrFor(t *testing.T) {
	s := newSite(t)
	once, window := s.pending("alice"), s.pending("bob")
	if res, err := s.svc.Approve(ctx, s.admin, []string{once.ID}, 0, ""); err != nil || !res[0].OK {
		t.Fatalf("One Time: %+v %v", res, err)
	}
	if res, err := s.svc.Approve(ctx, s.admin, []string{window.ID}, 2*time.Hour, ""); err != nil || !res[0].OK {
		t.Fatalf("For 2h: %+v %v", res, err)
	}
	v := s.visitor()
	v.signIn("admin", password)
	_, body := v.get("/approvals")
	body = unbroken(body)
	if !strings.Contains(body, "approved</span> One Time (30m)") || !strings.Contains(body, "approved</span> for 2h") {
		t.Fatalf("the history does not say One Time and For:\n%s", body)
	}
	_, body = v.get("/requests/" + once.ID)
	if !strings.Contains(unbroken(body), "One Time (30m)") {
		t.Fatalf("the request page does not say One Time:\n%s", body)
	}
}

func TestGroupConfigSavesElevateSudo(t *testing.T) {
	s := newSite(t)
	v := s.visitor()
	v.signIn("admin", password)
	csrf := v.csrf()
	g, _ := s.svc.Group(ctx, s.admin, hoist.DefaultGroup)
	page := "/groups/" + g.ID
	if _, body := v.get(page); !strings.Contains(body, `name="config.elevate_sudo"`) || !strings.Contains(body, "Elevate sudo and pkexec") {
		t.Fatalf("the group page has no Elevate sudo and pkexec field:\n%.3000s", body)
	}
	cases := []struct {
		value string
		want  *bool
	}{{"no", new(false)}, {"yes", new(true)}, {"", nil}}
	for i, tc := range cases {
		v.post(page+"/config", url.Values{"csrf": {csrf}, "version": {strconv.Itoa(g.Version + i)}, "config.elevate_sudo": {tc.value}})
		got, _ := s.svc.Group(ctx, s.admin, g.ID)
		if (got.Config.ElevateSudo == nil) != (tc.want == nil) || tc.want != nil && *got.Config.ElevateSudo != *tc.want {
			t.Fatalf("after saving %q: elevate_sudo = %v, want %v", tc.value, got.Config.ElevateSudo, tc.want)
		}
		// The page shows what was saved.
		_, body := v.get(page)
		sel := `<option value="` + tc.value + `" selected>`
		i := strings.Index(body, `name="config.elevate_sudo"`)
		if i < 0 || !strings.Contains(body[i:min(len(body), i+800)], sel) {
			t.Errorf("after saving %q the page does not show it selected", tc.value)
		}
	}
	_, body := v.post(page+"/config", url.Values{"csrf": {csrf}, "version": {strconv.Itoa(g.Version + len(cases))}, "config.elevate_sudo": {"maybe"}})
	if !strings.Contains(body, "choose Yes, No or Inherit") {
		t.Errorf("a bad elevate_sudo was not refused with the field's error:\n%.3000s", body)
	}
}
