package e2e_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

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
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	got, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](fmt.Sprintf("(%s)(%q)", splitWords, sel)))
	if err != nil {
		b.fail("look for split words in "+sel, err)
	}
	return got
}

func (b *browser) is(what, cond string) bool {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
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
