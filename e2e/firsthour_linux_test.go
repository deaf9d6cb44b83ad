package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
)

// splitWords is a script that returns the text of every cell matched by
// its argument in which a word or a number runs over two lines: two
// letters or digits side by side with the second on a lower line.
const splitWords = `(sel) => {
  const bad = [];
  document.querySelectorAll(sel).forEach(cell => {
    const walk = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    let prev = null, n;
    while ((n = walk.nextNode())) {
      for (let i = 0; i < n.data.length; i++) {
        const r = document.createRange(); r.setStart(n, i); r.setEnd(n, i + 1);
        const rects = r.getClientRects();
        if (!rects.length) continue;
        const ch = n.data[i], top = rects[0].top;
        if (prev && /[A-Za-z0-9]/.test(ch) && /[A-Za-z0-9]/.test(prev.ch) && top > prev.top + 2) {
          bad.push(cell.innerText);
          return;
        }
        prev = {ch, top};
      }
    }
  });
  return bad;
}`

// split returns the cells of sel whose words the page broke.
func (b *browser) split(sel string) []string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](fmt.Sprintf("(%s)(%q)", splitWords, sel)))
	if err != nil {
		b.fail("look for split words in "+sel, err)
	}
	return got
}

func (b *browser) is(what, cond string) bool {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, browserStep)
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[bool](cond))
	if err != nil {
		b.fail(what, err)
	}
	return got
}

func (b *browser) signInAs(base, user, password string) {
	b.t.Helper()
	b.run("sign in as "+user, chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.ID("#user")),
		chromedp.SendKeys(chromedp.ID("#user"), user),
		chromedp.SendKeys(chromedp.ID("#password"), password),
		chromedp.Submit(chromedp.ID("#password")),
		chromedp.WaitVisible(chromedp.ID("#pending-rows")))
}

