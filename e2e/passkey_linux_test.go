package e2e_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/server"
	"github.com/hoist-jit/hoist/testenv"
)

const startupPolicy = "JIT Mode (Startup and Approval)"

// passkeyServer is a real server whose console browsers open as
// https://localhost:PORT (browsers take no passkeys for an IP address),
// with the JIT startup policy wanting a passkey for approvals.
func passkeyServer(t *testing.T) (*server.Main, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	base := fmt.Sprintf("https://localhost:%d", port)
	m, err := server.Start(ctx, server.Config{DataDir: t.TempDir(), Listen: fmt.Sprintf("127.0.0.1:%d", port), PublicURL: base,
		Hosts: []string{"localhost"}, AdminPassword: "correct horse battery staple", Settings: hoist.DefaultApprovalSettings()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	svc := m.Service()
	p, err := svc.Policy(ctx, adminActor, startupPolicy)
	if err != nil {
		t.Fatal(err)
	}
	p.Startup.RequirePasskey = true
	if _, err := svc.UpdatePolicy(ctx, adminActor, p.ID, p); err != nil {
		t.Fatal(err)
	}
	return m, base
}

// authenticator plugs a virtual platform authenticator into the browser
// (the DevTools protocol's WebAuthn domain) and returns its id.
func (b *browser) authenticator() webauthn.AuthenticatorID {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		b.t.Fatalf("enable WebAuthn: %v", err)
	}
	res, err := chromedp.Call(b.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true}})
	if err != nil {
		b.t.Fatalf("add a virtual authenticator: %v", err)
	}
	return res.AuthenticatorID
}

func (b *browser) unplug(id webauthn.AuthenticatorID) {
	b.t.Helper()
	if _, err := chromedp.Call(b.ctx, webauthn.RemoveVirtualAuthenticator, webauthn.RemoveVirtualAuthenticatorParams{AuthenticatorID: id}); err != nil {
		b.t.Fatalf("remove the virtual authenticator: %v", err)
	}
}

// addPasskey registers a passkey called name on the account page.
func (b *browser) addPasskey(base, name string) {
	b.t.Helper()
	b.run("add the passkey "+name, chromedp.Navigate(base+"/account"), chromedp.WaitVisible(chromedp.ID("#passkey-name")),
		chromedp.SendKeys(chromedp.ID("#passkey-name"), name),
		chromedp.Click(chromedp.ID("#passkey-add-button")))
	b.eventually("the passkey "+name+" listed", fmt.Sprintf(`Array.from(document.querySelectorAll("#passkeys td")).some(td => td.textContent === %q)`, name))
}

