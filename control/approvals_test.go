package control_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
)

// setStartup edits the JIT startup policy's body with edit.
func (f *ids) setStartup(t *testing.T, edit func(*hoist.JITStartup)) {
	t.Helper()
	p, err := f.svc.Policy(ctx, f.admin, "JIT Mode (Startup and Approval)")
	if err != nil {
		t.Fatal(err)
	}
	body := *p.Startup
	edit(&body)
	p.Startup = &body
	if _, err := f.svc.UpdatePolicy(ctx, f.admin, p.ID, p); err != nil {
		t.Fatalf("update the startup policy: %v", err)
	}
}

// audit returns the audit records of action.
func (f *ids) audit(action string) (recs []hoist.AuditRecord, err error) {
	err = f.svc.Audit(ctx, f.admin, hoist.AuditFilter{Action: action, Limit: 10}, func(r hoist.AuditRecord) error {
		recs = append(recs, r)
		return nil
	})
	return recs, err
}

// file files user's request through the agent, as hoistd does.
func (f *ids) file(t *testing.T, user string, d time.Duration) hoist.Request {
	t.Helper()
	r, _, err := f.svc.AgentRequest(ctx, f.web, user, "driver update", d)
	if err != nil {
		t.Fatalf("request of %s: %v", user, err)
	}
	return r
}

func approveFor(t *testing.T, svc *control.Service, a control.Actor, id string, d time.Duration) control.Result {
	t.Helper()
	res, err := svc.Approve(ctx, a, []string{id}, d, "")
	if err != nil {
		t.Fatalf("approve %s as %s: %v", id, a.Name, err)
	}
	return res[0]
}

// A request nobody decides within the policy's pending_ttl expires: the
// sweep says so, the agent is told, and the audit log records it.
func TestRequestExpiresAfterPolicyPendingTTL(t *testing.T) {
	onBothStores(t, func(t *testing.T, f *ids) {
		f.setStartup(t, func(s *hoist.JITStartup) { s.PendingTTL = hoist.Duration(2 * time.Hour) })
		r := f.file(t, "bob", time.Hour)
		if want := f.clock.Now().Add(2 * time.Hour); !r.ExpiresAt.Equal(want) {
			t.Fatalf("expires at %v, want %v (the policy's pending_ttl, not the server's 24h)", r.ExpiresAt, want)
		}
		f.clock.Add(2*time.Hour - time.Second)
		if n, err := f.svc.Sweep(ctx); err != nil || n != 0 {
			t.Fatalf("sweep before the TTL: %d, %v; want nothing changed", n, err)
		}
		f.clock.Add(time.Second)
		if n, err := f.svc.Sweep(ctx); err != nil || n != 1 {
			t.Fatalf("sweep at the TTL: %d, %v; want the request expired", n, err)
		}
		got, err := f.svc.Request(ctx, f.admin, r.ID)
		if err != nil || got.State != hoist.RequestExpired {
			t.Fatalf("state %q, %v; want expired", got.State, err)
		}
		carol := f.account(t, "carol", nil, nil)
		if res := approveFor(t, f.svc, carol, r.ID, time.Hour); res.OK {
			t.Errorf("an expired request was approved")
		}
		recs, err := f.audit(hoist.AuditRequestExpired)
		if err != nil || len(recs) != 1 || recs[0].Subject != r.ID {
			t.Errorf("audit of the expiry: %v, %v", recs, err)
		}
	})
}

// Without a pending_ttl in the policy, the server's --pending-ttl holds.
func TestRequestPendingTTLDefaultsToServer(t *testing.T) {
	onBothStores(t, func(t *testing.T, f *ids) {
		r := f.file(t, "bob", time.Hour)
		if want := f.clock.Now().Add(hoist.DefaultPendingTTL); !r.ExpiresAt.Equal(want) {
			t.Errorf("expires at %v, want %v", r.ExpiresAt, want)
		}
	})
}

