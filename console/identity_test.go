package console_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/hoist-jit/hoist"
)

// The users page shows and edits an account's Unix names and approver
// groups; the approvals page shows a requester's account, and an approver
// scoped to a group sees no request from outside it.
func TestUsersPageIdentities(t *testing.T) {
	s := newSite(t)
	if _, err := s.svc.CreateGroup(ctx, s.admin, hoist.ComputerGroup{Name: "web"}); err != nil {
		t.Fatal(err)
	}
	v := s.visitor()
	v.signIn("admin", password)
	csrf := v.csrf()
	res, body := v.post("/users/new", url.Values{"csrf": {csrf}, "name": {"rt1-adm"}, "role": {"approver"},
		"password": {"a long enough password"}, "password2": {"a long enough password"}, "unix_names": {"rt1"}, "approver_groups": {"web"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("create: %d\n%s", res.StatusCode, body)
	}
	account := func() hoist.Admin {
		t.Helper()
		as, err := s.svc.Admins(ctx, s.admin)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range as {
			if a.Name == "rt1-adm" {
				return a
			}
		}
		t.Fatal("rt1-adm was not created")
		return hoist.Admin{}
	}
	if a := account(); !slices.Equal(a.UnixNames, []string{"rt1"}) || !slices.Equal(a.ApproverGroups, []string{"web"}) {
		t.Fatalf("rt1-adm after create: %+v", a)
	}
	_, page := v.get("/users")
	if !strings.Contains(page, `name="unix_names" value="rt1"`) || !strings.Contains(page, `name="approver_groups" value="web"`) {
		t.Errorf("the users page does not show rt1-adm's lists:\n%s", page)
	}

	v.post("/users/rt1-adm", url.Values{"csrf": {csrf}, "change": {"unix_names"}, "unix_names": {"rt1, rt1-build"}})
	if a := account(); !slices.Equal(a.UnixNames, []string{"rt1", "rt1-build"}) {
		t.Errorf("unix names after the form: %v", a.UnixNames)
	}
	res, _ = v.post("/users/rt1-adm", url.Values{"csrf": {csrf}, "change": {"approver_groups"}, "approver_groups": {"nowhere"}})
	if _, body := v.get(res.Header.Get("Location")); !strings.Contains(body, "nowhere") {
		t.Errorf("an unknown group is not explained:\n%s", body)
	}
	if a := account(); !slices.Equal(a.ApproverGroups, []string{"web"}) {
		t.Errorf("a refused change changed the groups: %v", a.ApproverGroups)
	}

	r := s.pending("rt1")
	if _, body := v.get("/approvals"); !strings.Contains(body, "(rt1-adm)") {
		t.Errorf("the approvals page does not show rt1's account:\n%s", body)
	}
	if _, body := v.get("/requests/" + r.ID); !strings.Contains(body, "rt1-adm") {
		t.Errorf("the request page does not show rt1's account:\n%s", body)
	}
	// rt1-adm approves for web only; the request came from no agent, so
	// from no group: it is not shown.
	scoped := s.visitor()
	scoped.signIn("rt1-adm", "a long enough password")
	if _, body := scoped.get("/approvals"); strings.Contains(body, r.ID) {
		t.Errorf("a request from outside web is shown to an approver scoped to web:\n%s", body)
	}
	v.post("/users/rt1-adm", url.Values{"csrf": {csrf}, "change": {"approver_groups"}, "approver_groups": {""}})
	if _, body := scoped.get("/approvals"); !strings.Contains(body, r.ID) {
		t.Errorf("once unscoped, rt1-adm does not see the request:\n%s", body)
	}
}
