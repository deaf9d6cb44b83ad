package cli_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist/wire"
)

// hoist admin users: an account made with its Unix names and approver
// groups lists them, a request of one of those names shows the account,
// the lists change and clear, and bad input fails with a clear message.
func TestAdminUsersIdentities(t *testing.T) {
	m := startServer(t)
	admin := loggedInAdmin(t, m)
	admin.ok("", "admin", "groups", "create", "web")
	out := admin.ok("long enough password\n", "admin", "users", "create", "rt1-adm", "--role", "approver", "--password-stdin",
		"--unix-names", "rt1,rt1-build", "--approver-groups", "web")
	if !strings.Contains(out, "rt1-adm") || !strings.Contains(out, "rt1,rt1-build") {
		t.Errorf("create said %q", out)
	}
	ls := func() map[string]wire.UserView {
		t.Helper()
		var us []wire.UserView
		if err := json.Unmarshal([]byte(admin.ok("", "admin", "users", "ls", "--json")), &us); err != nil {
			t.Fatal(err)
		}
		out := map[string]wire.UserView{}
		for _, u := range us {
			out[u.Name] = u
		}
		return out
	}
	got := ls()["rt1-adm"]
	if !slices.Equal(got.UnixNames, []string{"rt1", "rt1-build"}) || !slices.Equal(got.ApproverGroups, []string{"web"}) {
		t.Errorf("users ls --json: rt1-adm = %+v", got)
	}
	if table := admin.ok("", "admin", "users", "ls"); !strings.Contains(table, "APPROVES FOR") || !strings.Contains(table, "all groups") {
		t.Errorf("users ls table:\n%s", table)
	}

	ask(t, m, "rt1", "web-01", "logs", time.Hour)
	var pending []map[string]any
	if err := json.Unmarshal([]byte(admin.ok("", "admin", "approvals", "--json")), &pending); err != nil || len(pending) != 1 {
		t.Fatalf("approvals --json: %v %v", pending, err)
	}
	if pending[0]["requester_account"] != "rt1-adm" {
		t.Errorf("approvals --json: requester_account = %v, want rt1-adm", pending[0]["requester_account"])
	}

	admin.ok("", "admin", "users", "set", "rt1-adm", "--unix-names", "", "--approver-groups", "")
	if got := ls()["rt1-adm"]; len(got.UnixNames) != 0 || len(got.ApproverGroups) != 0 || got.Role != "approver" {
		t.Errorf("after clearing: %+v", got)
	}
	admin.ok("", "admin", "users", "set-role", "rt1-adm", "auditor")
	admin.ok("", "admin", "users", "disable", "rt1-adm")
	if got := ls()["rt1-adm"]; got.Role != "auditor" || !got.Disabled {
		t.Errorf("after set-role and disable: %+v", got)
	}

	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown group", []string{"admin", "users", "set", "rt1-adm", "--approver-groups", "nowhere"}, "nowhere"},
		{"bad unix name", []string{"admin", "users", "set", "rt1-adm", "--unix-names", "Root"}, "unix_names"},
		{"nothing to change", []string{"admin", "users", "set", "rt1-adm"}, "nothing to change"},
		{"no password", []string{"admin", "users", "create", "eve"}, "--password-stdin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := admin.run("", tc.args...)
			if r.code == 0 || !strings.Contains(r.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want failure mentioning %q", r.code, r.stderr, tc.want)
			}
		})
	}
	admin.ok("", "admin", "users", "delete", "rt1-adm")
	if _, ok := ls()["rt1-adm"]; ok {
		t.Error("rt1-adm still listed after delete")
	}
}