// Two approvals required: the requester cannot be one, nor can the same
// account approve twice; two distinct approvers approve it for the
// shorter of their windows; one denial denies.
func TestTwoOfManyApprovers(t *testing.T) {
	onBothStores(t, func(t *testing.T, f *ids) {
		f.setStartup(t, func(s *hoist.JITStartup) { s.ApprovalsRequired = 2 })
		carol := f.account(t, "carol", nil, nil)
		dave := f.account(t, "dave", nil, nil)
		bobAdm := f.account(t, "bob-adm", []string{"bob"}, nil)
		r := f.file(t, "bob", 4*time.Hour)

		if res := approveFor(t, f.svc, bobAdm, r.ID, time.Hour); res.OK || res.Code != hoist.EForbidden {
			t.Errorf("the requester's own account approved: %+v, want forbidden", res)
		}
		res := approveFor(t, f.svc, carol, r.ID, 3*time.Hour)
		if !res.OK || res.Request.State != hoist.RequestPending || res.Session != nil {
			t.Fatalf("first approval: %+v, want recorded, still pending, no session", res)
		}
		if got := res.Request.ApprovalsNeeded(); got != "1 of 2 approvals" {
			t.Errorf("after one: %q, want 1 of 2 approvals", got)
		}
		if res := approveFor(t, f.svc, carol, r.ID, 3*time.Hour); res.OK || res.Code != hoist.EConflict {
			t.Errorf("carol approved twice: %+v, want conflict", res)
		}
		carolAgain := f.login(t, "carol")
		if res := approveFor(t, f.svc, carolAgain, r.ID, time.Hour); res.OK {
			t.Errorf("carol's second login counted as another approver: %+v", res)
		}
		if ss, _ := f.svc.Sessions(ctx, f.admin, hoist.SessionFilter{State: hoist.SessionActive}); len(ss) != 0 {
			t.Fatalf("a session started after one approval of two: %v", ss)
		}
		f.clock.Add(time.Minute)
		res = approveFor(t, f.svc, dave, r.ID, 2*time.Hour)
		if !res.OK || res.Request.State != hoist.RequestApproved || res.Session == nil {
			t.Fatalf("second approval: %+v, want approved with a session", res)
		}
		if got := res.Session.NotAfter.Sub(res.Session.NotBefore); got != 2*time.Hour {
			t.Errorf("window %v, want 2h (the shorter of 3h and 2h)", got)
		}
		got, _ := f.svc.Request(ctx, f.admin, r.ID)
		if len(got.Approvals) != 2 || got.Approvals[0].By != "carol" || got.Approvals[1].By != "dave" || got.Approvals[0].Duration != 3*time.Hour {
			t.Errorf("approvals %+v, want carol 3h then dave 2h", got.Approvals)
		}
		if !strings.Contains(res.Session.ApprovedBy, "carol") || !strings.Contains(res.Session.ApprovedBy, "dave") {
			t.Errorf("session approved by %q, want both approvers", res.Session.ApprovedBy)
		}
		recs, _ := f.audit(control.AuditApprovalAdded)
		if len(recs) != 1 || recs[0].Actor != "carol" {
			t.Errorf("audit of the first approval: %+v", recs)
		}

		// One denial denies, even after an approval.
		r2 := f.file(t, "erin", time.Hour)
		if res := approveFor(t, f.svc, carol, r2.ID, time.Hour); !res.OK {
			t.Fatal(res.Error)
		}
		dres, err := f.svc.Deny(ctx, dave, []string{r2.ID}, "not today")
		if err != nil || !dres[0].OK || dres[0].Request.State != hoist.RequestDenied {
			t.Fatalf("deny after one approval: %+v, %v", dres, err)
		}
	})
}