// TestConsoleFirstHourInChromium: the console's rough edges a newcomer
// met, in a real Chromium on a laptop-narrow window — words and record
// numbers are never split across lines; Deny without a reason keeps the
// ticks; "0" as a policy's default window is an error beside the field;
// an approver sees a group's fields read-only.
func TestConsoleFirstHourInChromium(t *testing.T) {
	m := startServerAt(t, t.TempDir(), "127.0.0.1:0")
	svc := m.Service()
	base := m.URL()
	var ids []string
	for _, u := range []string{"trialuser", "bob", "administrator"} {
		r, _, err := svc.CreateRequest(ctx, control.RequestInput{User: u, Host: "workstation-accounting-07.corp.example.com",
			Reason: "install the printer driver for the third floor", Duration: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	if _, err := svc.CreateAdmin(ctx, adminActor, control.AdminInput{Name: "carol", Role: hoist.RoleApprover, Password: "password-of-carol"}); err != nil {
		t.Fatal(err)
	}

	b := startBrowser(t)
	b.run("a narrow window", chromedp.EmulateViewport(760, 900))
	b.signInAs(base, "admin", "correct horse battery staple")

	// Deny without a reason: nothing is denied, the ticks stay, the reason
	// field says what it lacks.
	tick := func(id string) chromedp.Action[chromedp.Void] {
		return chromedp.Click(chromedp.CSS(fmt.Sprintf(`#pending-rows tr[data-id=%q] input[type=checkbox]`, id)))
	}
	msg := b.submit("deny without a reason", tick(ids[0]), tick(ids[1]), chromedp.Click(chromedp.ID("#deny")))
	if !strings.Contains(msg, "give the user a reason") {
		t.Errorf("after Deny without a reason the page says %q", msg)
	}
	b.run("the reason's error", chromedp.WaitVisible(chromedp.ID("#deny-reason-err")))
	for i, id := range ids {
		ticked := b.is("the tick of "+id, fmt.Sprintf(`document.querySelector('#pending-rows tr[data-id=%q] input[type=checkbox]').checked`, id))
		if ticked != (i < 2) {
			t.Errorf("request %d ticked = %v after the refused Deny, want %v", i, ticked, i < 2)
		}
		if r, _ := svc.Request(ctx, adminActor, id); r.State != hoist.RequestPending {
			t.Errorf("a Deny without a reason decided %s: %s", id, r.State)
		}
	}
	b.clean("approvals after a Deny without a reason")
	// With the reason, the same ticks deny both.
	if msg := b.submit("deny with a reason", chromedp.SendKeys(chromedp.ID("#deny-reason"), "use the ticket queue"),
		chromedp.Click(chromedp.ID("#deny"))); !strings.Contains(msg, "Denied: trialuser on ") || !strings.Contains(msg, "bob on ") {
		t.Errorf("after Deny with a reason the page says %q", msg)
	}

	// Words stay whole: in the queue, the history and the audit log.
	b.run("the approvals", chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.ID("#history")))
	for _, sel := range []string{"#pending-rows td", "#history td"} {
		if bad := b.split(sel); len(bad) > 0 {
			t.Errorf("%s: words split across lines in %q", sel, bad)
		}
	}
	b.shot("approvals-narrow")
	b.run("the audit log", chromedp.Navigate(base+"/audit"), chromedp.WaitVisible(chromedp.ID("#audit")))
	if bad := b.split("#audit td:not(:last-child)"); len(bad) > 0 {
		t.Errorf("audit: words, actions or record numbers split across lines in %q", bad)
	}
	if b.is("the page's width", `document.documentElement.scrollWidth > window.innerWidth + 1`) {
		t.Errorf("the audit page is wider than the window")
	}
	b.clean("audit, narrow")

	// "0" as the default window is an error, not a silent "unset".
	startup, err := svc.Policy(ctx, adminActor, "JIT Mode (Startup and Approval)")
	if err != nil {
		t.Fatal(err)
	}
	b.run("0 as the default window", chromedp.Navigate(base+"/policies/"+startup.ID), chromedp.WaitVisible(chromedp.ID("#f-startup-default_duration")),
		chromedp.SetValue(chromedp.ID("#f-startup-default_duration"), "0"),
		chromedp.Submit(chromedp.ID("#f-startup-default_duration")),
		chromedp.WaitVisible(chromedp.ID("#f-startup-default_duration-err")))
	if msg := b.text("#f-startup-default_duration-err"); !strings.Contains(msg, "0 is no window: leave it empty for the default") {
		t.Errorf("the default window's error says %q", msg)
	}
	if after, _ := svc.Policy(ctx, adminActor, startup.ID); after.Version != startup.Version {
		t.Errorf("0 as the default window was saved: version %d → %d", startup.Version, after.Version)
	}
	b.clean("policy form with 0")

	// An approver reads a group's fields; none is editable.
	b.run("sign out", chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.CSS(".who button")),
		chromedp.Click(chromedp.CSS(".who button")), chromedp.WaitVisible(chromedp.ID("#user")))
	b.signInAs(base, "carol", "password-of-carol")
	group, _ := svc.Group(ctx, adminActor, hoist.DefaultGroup)
	b.run("the group as an approver", chromedp.Navigate(base+"/groups/"+group.ID), chromedp.WaitVisible(chromedp.ID("#read-only")))
	if n := b.text("#read-only"); !strings.Contains(n, "may read computer groups but not change them") {
		t.Errorf("the note says %q", n)
	}
	if !b.is("every field read-only", `[...document.querySelectorAll("main input:not([type=hidden]), main select, main textarea")].every(e => e.matches(":disabled"))`) {
		t.Error("an approver sees editable fields on the group page")
	}
	if b.is("a save button", `document.querySelector("#save-config") !== null`) {
		t.Error("an approver sees Save configuration")
	}
	b.clean("group page as an approver")
}

// TestConsoleFrictionInChromium: what a new administrator looked for and
// did not find, in a real Chromium — a window typed beside For's list, a
// reason on Revoke, a history that says what was asked and granted and
// how the session ended, the policy that admitted each request, defaults
// in empty configuration fields, Agent configuration in the navigation,
// two distinct "Who may approve" choices, times in the browser's zone,
// and tables sorted by a header.
func TestConsoleFrictionInChromium(t *testing.T) {
	m := startServerAt(t, t.TempDir(), "127.0.0.1:0")
	svc := m.Service()
	base := m.URL()
	const startupName = "JIT Mode (Startup and Approval)"
	for _, name := range []string{startupName, "JIT Mode", "JIT Mode (Child Processes)"} {
		if _, err := svc.SetPolicyActive(ctx, adminActor, name, true); err != nil {
			t.Fatal(err)
		}
	}
	r, _, err := svc.CreateRequest(ctx, control.RequestInput{User: "dana", Host: "ws-07", Reason: "update the firmware", Duration: 2 * time.Hour, Policy: startupName})
	if err != nil {
		t.Fatal(err)
	}

	b := startBrowser(t)
	b.signInAs(base, "admin", "correct horse battery staple")
	row := fmt.Sprintf(`#pending-rows tr[data-id=%q]`, r.ID)
	if got := b.text(row + " td.policy"); got != startupName {
		t.Errorf("the queue's Admitted by shows %q, want %q", got, startupName)
	}
	// A window typed beside the list wins over the list.
	if msg := b.submit("approve for 90m", chromedp.Click(chromedp.CSS(row+" input[type=checkbox]")),
		chromedp.SendKeys(chromedp.ID("#for-custom"), "90m"),
		chromedp.Click(chromedp.ID("#approve"))); !strings.Contains(msg, "Approved for 1h30m: dana on ws-07") {
		t.Errorf("after Approve with a typed window the page says %q", msg)
	}
	got, _ := svc.Request(ctx, adminActor, r.ID)
	if got.GrantedDuration != 90*time.Minute {
		t.Fatalf("granted %s, want 1h30m", got.GrantedDuration)
	}
	// Revoke with a reason.
	srow := fmt.Sprintf(`#session-rows tr[data-id=%q]`, got.SessionID)
	if msg := b.submit("revoke with a reason", chromedp.SendKeys(chromedp.CSS(srow+` input[name="reason"]`), "work is done"),
		chromedp.Click(chromedp.CSS(srow+" button"))); !strings.Contains(msg, "Revoked the session of: dana on ws-07") {
		t.Errorf("after Revoke the page says %q", msg)
	}
	sess, _ := svc.Session(ctx, adminActor, got.SessionID)
	if sess.EndReason != hoist.EndRevoked || len(sess.History) == 0 || !strings.Contains(sess.History[len(sess.History)-1].Reason, "work is done") {
		t.Errorf("the revoked session: %+v", sess)
	}
	// The history: asked, granted, how and when it ended.
	b.run("the history", chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.ID("#history")))
	hist := b.text("#history tbody tr")
	for _, want := range []string{"2h", "approved for 1h30m", "revoked by admin"} {
		if !strings.Contains(hist, want) {
			t.Errorf("the history row lacks %q:\n%s", want, hist)
		}
	}
	b.clean("approvals")

	// Times in the browser's zone, once chosen on the account page.
	b.run("a zone for the browser", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"})
		return err
	}))
	b.run("choose the browser's zone", chromedp.Navigate(base+"/account"), chromedp.WaitVisible(chromedp.ID("#timezone")),
		chromedp.SetValue(chromedp.ID("#timezone"), "local"),
		chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Evaluate[any](`document.getElementById("timezone").dispatchEvent(new Event("change"))`)(ctx, tg)
			return err
		}))
	b.waitFor("the preference saved", `document.getElementById("timezone-saved").textContent !== ""`)
	b.run("the history in Tokyo time", chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.ID("#history")))
	when := b.text("#history tbody tr td:last-child time")
	utc := got.UpdatedAt
	if got2, _ := svc.Request(ctx, adminActor, r.ID); !got2.UpdatedAt.IsZero() {
		utc = got2.UpdatedAt
	}
	tokyo := utc.In(time.FixedZone("JST", 9*3600)).Format("2006-01-02 15:04:05") + " Asia/Tokyo"
	if when != tokyo {
		t.Errorf("the history's time reads %q, want %q", when, tokyo)
	}
	b.clean("approvals in Tokyo time")

	// Tables sort by a header: the audit log by record number, both ways.
	b.run("the audit log", chromedp.Navigate(base+"/audit"), chromedp.WaitVisible(chromedp.CSS("#audit th button.sort")),
		chromedp.Click(chromedp.CSS("#audit thead th:first-child button")))
	first := func() string { return b.text("#audit tbody tr:first-child td.seq") }
	if got := first(); got != "1" {
		t.Errorf("sorted by # ascending, the first record is %s", got)
	}
	b.run("sort again", chromedp.Click(chromedp.CSS("#audit thead th:first-child button")))
	if got := first(); got == "1" {
		t.Errorf("sorted by # descending, the first record is still 1")
	}
	b.clean("audit sorted")

	// Agent configuration from the navigation; defaults in empty fields.
	b.run("Agent configuration", chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.CSS("header nav")),
		chromedp.Click(chromedp.CSS(`header nav a[href*="#config-h"]`)), chromedp.WaitVisible(chromedp.ID("#f-config-reminders")))
	if ph := b.attr("#f-config-reminders", "placeholder"); ph != "default: 15m, 5m, 1m" {
		t.Errorf("the empty Reminders field shows %q", ph)
	}
	if ph := b.attr("#f-config-checkin_interval", "placeholder"); ph != "default: 5m" {
		t.Errorf("the empty Check-in interval field shows %q", ph)
	}
	b.clean("agent configuration")

	// Who may approve: two choices that read differently.
	startup, _ := svc.Policy(ctx, adminActor, startupName)
	b.run("the startup policy", chromedp.Navigate(base+"/policies/"+startup.ID), chromedp.WaitVisible(chromedp.ID("#f-startup-approver_role")))
	if opts := b.text("#f-startup-approver_role"); !strings.Contains(opts, "Approvers and admins (default)") || !strings.Contains(opts, "Admins only: approvers may not") || strings.Contains(opts, "approver or admin") {
		t.Errorf("Who may approve offers %q", opts)
	}
	b.clean("startup policy")
}
