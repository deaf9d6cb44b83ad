package api_test

import (
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/api"
	"github.com/hoist-jit/hoist/wire"
)

// TestOpenAPILiveAgentNames: agent B claims agent A's hostname; the agents
// list and the approver's request list flag both and name B's id; names are
// pinned and unpinned through the API, and bad input is refused with the
// field named. Each answer is held to the document.
func TestOpenAPILiveAgentNames(t *testing.T) {
	doc := fetchOpenAPI(t)
	ls := newOATLSServer(t)
	call := func(name, method, path, target, as, body string, wantStatus int) []byte {
		t.Helper()
		return ls.call(t, doc, name, method, path, target, as, body, wantStatus)
	}
	secret := ls.enrollToken(t, 2)
	a := ls.enroll(t, "web-1", secret)
	b := ls.enroll(t, "build-3", secret)
	call("B claims web-1", "POST", "/agent/v1/checkin", "", "build-3", `{"hostname":"WEB-1","version":"1.0.0","os":"linux"}`, 200)
	for _, name := range oaJITPolicies {
		call("activate "+name, "POST", "/api/v1/policies/{key}/activate", "/api/v1/policies/"+url.PathEscape(name)+"/activate", "admin", "", 200)
	}
	call("B asks", "POST", "/agent/v1/requests", "", "build-3", `{"user":"bob","duration":"30m"}`, 200)

	var reqs struct{ Requests []api.RequestView }
	oaDecode(t, call("approver's list", "GET", "/api/v1/requests", "/api/v1/requests?state=pending", "carol", "", 200), &reqs)
	if len(reqs.Requests) != 1 {
		t.Fatalf("pending: got %d requests, want 1", len(reqs.Requests))
	}
	if r := reqs.Requests[0]; r.AgentID != b.AgentID || r.Host != "WEB-1" || !r.DuplicateHostname || !slices.Equal(r.DuplicateOf, []string{a.AgentID}) {
		t.Errorf("B's request: got agent %s host %q duplicate %v of %v, want %s on WEB-1 flagged as a duplicate of %s",
			r.AgentID, r.Host, r.DuplicateHostname, r.DuplicateOf, b.AgentID, a.AgentID)
	}
	var one api.RequestView
	oaDecode(t, call("approver's request", "GET", "/api/v1/requests/{id}", "/api/v1/requests/"+reqs.Requests[0].ID, "carol", "", 200), &one)
	if !one.DuplicateHostname || one.AgentID != b.AgentID {
		t.Errorf("GET the request: got agent %s duplicate %v, want %s flagged", one.AgentID, one.DuplicateHostname, b.AgentID)
	}

	var list struct{ Agents []wire.AgentView }
	oaDecode(t, call("agents", "GET", "/api/v1/agents", "", "carol", "", 200), &list)
	for _, v := range list.Agents {
		if !v.DuplicateHostname || len(v.DuplicateOf) != 1 {
			t.Errorf("agent %s (%s): got duplicate %v of %v, want flagged", v.ID, v.Hostname, v.DuplicateHostname, v.DuplicateOf)
		}
	}

	pinA := "/api/v1/agents/" + a.AgentID + "/name"
	pinB := "/api/v1/agents/" + b.AgentID + "/name"
	const path = "/api/v1/agents/{id}/name"
	for _, tc := range []struct {
		name, target, as, body string
		status                 int
		field                  string
	}{
		{"pin a bad name", pinA, "admin", `{"name":"web 1"}`, 400, "name"},
		{"pin an empty name", pinA, "admin", `{"name":""}`, 400, "name"},
		{"pin a long name", pinA, "admin", `{"name":"` + strings.Repeat("a", 254) + `"}`, 400, "name"},
		{"pin without a body", pinA, "admin", ``, 400, ""},
		{"pin unknown field", pinA, "admin", `{"name":"web-1","force":true}`, 400, ""},
		{"pin unknown agent", "/api/v1/agents/agt_aaaaaaaaaaaaaaaa/name", "admin", `{"name":"web-1"}`, 404, ""},
		{"pin not an agent id", "/api/v1/agents/nope/name", "admin", `{"name":"web-1"}`, 404, ""},
		{"pin as approver", pinA, "carol", `{"name":"web-1"}`, 403, ""},
		{"pin without token", pinA, "", `{"name":"web-1"}`, 401, ""},
	} {
		data := call(tc.name, "PUT", path, tc.target, tc.as, tc.body, tc.status)
		if tc.field != "" {
			var e api.ErrorBody
			oaDecode(t, data, &e)
			if e.Error.Fields[tc.field] == "" {
				t.Errorf("%s: got %s, want error.fields.%s", tc.name, data, tc.field)
			}
		}
	}

	var va, vb wire.AgentView
	oaDecode(t, call("pin A", "PUT", path, pinA, "admin", `{"name":"web-1"}`, 200), &va)
	if va.Name != "web-1" || va.PinnedName != "web-1" || va.PinnedBy != "admin" || va.HostnameMismatch {
		t.Errorf("pin A: got %+v, want pinned web-1 by admin, no mismatch", va)
	}
	data := call("pin A's name on B", "PUT", path, pinB, "admin", `{"name":"Web-1"}`, 409)
	if !strings.Contains(string(data), a.AgentID) {
		t.Errorf("pin A's name on B: got %s, want the conflict to name %s", data, a.AgentID)
	}
	oaDecode(t, call("pin B", "PUT", path, pinB, "admin", `{"name":"build-3"}`, 200), &vb)
	if vb.Name != "build-3" || vb.Hostname != "WEB-1" || !vb.HostnameMismatch {
		t.Errorf("pin B: got name %q hostname %q mismatch %v, want build-3 reporting WEB-1, flagged", vb.Name, vb.Hostname, vb.HostnameMismatch)
	}
	var unpinned wire.AgentView
	oaDecode(t, call("unpin B", "DELETE", path, pinB, "admin", "", 200), &unpinned)
	// Unpinned, B reports A's pinned web-1: it does not go by it.
	if unpinned.Name != "WEB-1 (unverified, "+unpinned.ID+")" || unpinned.NameTakenBy != a.AgentID || unpinned.PinnedName != "" || unpinned.HostnameMismatch {
		t.Errorf("unpin B: got %+v, want WEB-1 (unverified, %s), name taken by %s", unpinned, unpinned.ID, a.AgentID)
	}
	call("unpin B again", "DELETE", path, pinB, "admin", "", 200)
	call("unpin unknown agent", "DELETE", path, "/api/v1/agents/agt_aaaaaaaaaaaaaaaa/name", "admin", "", 404)
	call("unpin as approver", "DELETE", path, pinA, "carol", "", 403)

	var actions []string
	for _, id := range []string{a.AgentID, b.AgentID} {
		var recs struct{ Records []hoist.AuditRecord }
		oaDecode(t, call("audit of "+id, "GET", "/api/v1/audit", "/api/v1/audit?subject="+id, "admin", "", 200), &recs)
		for _, r := range recs.Records {
			if strings.HasPrefix(r.Action, "agent.name_") {
				actions = append(actions, r.Action)
			}
		}
	}
	if want := []string{"agent.name_pinned", "agent.name_pinned", "agent.name_unpinned"}; !slices.Equal(actions, want) {
		t.Errorf("audit: got %v, want %v", actions, want)
	}
}
