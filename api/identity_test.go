package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/hoist-jit/hoist/api"
)

// call sends body to path with token and returns the status and the answer.
func call(t *testing.T, srv *httptest.Server, token, method, path, body string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// Bad Unix names, unknown groups and a Unix name of another account are
// refused with 4xx naming the field, and change nothing.
func TestUserIdentitiesBadInput(t *testing.T) {
	srv, token, _, store := badInputServer(t)
	if code, data := call(t, srv, token, "POST", "/api/v1/users",
		`{"name":"rt1-adm","role":"approver","password":"long enough password","unix_names":["rt1"]}`); code != 201 {
		t.Fatalf("create rt1-adm: %d %s", code, data)
	}
	before := auditCount(t, store)
	cases := []struct {
		name, method, path, body string
		status                   int
		field                    string
	}{
		{"bad unix name", "PATCH", "/api/v1/users/admin", `{"unix_names":["Root Shell"]}`, 400, "unix_names"},
		{"unix name with a slash", "POST", "/api/v1/users", `{"name":"eve","role":"approver","password":"long enough password","unix_names":["../root"]}`, 400, "unix_names"},
		{"unknown group", "PATCH", "/api/v1/users/admin", `{"approver_groups":["nowhere"]}`, 400, "approver_groups"},
		{"unknown group on create", "POST", "/api/v1/users", `{"name":"eve","role":"approver","password":"long enough password","approver_groups":["nowhere"]}`, 400, "approver_groups"},
		{"unix names not a list", "PATCH", "/api/v1/users/admin", `{"unix_names":"rt1"}`, 400, ""},
		{"another account's unix name", "PATCH", "/api/v1/users/admin", `{"unix_names":["rt1"]}`, 409, "unix_names"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, data := call(t, srv, token, tc.method, tc.path, tc.body)
			var body api.ErrorBody
			if err := json.Unmarshal(data, &body); err != nil {
				t.Fatalf("answer is not a JSON error: %q", data)
			}
			if code != tc.status || body.Error.Message == "" {
				t.Fatalf("got %d %+v, want %d", code, body.Error, tc.status)
			}
			if tc.field != "" && body.Error.Fields[tc.field] == "" {
				t.Errorf("fields = %v, want %s named", body.Error.Fields, tc.field)
			}
		})
	}
	if after := auditCount(t, store); after != before {
		t.Fatalf("refused calls added %d audit records", after-before)
	}
}

// An account's lists are set, shown, and replaced through the API, and a
// request shows the account its user belongs to.
func TestUserIdentitiesRoundTrip(t *testing.T) {
	srv, token, _, _ := badInputServer(t) // alice has a pending request on ws-01
	if code, data := call(t, srv, token, "POST", "/api/v1/users",
		`{"name":"alice-adm","role":"approver","password":"long enough password","unix_names":["alice","alice2"],"approver_groups":["Linux Computers"]}`); code != 201 {
		t.Fatalf("create: %d %s", code, data)
	}
	users := func() map[string]api.UserView {
		code, data := call(t, srv, token, "GET", "/api/v1/users", "")
		var ans struct{ Users []api.UserView }
		if code != 200 || json.Unmarshal(data, &ans) != nil {
			t.Fatalf("list users: %d %s", code, data)
		}
		out := map[string]api.UserView{}
		for _, u := range ans.Users {
			out[u.Name] = u
		}
		return out
	}
	u := users()
	if got := u["alice-adm"]; !slices.Equal(got.UnixNames, []string{"alice", "alice2"}) || !slices.Equal(got.ApproverGroups, []string{"Linux Computers"}) {
		t.Errorf("alice-adm = %+v", got)
	}
	if got := u["admin"]; got.UnixNames == nil || got.ApproverGroups == nil {
		t.Errorf("admin's lists are null, want []: %+v", got)
	}
	code, data := call(t, srv, token, "GET", "/api/v1/requests?state=pending", "")
	if code != 200 || !strings.Contains(string(data), `"requester_account":"alice-adm"`) {
		t.Errorf("pending requests: %d %s, want requester_account alice-adm", code, data)
	}
	if code, data := call(t, srv, token, "PATCH", "/api/v1/users/alice-adm", `{"unix_names":[],"approver_groups":[]}`); code != 200 {
		t.Fatalf("clear: %d %s", code, data)
	}
	if got := users()["alice-adm"]; len(got.UnixNames) != 0 || len(got.ApproverGroups) != 0 {
		t.Errorf("after clearing: %+v", got)
	}
	code, data = call(t, srv, token, "GET", "/api/v1/requests?state=pending", "")
	if code != 200 || strings.Contains(string(data), "requester_account") {
		t.Errorf("pending requests after unmapping: %d %s, want no requester_account", code, data)
	}
}