// TestPasskeysInChromium: an approver registers two passkeys on two
// (virtual) authenticators; a request whose policy wants a passkey is
// refused without one (the API, and the console form without the
// answer), approved with either authenticator's step-up, and a step-up
// made for one decision approves nothing else. A removed passkey is gone.
// Each registration, step-up and removal is audited.
func TestPasskeysInChromium(t *testing.T) {
	m, base := passkeyServer(t)
	svc := m.Service()
	const pw = "approver password, long enough"
	if _, err := svc.CreateAdmin(ctx, adminActor, control.AdminInput{Name: "pia", Role: hoist.RoleApprover, Password: pw}); err != nil {
		t.Fatal(err)
	}
	ask := func(user string) hoist.Request {
		t.Helper()
		r, _, err := svc.CreateRequest(ctx, control.RequestInput{User: user, Host: "ws-" + user, Reason: "driver", Duration: time.Hour, Policy: startupPolicy})
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	state := func(id string) hoist.RequestState {
		t.Helper()
		r, err := svc.Request(ctx, adminActor, id)
		if err != nil {
			t.Fatal(err)
		}
		return r.State
	}

	// An API login of before the passkeys: the API approves with it.
	token, _, _, err := svc.Login(ctx, "pia", pw, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	pia, err := svc.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}

	b := startBrowser(t)
	laptop := b.authenticator()
	b.signInAs(base, "pia", pw)
	b.addPasskey(base, "laptop")
	b.clean("account after the first passkey")
	b.unplug(laptop)
	key := b.authenticator()
	b.addPasskey(base, "security key")
	b.clean("account after the second passkey")

	// Without a passkey: the API's approval, and the console form sent
	// without the answer.
	r1 := ask("ulla")
	res, err := svc.Approve(ctx, pia, []string{r1.ID}, time.Hour, "")
	if err != nil || res[0].Code != hoist.EForbidden || !strings.Contains(res[0].Error, "passkey") {
		t.Fatalf("an approval without a passkey: %+v %v, want refused", res, err)
	}
	row := fmt.Sprintf(`#pending-rows tr[data-id=%q]`, r1.ID)
	b.run("see the request", chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.CSS(row)))
	if got := b.attr(row, "data-passkey"); got != "1" {
		t.Errorf("the pending row of a request that needs a passkey has data-passkey %q", got)
	}
	sent := b.post(fmt.Sprintf(`{id: %q, action: "approve", for: "1h"}`, r1.ID))
	if !strings.Contains(sent, "wants a passkey") || state(r1.ID) != hoist.RequestPending {
		t.Fatalf("the console form without the passkey answer: %q, state %s", sent, state(r1.ID))
	}

	// A step-up for one decision does not approve another.
	r2 := ask("vera")
	b.run("reload", chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.CSS(row)))
	sent = b.postWithStepUp(fmt.Sprintf(`{id: %q, action: "approve", for: "1h"}`, r1.ID), fmt.Sprintf(`{id: %q, action: "approve", for: "1h"}`, r2.ID))
	if state(r1.ID) != hoist.RequestPending || state(r2.ID) != hoist.RequestPending || !strings.Contains(sent, "another decision") {
		t.Fatalf("a step-up for %s sent with %s: %q; states %s %s", r1.ID, r2.ID, sent, state(r1.ID), state(r2.ID))
	}
	// The window is bound too.
	b.run("reload", chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.CSS(row)))
	sent = b.postWithStepUp(fmt.Sprintf(`{id: %q, action: "approve", for: "1h"}`, r1.ID), fmt.Sprintf(`{id: %q, action: "approve", for: "8h"}`, r1.ID))
	if state(r1.ID) != hoist.RequestPending || !strings.Contains(sent, "another decision") {
		t.Fatalf("a step-up for 1h sent for 8h: %q; state %s", sent, state(r1.ID))
	}

	// With the security key: Approve Selected asks for it and approves.
	b.run("reload", chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.CSS(row)))
	msg := b.submit("approve with a passkey",
		chromedp.Click(chromedp.CSS(row+` input[type=checkbox]`)),
		chromedp.SetValue(chromedp.ID("#for"), "1h"),
		chromedp.Click(chromedp.ID("#approve")))
	if !strings.Contains(msg, "Approved for 1h") || state(r1.ID) != hoist.RequestApproved {
		t.Fatalf("approve with the security key: the page says %q, state %s", msg, state(r1.ID))
	}
	b.clean("approvals after the step-up")

	// The passkey is now pia's second sign-in factor: the password alone
	// no longer signs in, in the console or through the API.
	if _, _, _, err := svc.Login(ctx, "pia", pw, "127.0.0.1"); hoist.ErrorCode(err) != hoist.EUnauthorized || !strings.Contains(hoist.ErrorMessage(err), "second factor") {
		t.Fatalf("an API password login of an account with passkeys: %v, want refused", err)
	}
	b.run("sign out", chromedp.Click(chromedp.CSS("form.who button")), chromedp.WaitVisible(chromedp.ID("#user")))
	b.run("type the password", chromedp.SendKeys(chromedp.ID("#user"), "pia"), chromedp.SendKeys(chromedp.ID("#password"), pw),
		chromedp.Submit(chromedp.ID("#password")), chromedp.WaitVisible(chromedp.ID("#passkey-signin")))
	b.run("confirm with the passkey", chromedp.Click(chromedp.ID("#passkey-signin")), chromedp.WaitVisible(chromedp.ID("#pending-rows")))
	b.clean("approvals after the passkey sign-in")

	// With the laptop's passkey, on its own authenticator.
	b.unplug(key)
	b.authenticator() // a fresh authenticator knows neither passkey
	row2 := fmt.Sprintf(`#pending-rows tr[data-id=%q]`, r2.ID)
	b.run("reload", chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.CSS(row2)))
	msg = b.submit("approve with an unknown authenticator",
		chromedp.Click(chromedp.CSS(row2+` input[type=checkbox]`)),
		chromedp.Click(chromedp.ID("#once")))
	if !strings.Contains(msg, "Not approved") || state(r2.ID) != hoist.RequestPending {
		t.Fatalf("approve with an authenticator that has no passkey of pia's: %q, state %s", msg, state(r2.ID))
	}
	_ = b.takeErrors() // the browser logs the refused ceremony

	// Removal: the laptop's passkey goes from the list.
	b.run("open the account", chromedp.Navigate(base+"/account"), chromedp.WaitVisible(chromedp.ID("#passkeys")))
	msg = b.submit("remove the laptop's passkey", chromedp.Click(chromedp.CSS(`button[aria-label="Remove the passkey laptop"]`)))
	if !strings.Contains(msg, "Removed the passkey") {
		t.Fatalf("remove: the page says %q", msg)
	}
	if text := b.text("#passkeys"); strings.Contains(text, "laptop") || !strings.Contains(text, "security key") {
		t.Fatalf("the passkeys after the removal: %q", text)
	}
	b.clean("account after the removal")
	actions := countActions(m)
	if actions[hoist.AuditPasskeyAdded] != 2 || actions[hoist.AuditStepUp] < 1 || actions[hoist.AuditPasskeyRemoved] != 1 {
		t.Errorf("audit: %d added, %d step-ups, %d removed; want 2, ≥1, 1", actions[hoist.AuditPasskeyAdded], actions[hoist.AuditStepUp], actions[hoist.AuditPasskeyRemoved])
	}
}

