package e2e_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/cli"
	"github.com/hoist-jit/hoist/idptest"
	"github.com/hoist-jit/hoist/server"
	"github.com/hoist-jit/hoist/testenv"
)

// ssoServer is a real hoist-server that signs people in through a real
// OpenID Provider on loopback: hoist-admins, hoist-approvers and
// hoist-auditors give the three roles, and password sign-in is off but
// for the break-glass admin.
func ssoServer(t *testing.T) (*server.Main, *idptest.IdP) {
	t.Helper()
	idp := idptest.New(t)
	dir := t.TempDir()
	secret := filepath.Join(dir, "oidc-secret")
	if err := os.WriteFile(secret, []byte("client secret of hoist\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := server.Start(ctx, server.Config{DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0",
		AdminPassword: "correct horse battery staple", Settings: hoist.DefaultApprovalSettings(),
		OIDC: server.OIDC{Issuer: idp.Issuer, ClientID: "hoist", ClientSecretFile: secret, CAFile: idp.CAFile(t, dir),
			Scopes: []string{"openid", "profile", "groups"}, GroupsClaim: "groups", UsernameClaim: "preferred_username",
			AdminGroups: []string{"hoist-admins"}, ApproverGroups: []string{"hoist-approvers"}, AuditorGroups: []string{"hoist-auditors"},
			NoLocalLogin: true, BreakGlass: "admin"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	// The secret without its newline: the file's trailing newline is not
	// part of it.
	idp.AddClient("hoist", "client secret of hoist", m.URL()+"/sso/callback")
	return m, idp
}

// signInSSO signs the browser in through the provider as user, from the
// console's sign-in page, and returns the page it ends on.
func (b *browser) signInSSO(base, user string) {
	b.t.Helper()
	if b.is("signed in", `document.querySelector("form.who") !== null`) {
		b.run("sign out", chromedp.Click(chromedp.CSS("form.who button")), chromedp.WaitVisible(chromedp.ID("#sso")))
	}
	b.run("sign in through the provider as "+user, chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.ID("#sso")),
		chromedp.Click(chromedp.ID("#sso")),
		chromedp.WaitVisible(chromedp.ID("#idp-user")),
		chromedp.SendKeys(chromedp.ID("#idp-user"), user),
		chromedp.Click(chromedp.ID("#idp-submit")))
}

// TestConsoleSignInThroughIdentityProviderInChromium: a person the
// provider puts in hoist-approvers signs in to the console in Chromium
// through the provider and lands on the approvals as an approver; moved
// to hoist-auditors at the provider, their next sign-in makes them an
// auditor; in no Hoist group, they are turned away and their account is
// disabled. Password sign-in is refused but for the break-glass admin.
func TestConsoleSignInThroughIdentityProviderInChromium(t *testing.T) {
	m, idp := ssoServer(t)
	base := m.URL()
	idp.SetUser("ana", "hoist-approvers", "staff")

	b := startBrowser(t)
	b.signInSSO(base, "ana")
	b.run("land on the approvals", chromedp.WaitVisible(chromedp.ID("#pending-rows")))
	b.clean("approvals after the sign-in")
	b.run("open the account", chromedp.Navigate(base+"/account"), chromedp.WaitVisible(chromedp.CSS(".facts")))
	if facts := b.text(".facts"); !strings.Contains(facts, "ana") || !strings.Contains(facts, "approver") {
		t.Fatalf("the account page after the first sign-in reads %q, want ana, approver", facts)
	}

	idp.SetUser("ana", "hoist-auditors")
	b.signInSSO(base, "ana")
	b.run("land on the approvals", chromedp.WaitVisible(chromedp.ID("#pending-rows")))
	b.run("open the account", chromedp.Navigate(base+"/account"), chromedp.WaitVisible(chromedp.CSS(".facts")))
	if facts := b.text(".facts"); !strings.Contains(facts, "auditor") {
		t.Fatalf("the account page after the move to hoist-auditors reads %q, want auditor", facts)
	}

	idp.SetUser("ana", "staff")
	b.signInSSO(base, "ana")
	b.run("be turned away", chromedp.WaitVisible(chromedp.CSS(".flash.bad")))
	if msg := b.text(".flash.bad"); !strings.Contains(msg, "no longer give you access") {
		t.Fatalf("the sign-in page after the provider let ana go says %q", msg)
	}
	b.clean("the refused sign-in")
	actions := countActions(m)
	for _, want := range []string{hoist.AuditAdminCreated, hoist.AuditLogin, hoist.AuditSSORoleChanged, hoist.AuditSSORefused} {
		if actions[want] == 0 {
			t.Errorf("no %s in the audit log: %v", want, actions)
		}
	}

	// Password sign-in: the break-glass admin only.
	pw := startBrowser(t)
	pw.signInAs(base, "admin", "correct horse battery staple")
	pw.clean("the break-glass admin's sign-in")
}

// syncBuffer is a bytes.Buffer safe to write from the CLI's goroutine
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestCLISignInThroughIdentityProvider: hoist admin login --sso prints
// the provider's address; signing in there in Chromium brings the browser
// back to the CLI's loopback address, and the CLI is logged in as the
// account the provider's groups make — its next command works.
func TestCLISignInThroughIdentityProvider(t *testing.T) {
	m, idp := ssoServer(t)
	idp.SetUser("bo", "hoist-admins")
	home := t.TempDir()
	env := func(stdout, stderr *syncBuffer) cli.Env {
		return cli.Env{Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr,
			Getenv: func(k string) string { return map[string]string{"HOME": home}[k] }}
	}
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cli.Run([]string{"admin", "login", "--sso", "--server", m.URL(), "--ca", m.CAPath()}, env(&stdout, &stderr))
	}()
	var authURL string
	addr := regexp.MustCompile(`(?m)^  (https://\S+)$`)
	testenv.WaitUntil(t, "the CLI to print the provider's address", func() bool {
		if mm := addr.FindStringSubmatch(stderr.String()); mm != nil {
			authURL = mm[1]
			return true
		}
		return false
	})
	b := startBrowser(t)
	b.run("sign in at the provider", chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.ID("#idp-user")),
		chromedp.SendKeys(chromedp.ID("#idp-user"), "bo"),
		chromedp.Click(chromedp.ID("#idp-submit")))
	var code int
	testenv.WaitUntil(t, "the CLI to finish", func() bool {
		select {
		case code = <-done:
			return true
		default:
			return false
		}
	})
	// The page is the CLI's loopback answer; read it until it is there
	// (a read during the navigation finds no page to run in).
	testenv.WaitUntil(t, "the browser to show the CLI's answer", func() bool {
		c, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		text, err := chromedp.Run(c, chromedp.Text(chromedp.CSS("body")))
		return err == nil && strings.Contains(text, "Signed in to Hoist")
	})
	if code != 0 || !strings.Contains(stdout.String(), "as bo (admin)") {
		t.Fatalf("hoist admin login --sso: exit %d\nstdout: %s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	var out, errOut syncBuffer
	if code := cli.Run([]string{"admin", "users", "ls", "--json"}, env(&out, &errOut)); code != 0 || !strings.Contains(out.String(), `"bo"`) {
		t.Fatalf("hoist admin users ls after the SSO login: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if actions := countActions(m); actions[hoist.AuditLogin] == 0 {
		t.Errorf("the CLI's sign-in is not in the audit log: %v", actions)
	}
}
