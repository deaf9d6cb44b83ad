package sink_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
)

const signingSecret = "8f742231b10e8888abcd99yyyzzz85a5"

// slackCall builds a callback the way Slack does: the block action as the
// form field payload, signed v0 with the signing secret at time at.
func slackCall(secret string, at time.Time, user, action, request string) control.SlackCall {
	payload, _ := json.Marshal(map[string]any{"type": "block_actions", "user": map[string]any{"id": user, "username": "someone"},
		"actions": []any{map[string]any{"action_id": action, "value": request, "type": "button"}}})
	body := "payload=" + url.QueryEscape(string(payload))
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":" + body))
	return control.SlackCall{Timestamp: ts, Signature: "v0=" + hex.EncodeToString(mac.Sum(nil)), Body: []byte(body)}
}

// TestSlackActions: buttons on Slack messages decide only when Slack
// signed the call, recently, and the Slack user maps to a Hoist account
// that may decide (roles, no self-approval); every refusal changes nothing
// and is audited.
func TestSlackActions(t *testing.T) {
	f := newFixture(t)
	hook := newCollector(t)
	for _, u := range []struct {
		name string
		role hoist.Role
	}{{"carol", hoist.RoleApprover}, {"bob", hoist.RoleApprover}, {"audrey", hoist.RoleAuditor}} {
		if _, err := f.svc.CreateAdmin(ctx, f.admin, control.AdminInput{Name: u.name, Role: u.role, Password: "password-of-" + u.name}); err != nil {
			t.Fatal(err)
		}
	}
	mustAdd(t, f, control.IntegrationInput{Name: "slack", Kind: hoist.SinkSlack, Config: hoist.SinkConfig{URL: hook.srv.URL + "/services/x", CA: hook.ca(),
		SigningSecret: signingSecret, SlackUsers: map[string]string{"UCAROL1": "carol", "UBOB1": "bob", "UAUDREY1": "audrey"}}})
	r, _, err := f.svc.CreateRequest(ctx, control.RequestInput{User: "bob", Host: "web-1", Reason: "fix it", Duration: 45 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Deliver(ctx); err != nil {
		t.Fatal(err)
	}
	msg := string(hook.all()[0].Body)
	for _, want := range []string{`"action_id":"hoist_approve"`, `"action_id":"hoist_once"`, `"action_id":"hoist_deny"`, `"value":"` + r.ID + `"`, "Approve for 45m"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("the Slack message has no %s: %s", want, msg)
		}
	}

	now := f.clock.Now()
	refusals := []struct {
		name     string
		call     control.SlackCall
		wantCode string // "" for a 200 that tells the user why not
	}{
		{"bad signature", slackCall("not-the-secret", now, "UCAROL1", control.SlackApprove, r.ID), hoist.EUnauthorized},
		{"old timestamp", slackCall(signingSecret, now.Add(-10*time.Minute), "UCAROL1", control.SlackApprove, r.ID), hoist.EUnauthorized},
		{"body changed after signing", func() control.SlackCall {
			c := slackCall(signingSecret, now, "UNOBODY", control.SlackApprove, r.ID)
			c.Body = []byte(strings.Replace(string(c.Body), "UNOBODY", "UCAROL1", 1))
			return c
		}(), hoist.EUnauthorized},
		{"unmapped user", slackCall(signingSecret, now, "UNOBODY", control.SlackApprove, r.ID), ""},
		{"own request", slackCall(signingSecret, now, "UBOB1", control.SlackApprove, r.ID), ""},
		{"auditor", slackCall(signingSecret, now, "UAUDREY1", control.SlackOnce, r.ID), ""},
	}
	audited := func() int {
		n := 0
		_ = f.store.View(ctx, func(tx hoist.Tx) error {
			return tx.Audit(ctx, hoist.AuditFilter{Action: "integration.slack_action"}, func(hoist.AuditRecord) error { n++; return nil })
		})
		return n
	}
	for i, tc := range refusals {
		t.Run(tc.name, func(t *testing.T) {
			text, err := f.svc.SlackAction(ctx, "slack", tc.call)
			if hoist.ErrorCode(err) != tc.wantCode && !(tc.wantCode == "" && err == nil) {
				t.Fatalf("got %q, %v; want code %q", text, err, tc.wantCode)
			}
			if tc.wantCode == "" && !strings.Contains(text, "nothing was decided") && !strings.HasPrefix(text, "Not decided") {
				t.Fatalf("told the Slack user %q, want why nothing was decided", text)
			}
			got, _ := f.svc.Request(ctx, f.admin, r.ID)
			if got.State != hoist.RequestPending {
				t.Fatalf("the request is %s after a refused action, want pending", got.State)
			}
			if n := audited(); n != i+1 {
				t.Fatalf("audited %d Slack actions, want %d", n, i+1)
			}
		})
	}
	text, err := f.svc.SlackAction(ctx, "slack", slackCall(signingSecret, now, "UCAROL1", control.SlackApprove, r.ID))
	if err != nil || text != "Approved as carol." {
		t.Fatalf("carol approving: %q, %v", text, err)
	}
	got, _ := f.svc.Request(ctx, f.admin, r.ID)
	if got.State != hoist.RequestApproved || got.DecidedBy != "carol" || got.GrantedDuration != 45*time.Minute {
		t.Fatalf("after carol's approval: %+v", got)
	}
}
