package e2e_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/link"
	"github.com/hoist-jit/hoist/wire"
)

// TestImpostorInChromium: a second machine enrols with the first one's
// hostname and asks for JIT mode. In a real Chromium, the approver's queue
// shows the asking agent's id and the warning badge before anything is
// approved; the admin pins the name on the agent page, and the page then
// flags what the agent reports. No page reports a browser console error.
func TestImpostorInChromium(t *testing.T) {
	m := startServerAt(t, t.TempDir(), "127.0.0.1:0")
	svc := m.Service()
	for _, name := range []string{"JIT Mode (Startup and Approval)", "JIT Mode", "JIT Mode (Child Processes)"} {
		if _, err := svc.SetPolicyActive(ctx, adminActor, name, true); err != nil {
			t.Fatal(err)
		}
	}
	tok := token(t, m, 2)
	facts := wire.AgentFacts{Hostname: "web-1", Version: hoist.Version, OS: "linux", Kernel: "6.1"}
	real, err := link.Enroll(ctx, "", tok, t.TempDir(), facts)
	if err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	fake, err := link.Enroll(ctx, "", tok, state, facts)
	if err != nil {
		t.Fatal(err)
	}
	impostor, err := link.Load(state)
	if err != nil {
		t.Fatal(err)
	}
	ans, err := impostor.Request(ctx, "bob", "disk full", time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	b := startBrowser(t)
	base := m.URL()
	b.run("sign in", chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.ID("#user")),
		chromedp.SendKeys(chromedp.ID("#user"), "admin"),
		chromedp.SendKeys(chromedp.ID("#password"), "correct horse battery staple"),
		chromedp.Submit(chromedp.ID("#password")),
		chromedp.WaitVisible(chromedp.ID("#pending-rows")))
	row := `#pending-rows tr[data-id="` + ans.Request.ID + `"]`
	b.run("the warning", chromedp.WaitVisible(chromedp.CSS(row+" .name-warning")))
	if got := b.text(row + " .name-warning"); got != "another agent also calls itself web-1" {
		t.Errorf("the badge says %q", got)
	}
	if got := b.attr(row+" a.agent-id", "title"); got != "Agent "+fake.AgentID {
		t.Errorf("the agent beside the host: got title %q, want Agent %s", got, fake.AgentID)
	}
	b.clean("approvals with an impostor")
	b.shot("approvals-impostor")

	b.run("open the request", chromedp.Navigate(base+"/requests/"+ans.Request.ID), chromedp.WaitVisible(chromedp.ID("name-warning")))
	if got := b.text("#name-warning"); !strings.Contains(got, real.AgentID) || !strings.Contains(got, fake.AgentID) {
		t.Errorf("the request page warns: %q; want both agents named", got)
	}
	b.clean("request of an impostor")

	b.run("open the impostor's agent page", chromedp.Navigate(base+"/agents/"+fake.AgentID), chromedp.WaitVisible(chromedp.ID("pin-name")))
	msg := b.submit("pin its name",
		chromedp.Clear(chromedp.ID("pin-name")),
		chromedp.SendKeys(chromedp.ID("pin-name"), "build-3"),
		chromedp.Click(chromedp.ID("pin")))
	if !strings.Contains(msg, "is named build-3") {
		t.Errorf("after the pin the page says %q", msg)
	}
	b.run("the mismatch", chromedp.WaitVisible(chromedp.ID("mismatch-warning")))
	if got := b.text("#mismatch-warning"); !strings.Contains(got, "reports the hostname web-1, not its pinned name build-3") {
		t.Errorf("the mismatch warning says %q", got)
	}
	b.clean("agent page")
	b.shot("agent-pinned")

	// From now on the impostor's requests carry the pinned name.
	if _, err := impostor.Cancel(ctx, "bob"); err != nil {
		t.Fatal(err)
	}
	if ans, err = impostor.Request(ctx, "bob", "again", time.Hour); err != nil || ans.Request.Host != "build-3" {
		t.Fatalf("the impostor's request after the pin: host %q, %v; want build-3", ans.Request.Host, err)
	}
}