// An approver gives only windows the policy allows: within its maximum
// (the policy's, not the server flag's) and from its list of durations;
// One Time is always allowed.
func TestApprovalWindowsOnlyFromPolicy(t *testing.T) {
	onBothStores(t, func(t *testing.T, f *ids) {
		f.setStartup(t, func(s *hoist.JITStartup) {
			s.MaxDuration = hoist.Duration(12 * time.Hour) // above the server's 8h default
			s.Durations = []hoist.Duration{hoist.Duration(time.Hour), hoist.Duration(10 * time.Hour)}
			s.DefaultDuration = hoist.Duration(time.Hour)
		})
		carol := f.account(t, "carol", nil, nil)
		r := f.file(t, "bob", 10*time.Hour)
		res := approveFor(t, f.svc, carol, r.ID, 2*time.Hour)
		if res.OK || res.Code != hoist.EInvalid || !strings.Contains(res.Error, "1h, 10h") {
			t.Errorf("2h (not in the list) approved: %+v", res)
		}
		if _, err := f.svc.Approve(ctx, carol, []string{r.ID}, 13*time.Hour, ""); hoist.ErrorCode(err) != hoist.EInvalid {
			t.Errorf("13h over the policy's 12h: %v, want invalid", err)
		} else {
			var he *hoist.Error
			if !errors.As(err, &he) || he.Fields["duration"] == "" {
				t.Errorf("13h refused without naming the field: %#v", err)
			}
		}
		res = approveFor(t, f.svc, carol, r.ID, 10*time.Hour)
		if !res.OK || res.Session.NotAfter.Sub(res.Session.NotBefore) != 10*time.Hour {
			t.Fatalf("10h (allowed by the policy, over the server's 8h): %+v", res)
		}
		r2 := f.file(t, "erin", time.Hour)
		if res := approveFor(t, f.svc, carol, r2.ID, 0); !res.OK || res.Session.NotAfter.Sub(res.Session.NotBefore) != hoist.DefaultOneTimeDuration {
			t.Errorf("One Time: %+v, want the 30m one-time window", res)
		}
	})
}

// Bad values in the startup policy are refused with the field named.
func TestStartupPolicyBadValues(t *testing.T) {
	cases := []struct {
		name  string
		edit  func(*hoist.JITStartup)
		field string
	}{
		{"negative approvals", func(s *hoist.JITStartup) { s.ApprovalsRequired = -1 }, "startup.approvals_required"},
		{"too many approvals", func(s *hoist.JITStartup) { s.ApprovalsRequired = hoist.MaxApprovalsRequired + 1 }, "startup.approvals_required"},
		{"negative pending ttl", func(s *hoist.JITStartup) { s.PendingTTL = hoist.Duration(-time.Hour) }, "startup.pending_ttl"},
		{"pending ttl over the maximum", func(s *hoist.JITStartup) { s.PendingTTL = hoist.Duration(hoist.MaxPendingTTL + time.Hour) }, "startup.pending_ttl"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var s hoist.JITStartup
			tc.edit(&s)
			p := hoist.Policy{Name: "x", Kind: hoist.KindJITStartup, Groups: []string{hoist.DefaultGroup}, Startup: &s}
			err := p.Validate()
			var he *hoist.Error
			if !errors.As(err, &he) || he.Fields[tc.field] == "" {
				t.Errorf("got %v, want the field %s named", err, tc.field)
			}
		})
	}
}

// session returns the session approving r for d starts.
func (f *ids) session(t *testing.T, user string, d time.Duration) hoist.Session {
	t.Helper()
	r := f.file(t, user, d)
	res := approveFor(t, f.svc, f.admin, r.ID, d)
	if !res.OK {
		t.Fatalf("approve: %s", res.Error)
	}
	return *res.Session
}