// post sends the approvals form with the fields of the JavaScript object
// fields (and the page's form token) as the page would, and returns the
// text of the page it leads to.
func (b *browser) post(fields string) string {
	b.t.Helper()
	return b.eval(`(async () => {
		const f = new URLSearchParams(` + fields + `);
		f.set("csrf", document.querySelector("input[name=csrf]").value);
		const res = await fetch("/approvals/decide", {method: "POST", body: f});
		return await res.text();
	})()`)
}

// postWithStepUp runs the passkey ceremony for the decision askFor, then
// sends the decision sendFor with its answer.
func (b *browser) postWithStepUp(askFor, sendFor string) string {
	b.t.Helper()
	return b.eval(`(async () => {
		const csrf = document.querySelector("input[name=csrf]").value;
		const ask = new URLSearchParams(` + askFor + `); ask.set("csrf", csrf);
		const opts = await (await fetch("/approvals/stepup", {method: "POST", body: ask})).json();
		const cred = await navigator.credentials.get({publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(opts)});
		const send = new URLSearchParams(` + sendFor + `); send.set("csrf", csrf);
		send.set("assertion", JSON.stringify(cred.toJSON()));
		const res = await fetch("/approvals/decide", {method: "POST", body: send});
		return await res.text();
	})()`)
}

func (b *browser) eval(js string) string {
	b.t.Helper()
	c, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	out, err := chromedp.Run(c, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		b.fail("run a script", err)
	}
	return out
}

// eventually polls until the JavaScript condition cond is true on the
// page, across the page's own reloads (a check during one finds no page
// to run in, and is tried again).
func (b *browser) eventually(what, cond string) {
	b.t.Helper()
	testenv.WaitUntil(b.t, what, func() bool {
		c, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](cond))
		return err == nil && ok
	})
}
