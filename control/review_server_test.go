package control_test

import (
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/sqlite"
)

func reviewIDs(t *testing.T) *ids {
	t.Helper()
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return newIDs(t, store)
}

// TestReviewOfflineApprovalKeepsThePolicyRules: the JIT startup policy
// wants a passkey (and an admin) to approve; the online path refuses an
// approver without one, and the offline path must too: an offline
// response is an approval of the same machine's JIT mode.
func TestReviewOfflineApprovalKeepsThePolicyRules(t *testing.T) {
	f := reviewIDs(t)
	f.setStartup(t, func(s *hoist.JITStartup) { s.RequirePasskey = true; s.ApproverRole = "admin"; s.ApprovalsRequired = 2 })
	carol := f.account(t, "carol", nil, nil)
	r := f.file(t, "bob", time.Hour)
	if code, _ := approve(t, f.svc, carol, r.ID); code != hoist.EForbidden {
		t.Fatalf("online approval without a passkey: %q, want forbidden", code)
	}
	if _, _, err := f.svc.AgentOfflineKey(ctx, f.web); err != nil {
		t.Fatal(err)
	}
	ch := hoist.NewChallenge(f.web.ID, "bob", 8, 42)
	out, err := f.svc.ApproveOffline(ctx, carol, ch.String(), "", time.Hour)
	if hoist.ErrorCode(err) != hoist.EForbidden {
		t.Fatalf("offline approval by a plain approver, no passkey, one of two approvers, of a policy that wants a passkey and an admin: response %q, err %v; want forbidden", out.Response, err)
	}
}
