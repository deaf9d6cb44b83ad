package console_test

import (
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
)

// agent enrols a machine reporting hostname, as enrolment would.
func (s *site) agent(hostname string) hoist.AgentRecord {
	s.t.Helper()
	a := hoist.AgentRecord{ID: hoist.NewID(hoist.AgentIDPrefix), Hostname: hostname, Version: hoist.Version, OS: "linux",
		EnrolledAt: s.clock.Now(), LastSeen: s.clock.Now()}
	if err := s.store.Update(ctx, func(tx hoist.Tx) error { return tx.InsertAgent(ctx, a) }); err != nil {
		s.t.Fatal(err)
	}
	return a
}

// flashAfter follows a form's redirect and returns the page it lands on.
func (v *visitor) flashAfter(res *http.Response) string {
	v.s.t.Helper()
	if res.StatusCode != http.StatusSeeOther {
		v.s.t.Fatalf("form answered %d, want a redirect", res.StatusCode)
	}
	_, body := v.get(res.Header.Get("Location"))
	return html.UnescapeString(body)
}

// TestApproverSeesAnImpostor: agent B claims agent A's hostname. The
// approver sees, on the queue and on the request's page, which agent asked
// and that another agent calls itself by the same name; the admin sees both
// agents flagged, B's earlier hostname, and pins the names on the agent
// page.
func TestApproverSeesAnImpostor(t *testing.T) {
	s := newSite(t)
	a, b := s.agent("web-1"), s.agent("build-3")
	// B's check-in as web-1, as the store keeps it (this site cannot sign
	// the bundle a real check-in answers with).
	b.NoteHostname("web-1", s.clock.Now())
	if err := s.store.Update(ctx, func(tx hoist.Tx) error { return tx.UpdateAgent(ctx, b) }); err != nil {
		t.Fatal(err)
	}
	r, _, err := s.svc.CreateRequest(ctx, control.RequestInput{User: "bob", Host: "web-1", Agent: b.ID, Reason: "disk", Duration: time.Hour})
	if err != nil {
		t.Fatal(err)
	}

	carol := s.visitor()
	carol.signIn("carol", "password-of-carol")
	_, queue := carol.get("/approvals")
	row := queue[strings.Index(queue, `data-id="`+r.ID+`"`):]
	row = row[:strings.Index(row, "</tr>")]
	for _, want := range []string{`href="/agents/` + b.ID + `"`, b.ID[:12], `class="badge warn name-warning"`, "another agent also calls itself web-1"} {
		if !strings.Contains(row, want) {
			t.Errorf("the pending row lacks %q:\n%s", want, row)
		}
	}
	_, page := carol.get("/requests/" + r.ID)
	if !strings.Contains(page, `id="name-warning"`) || !strings.Contains(page, a.ID) || !strings.Contains(page, b.ID) {
		t.Errorf("the request page does not warn, naming both agents:\n%s", page)
	}
	_, live := carol.get("/approvals/live")
	if !strings.Contains(live, "another agent also calls itself web-1") {
		t.Errorf("the live queue lacks the warning:\n%s", live)
	}

	admin := s.visitor()
	admin.signIn("admin", password)
	_, list := admin.get("/agents")
	if n := strings.Count(list, "another agent also calls itself web-1"); n != 2 {
		t.Errorf("agents page: %d warnings, want 2 (one per agent):\n%s", n, list)
	}
	_, detail := admin.get("/agents/" + b.ID)
	if !strings.Contains(detail, `id="name-warning"`) || !strings.Contains(detail, a.ID) || !strings.Contains(detail, "build-3") {
		t.Errorf("agent page lacks the warning, the other agent or the previous hostname:\n%s", detail)
	}

	csrf := admin.csrf()
	pin := func(v *visitor, id, name string) string {
		res, _ := v.post("/agents/"+id+"/name", url.Values{"csrf": {csrf}, "name": {name}, "action": {"pin"}})
		return v.flashAfter(res)
	}
	if got := pin(admin, a.ID, "web-1"); !strings.Contains(got, "Pinned: agent "+a.ID+" is named web-1") {
		t.Errorf("pin A: got\n%s", got)
	}
	if got := pin(admin, b.ID, "WEB-1"); !strings.Contains(got, "already has the name web-1 pinned") || !strings.Contains(got, a.ID) {
		t.Errorf("pin A's name on B: got\n%s", got)
	}
	if got := pin(admin, b.ID, "web 1"); !strings.Contains(got, "only letters, digits") {
		t.Errorf("pin a bad name: got\n%s", got)
	}
	carolCSRF := carol.csrf()
	res, _ := carol.post("/agents/"+b.ID+"/name", url.Values{"csrf": {carolCSRF}, "name": {"x-1"}, "action": {"pin"}})
	if got := carol.flashAfter(res); !strings.Contains(got, "may not manage agents") {
		t.Errorf("an approver pinned a name:\n%s", got)
	}
	if got := pin(admin, b.ID, "build-3"); !strings.Contains(got, `id="mismatch-warning"`) || !strings.Contains(got, "reports the hostname web-1, not its pinned name build-3") {
		t.Errorf("B pinned build-3: got\n%s", got)
	}
	res, _ = admin.post("/agents/"+b.ID+"/name", url.Values{"csrf": {csrf}, "action": {"unpin"}})
	if got := admin.flashAfter(res); !strings.Contains(got, "Unpinned") || strings.Contains(got, `id="unpin"`) {
		t.Errorf("unpin B: got\n%s", got)
	}
	if res, _ := admin.get("/agents/agt_aaaaaaaaaaaaaaaa"); res.StatusCode != http.StatusNotFound {
		t.Errorf("unknown agent page: %d, want 404", res.StatusCode)
	}
}
