package e2e_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
)

// TestSelfApprovalByMappedIdentityInChromium is the review's attack on a
// real machine: the approver account ops-adm belongs to the person who is
// the machine user. An admin lists that Unix user on ops-adm in the
// console's users page; the request the user makes with hoist shows
// ops-adm beside it, and ops-adm's Approve Selected is refused while the
// user stays without root. Scoped to another group, ops-adm no longer sees
// the request at all.
func TestSelfApprovalByMappedIdentityInChromium(t *testing.T) {
	f := newFleet(t)
	svc := f.srv.Service()
	base := f.srv.URL()
	const opsPassword = "ops password, long enough"
	ops, err := svc.CreateAdmin(ctx, adminActor, control.AdminInput{Name: "ops-adm", Role: hoist.RoleApprover, Password: opsPassword})
	if err != nil {
		t.Fatal(err)
	}

	admin := startBrowser(t)
	signIn := func(b *browser, user, pw string) {
		b.run("sign in as "+user, chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.ID("#user")),
			chromedp.SendKeys(chromedp.ID("#user"), user),
			chromedp.SendKeys(chromedp.ID("#password"), pw),
			chromedp.Submit(chromedp.ID("#password")),
			chromedp.WaitVisible(chromedp.ID("#pending-rows")))
	}
	signIn(admin, "admin", "correct horse battery staple")
	admin.run("open users", chromedp.Navigate(base+"/users"), chromedp.WaitVisible(chromedp.ID("#unix-"+ops.ID)))
	admin.clean("users")
	msg := admin.submit("set ops-adm's unix names",
		chromedp.SendKeys(chromedp.ID("#unix-"+ops.ID), f.user.Name),
		chromedp.Click(chromedp.CSS(`button[aria-label="Set the Unix names of ops-adm"]`)))
	if !strings.Contains(msg, "Set the Unix names of ops-adm") {
		t.Errorf("after setting the Unix names the page says %q", msg)
	}
	if v := admin.attr("#unix-"+ops.ID, "value"); v != f.user.Name {
		t.Errorf("the users page shows ops-adm's Unix names as %q, want %q", v, f.user.Name)
	}
	admin.clean("users after the change")

	id := f.request("--for 1h --reason 'deploy'")
	row := fmt.Sprintf(`#pending-rows tr[data-id=%q]`, id)
	admin.run("see the request", chromedp.Navigate(base+"/approvals"), chromedp.WaitVisible(chromedp.CSS(row)))
	if text := admin.text(row); !strings.Contains(text, "(ops-adm)") {
		t.Errorf("the pending row reads %q, want the account ops-adm beside the user", text)
	}

	approver := startBrowser(t)
	signIn(approver, "ops-adm", opsPassword)
	approver.run("see the request", chromedp.WaitVisible(chromedp.CSS(row)))
	msg = approver.submit("approve one's own request",
		chromedp.Click(chromedp.CSS(row+` input[type=checkbox]`)),
		chromedp.SetValue(chromedp.ID("#for"), "1h"),
		chromedp.Click(chromedp.ID("#approve")))
	if !strings.Contains(msg, "one of the account's identities") {
		t.Errorf("ops-adm approving its own user's request: the page says %q", msg)
	}
	approver.clean("approvals after the refusal")
	if r, err := svc.Request(ctx, adminActor, id); err != nil || r.State != hoist.RequestPending {
		t.Fatalf("after ops-adm's approval: %s %v, want still pending", r.State, err)
	}
	if code, out, _ := f.sh("hoist run -- id -u"); code == 0 || strings.TrimSpace(out) == "0" {
		t.Fatalf("the user became root after its own account's approval: exit %d %q", code, out)
	}

	// Scoped to a group this machine is not in, ops-adm sees nothing of it.
	if _, err := svc.CreateGroup(ctx, adminActor, hoist.ComputerGroup{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	web := []string{"web"}
	if _, err := svc.UpdateAdmin(ctx, adminActor, control.AdminInput{Name: "ops-adm", ApproverGroups: &web}); err != nil {
		t.Fatal(err)
	}
	approver.waitFor("the request gone from ops-adm's queue", fmt.Sprintf(`document.querySelector(%q) === null`, row))
	as, _ := svc.Admins(ctx, adminActor)
	if i := slices.IndexFunc(as, func(a hoist.Admin) bool { return a.Name == "ops-adm" }); i < 0 || !slices.Equal(as[i].UnixNames, []string{f.user.Name}) {
		t.Errorf("ops-adm's stored Unix names: %+v", as)
	}
}
