package control_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

// TestAutomaticApprovalRules: a rule of the startup policy approves
// routine requests by itself — for its users, on its machines, up to its
// window, in its days and hours of its time zone, at most so many a day —
// as the actor rule:NAME, audited, with a session and its grant; what it
// does not cover waits for an approver. The clock is the test's.
func TestAutomaticApprovalRules(t *testing.T) {
	onBothStores(t, func(t *testing.T, f *ids) {
		rule := hoist.AutoRule{Name: "office-hours", Users: []string{"bob"}, UnixGroups: []string{"deploy"}, ComputerGroups: []string{"web"},
			MaxDuration: hoist.Duration(time.Hour), Days: []string{"mon", "tue", "wed", "thu", "fri"}, Hours: "08:00-18:00",
			TimeZone: "Europe/Paris", PerDay: 2}
		f.setStartup(t, func(s *hoist.JITStartup) { s.AutoApprove = []hoist.AutoRule{rule} })
		ask := func(user string, a hoist.AgentRecord, groups []string, d time.Duration) hoist.Request {
			t.Helper()
			r, created, err := f.svc.AgentRequestOf(ctx, a, user, groups, "routine", d)
			if err != nil || !created {
				t.Fatalf("request of %s: created %v, %v", user, created, err)
			}
			return r
		}
		approved := func(what string, r hoist.Request) {
			t.Helper()
			if r.State != hoist.RequestApproved || r.DecidedBy != "rule:office-hours" || r.SessionID == "" {
				t.Fatalf("%s: %s by %q (session %q), want approved by rule:office-hours", what, r.State, r.DecidedBy, r.SessionID)
			}
			if _, err := f.svc.Session(ctx, f.admin, r.SessionID); err != nil {
				t.Fatalf("%s: the session: %v", what, err)
			}
		}
		waits := func(what string, r hoist.Request) {
			t.Helper()
			if r.State != hoist.RequestPending || len(r.Approvals) != 0 {
				t.Fatalf("%s: %s with %d approvals, want pending for an approver", what, r.State, len(r.Approvals))
			}
			if _, err := f.svc.Deny(ctx, f.admin, []string{r.ID}, "next"); err != nil {
				t.Fatal(err)
			}
		}

		// Friday 27 November 2026, 10:00 in Paris (09:00 UTC).
		first := ask("bob", f.web, nil, time.Hour)
		approved("bob at 10:00 on a Friday", first)
		if first.GrantedDuration != time.Hour {
			t.Errorf("granted %s, want the hour asked", first.GrantedDuration)
		}
		approved("carol of the deploy group", ask("carol", f.web, []string{"users", "deploy"}, 30*time.Minute))
		waits("dave, neither named nor in its groups", ask("dave", f.web, []string{"users"}, 30*time.Minute))
		waits("bob on a machine outside its computer groups", ask("bob", f.db, nil, 30*time.Minute))
		waits("bob asking for more than its window", ask("bob", f.web, nil, 2*time.Hour))
		approved("bob's second of the day", ask("bob", f.web, nil, 30*time.Minute))
		waits("bob's third of the day", ask("bob", f.web, nil, 30*time.Minute))

		// The audit log has the rule as the actor, with the user told why.
		recs, err := f.audit(hoist.AuditRequestApproved)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 3 || recs[0].Actor != "rule:office-hours" || recs[0].Subject != first.ID || !strings.Contains(string(recs[0].Detail), "approved automatically by rule office-hours") {
			t.Fatalf("approvals audited: %+v", recs)
		}

		// 18:00 in Paris is outside its hours; Saturday too; Monday 08:00
		// is inside, and a new day's count.
		f.clock.Add(8 * time.Hour) // 17:00 UTC, 18:00 in Paris
		waits("carol at 18:00", ask("carol", f.web, []string{"deploy"}, 30*time.Minute))
		f.clock.Add(17 * time.Hour) // Saturday 11:00 in Paris
		waits("carol on a Saturday", ask("carol", f.web, []string{"deploy"}, 30*time.Minute))
		f.clock.Add(45 * time.Hour) // Monday 08:00 in Paris
		approved("bob on Monday at 08:00", ask("bob", f.web, nil, time.Hour))
	})
}

// TestAutomaticApprovalRuleIsOneOfTheApprovals: where the policy wants
// two approvers, a rule is one of them: a person still decides.
func TestAutomaticApprovalRuleIsOneOfTheApprovals(t *testing.T) {
	onBothStores(t, func(t *testing.T, f *ids) {
		f.setStartup(t, func(s *hoist.JITStartup) {
			s.ApprovalsRequired = 2
			s.AutoApprove = []hoist.AutoRule{{Name: "always", MaxDuration: hoist.Duration(4 * time.Hour)}}
		})
		r, _, err := f.svc.AgentRequestOf(ctx, f.web, "bob", nil, "routine", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if r.State != hoist.RequestPending || len(r.Approvals) != 1 || r.Approvals[0].By != "rule:always" {
			t.Fatalf("%s with approvals %+v, want pending with the rule's approval", r.State, r.Approvals)
		}
		carol := f.account(t, "carol", nil, nil)
		if res := approveFor(t, f.svc, carol, r.ID, time.Hour); !res.OK || res.Request.State != hoist.RequestApproved {
			t.Fatalf("carol's approval after the rule's: %+v", res)
		}
	})
}

// TestAutomaticApprovalRulesValidation: bad rules are refused with the
// rule and the field named.
func TestAutomaticApprovalRulesValidation(t *testing.T) {
	good := hoist.AutoRule{Name: "ok", MaxDuration: hoist.Duration(time.Hour)}
	for _, tc := range []struct {
		field string
		edit  func(r *hoist.AutoRule)
	}{
		{"startup.auto_approve[1].name", func(r *hoist.AutoRule) { r.Name = "" }},
		{"startup.auto_approve[1].name", func(r *hoist.AutoRule) { r.Name = "ok" }},
		{"startup.auto_approve[1].max_duration", func(r *hoist.AutoRule) { r.MaxDuration = 0 }},
		{"startup.auto_approve[1].max_duration", func(r *hoist.AutoRule) { r.MaxDuration = hoist.Duration(9 * time.Hour) }},
		{"startup.auto_approve[1].days", func(r *hoist.AutoRule) { r.Days = []string{"monday"} }},
		{"startup.auto_approve[1].hours", func(r *hoist.AutoRule) { r.Hours = "8-18" }},
		{"startup.auto_approve[1].hours", func(r *hoist.AutoRule) { r.Hours = "08:00-25:00" }},
		{"startup.auto_approve[1].time_zone", func(r *hoist.AutoRule) { r.TimeZone = "Mars/Olympus" }},
		{"startup.auto_approve[1].per_day", func(r *hoist.AutoRule) { r.PerDay = -1 }},
		{"startup.auto_approve[1].users", func(r *hoist.AutoRule) { r.Users = []string{"Robert'); DROP"} }},
	} {
		bad := good
		bad.Name = "second"
		tc.edit(&bad)
		p := hoist.SamplePolicies(time.Now())[0]
		p.Startup.AutoApprove = []hoist.AutoRule{good, bad}
		var he *hoist.Error
		if err := p.Validate(); !errors.As(err, &he) || he.Fields[tc.field] == "" {
			t.Errorf("%s: %v", tc.field, err)
		}
	}
}