// An extension is a request of kind extension for the active session;
// approved, it moves the session's end and sends a new grant; the policy's
// longest window bounds the total; after the end it is refused.
func TestExtensionRequests(t *testing.T) {
	onBothStores(t, func(t *testing.T, f *ids) {
		f.setStartup(t, func(s *hoist.JITStartup) { s.MaxDuration = hoist.Duration(4 * time.Hour) })
		carol := f.account(t, "carol", nil, nil)
		sess := f.session(t, "bob", time.Hour)
		if _, _, err := f.svc.AgentExtend(ctx, f.web, "bob", sess.ID, "", 4*time.Hour); hoist.ErrorCode(err) != hoist.EInvalid || !strings.Contains(hoist.ErrorMessage(err), "3h more at most") {
			t.Errorf("an extension past the policy's 4h in total: %v", err)
		}
		if _, _, err := f.svc.AgentExtend(ctx, f.db, "bob", sess.ID, "", time.Hour); hoist.ErrorCode(err) != hoist.ENotFound {
			t.Errorf("an extension of bob's session from another agent: %v, want not found", err)
		}
		ext, created, err := f.svc.AgentExtend(ctx, f.web, "bob", sess.ID, "not done", 2*time.Hour)
		if err != nil || !created {
			t.Fatalf("extension: %v", err)
		}
		if ext.Kind != hoist.RequestKindExtension || ext.Extends != sess.ID || !ext.SessionEnd.Equal(sess.NotAfter) {
			t.Fatalf("extension request %+v", ext)
		}
		f.clock.Add(10 * time.Minute)
		res := approveFor(t, f.svc, carol, ext.ID, 0) // One Time: 30m more
		if !res.OK {
			t.Fatalf("approve the extension: %s", res.Error)
		}
		if want := sess.NotAfter.Add(hoist.DefaultOneTimeDuration); !res.Session.NotAfter.Equal(want) || res.Session.ID != sess.ID {
			t.Errorf("after the extension the session %s ends %v, want %s ending %v", res.Session.ID, res.Session.NotAfter, sess.ID, want)
		}
		active, _ := f.svc.Sessions(ctx, f.admin, hoist.SessionFilter{State: hoist.SessionActive})
		if len(active) != 1 {
			t.Errorf("%d active sessions after an extension, want the one", len(active))
		}
		if recs, _ := f.audit(control.AuditSessionExtended); len(recs) != 1 || recs[0].Subject != sess.ID || recs[0].Actor != "carol" {
			t.Errorf("audit of the extension: %+v", recs)
		}

		// Asked in time, approved too late: refused, the session stays ended.
		late, _, err := f.svc.AgentExtend(ctx, f.web, "bob", sess.ID, "", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Add(2 * time.Hour)
		if res := approveFor(t, f.svc, carol, late.ID, time.Hour); res.OK || res.Code != hoist.EConflict {
			t.Errorf("an extension approved after the end: %+v, want a conflict", res)
		}
		if _, err := f.svc.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.AgentExtend(ctx, f.web, "bob", sess.ID, "", time.Hour); hoist.ErrorCode(err) != hoist.EConflict {
			t.Errorf("an extension asked after the end: %v, want a conflict", err)
		}
		// The late extension does not stand in for bob's new request.
		again := f.file(t, "bob", time.Hour)
		if again.ID == late.ID || again.KindOrJIT() != hoist.RequestKindJIT {
			t.Errorf("a new request after the end returned %+v", again)
		}
		if old, _ := f.svc.Request(ctx, f.admin, late.ID); old.State != hoist.RequestCancelled {
			t.Errorf("the late extension is %s, want cancelled", old.State)
		}
	})
}

// approvals_required above the accounts that may approve is saved with a
// warning naming the field.
func TestTooFewApproversWarns(t *testing.T) {
	onBothStores(t, func(t *testing.T, f *ids) {
		f.account(t, "carol", nil, nil)
		f.setStartup(t, func(s *hoist.JITStartup) { s.ApprovalsRequired = 3 })
		p, err := f.svc.Policy(ctx, f.admin, "JIT Mode (Startup and Approval)")
		if err != nil {
			t.Fatal(err)
		}
		ws, err := f.svc.ApproverWarnings(ctx, p)
		if err != nil || len(ws) != 1 || ws[0].Field != "startup.approvals_required" || !strings.Contains(ws[0].Message, "only 2") {
			t.Fatalf("warnings with 2 possible approvers for 3: %+v, %v", ws, err)
		}
		f.account(t, "dave", nil, nil)
		if ws, _ := f.svc.ApproverWarnings(ctx, p); len(ws) != 0 {
			t.Errorf("warnings with 3 possible approvers for 3: %+v", ws)
		}
	})
}
