package console_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
)

// A request that needs two approvers: after carol's approval the console
// says "1 of 2 approvals" and who, on the list and on the request's page;
// an extension shows as one, with the session's current end.
func TestConsoleShowsApprovalsSoFarAndExtensions(t *testing.T) {
	s := newSite(t)
	r, _, err := s.svc.CreateRequest(ctx, control.RequestInput{User: "bob", Host: "ws-01", Reason: "x", Duration: time.Hour, ApprovalsRequired: 2})
	if err != nil {
		t.Fatal(err)
	}
	end := s.clock.Now().Add(20 * time.Minute)
	if _, _, err := s.svc.CreateRequest(ctx, control.RequestInput{User: "erin", Host: "ws-02", Reason: "more", Duration: time.Hour,
		Kind: hoist.RequestKindExtension, Extends: hoist.NewID(hoist.SessionIDPrefix), SessionEnd: end}); err != nil {
		t.Fatal(err)
	}
	v := s.visitor()
	v.signIn("carol", "password-of-carol")
	res, _ := v.post("/approvals/decide", url.Values{"csrf": {v.csrf()}, "id": {r.ID}, "action": {"approve"}, "for": {"requested"}})
	_, body := v.get(res.Header.Get("Location"))
	if !strings.Contains(body, "1 of 2 approvals so far") {
		t.Errorf("message after one approval of two:\n%s", body)
	}
	if !strings.Contains(body, "1 of 2 approvals (carol)") {
		t.Errorf("the pending list does not say 1 of 2 approvals (carol):\n%s", body)
	}
	if !strings.Contains(body, "extension</span> +1h") {
		t.Errorf("the extension is not shown as one:\n%s", body)
	}
	if got := s.request(r.ID); got.State != hoist.RequestPending {
		t.Errorf("after one approval of two: %s, want pending", got.State)
	}
	_, page := v.get("/requests/" + r.ID)
	if !strings.Contains(page, "1 of 2 approvals") || !strings.Contains(page, "carol (1h") {
		t.Errorf("the request page does not show the approvals so far:\n%s", page)
	}
}
