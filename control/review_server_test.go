package control_test

import (
	"fmt"

	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/testenv"
	"github.com/hoist-jit/hoist/wire"
	"github.com/pquerna/otp/totp"
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

// totpAccount is a service with a server key and carol, an approver with a
// confirmed authenticator app; it returns carol's secret.
func totpAccount(t *testing.T) (*control.Service, *testenv.Clock, string) {
	t.Helper()
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clk := testenv.NewClock(time.Date(2026, 11, 27, 9, 0, 0, 0, time.UTC))
	svc, err := control.New(control.Config{Store: store, Settings: hoist.DefaultApprovalSettings(), Clock: clk.Now, SecretKey: make([]byte, 32)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Bootstrap(ctx, idsPassword); err != nil {
		t.Fatal(err)
	}
	admin := control.Actor{Name: "admin", Role: hoist.RoleAdmin}
	if _, err := svc.CreateAdmin(ctx, admin, control.AdminInput{Name: "carol", Role: hoist.RoleApprover, Password: idsPassword}); err != nil {
		t.Fatal(err)
	}
	token, _, _, err := svc.Login(ctx, "carol", idsPassword, "127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	carol, err := svc.Authenticate(ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	setup, err := svc.BeginTOTP(ctx, carol)
	if err != nil {
		t.Fatal(err)
	}
	code, _ := totp.GenerateCode(setup.Secret, clk.Now())
	if err := svc.ConfirmTOTP(ctx, carol, code); err != nil {
		t.Fatal(err)
	}
	return svc, clk, setup.Secret
}

// TestReviewTOTPGuessesCountAgainstTheAccount: whoever has carol's
// password guesses her authenticator code from many addresses (an IPv6
// /48 holds 65536 /64 sources, 5 free tries each). Each wrong code must
// count as a failed sign-in of the account, so that the account rule
// slows the guesser down as it does for passwords.
func TestReviewTOTPGuessesCountAgainstTheAccount(t *testing.T) {
	was := hoist.AccountLoginRule
	hoist.AccountLoginRule = hoist.LoginRule{Free: 3, Max: time.Minute, Forget: 24 * time.Hour}
	t.Cleanup(func() { hoist.AccountLoginRule = was })
	svc, clk, secret := totpAccount(t)
	clk.Add(time.Minute)
	right, _ := totp.GenerateCode(secret, clk.Now())
	wrong := "000000"
	if wrong == right {
		wrong = "111111"
	}
	for i := range 6 {
		from := fmt.Sprintf("2001:db8:0:%x::1", i+1)
		r, err := svc.LoginConsoleWithDevice(ctx, "carol", idsPassword, from, "", 30*time.Minute)
		if hoist.ErrorCode(err) == hoist.ERateLimited {
			return // the account rule holds: fixed
		}
		if err != nil || r.SecondFactor == "" {
			t.Fatalf("password step %d: %+v, %v", i, r, err)
		}
		if _, err := svc.FinishTOTPSignIn(ctx, r.SecondFactor, wrong, from, 30*time.Minute); hoist.ErrorCode(err) != hoist.EUnauthorized {
			t.Fatalf("wrong code %d: %v", i, err)
		}
	}
	t.Fatal("6 wrong authenticator codes from 6 sources (account rule: 3 free) and the next try is still let through: TOTP failures are not counted against the account")
}

// TestReviewTOTPSignInsDoNotLockTheUserOut: carol signs in with her
// password and the right code, every 5 minutes from her desk. Each
// success must clear the failure counted before the password check, as a
// password-only sign-in does; it does not, so from the 6th on the waits
// double until one is longer than 5 minutes (ERateLimited).
func TestReviewTOTPSignInsDoNotLockTheUserOut(t *testing.T) {
	svc, clk, secret := totpAccount(t)
	for i := range 16 {
		clk.Add(5 * time.Minute) // a sign-in every 5 minutes, for 80 minutes
		r, err := svc.LoginConsoleWithDevice(ctx, "carol", idsPassword, "192.0.2.7", "", 30*time.Minute)
		if err != nil || r.SecondFactor == "" {
			t.Fatalf("carol's sign-in %d with the right password: %v (a successful second-factor sign-in is counted as a failure)", i+1, err)
		}
		code, _ := totp.GenerateCode(secret, clk.Now())
		if _, err := svc.FinishTOTPSignIn(ctx, r.SecondFactor, code, "192.0.2.7", 30*time.Minute); err != nil {
			t.Fatalf("right code %d: %v", i+1, err)
		}
	}
}

// TestReviewRecordingsPerAgentAreBounded: root on one enrolled machine
// (its agent's key) uploads recordings without end: each is capped at
// 256 MiB, but nothing bounds how many one agent keeps (a run_ id needs no
// server record), so one machine fills the server's disk. 300 recordings
// of 32 KiB stand in for 300 of 256 MiB.
func TestReviewRecordingsPerAgentAreBounded(t *testing.T) {
	f := newFixture(t)
	ag := hoist.AgentRecord{ID: hoist.NewID(hoist.AgentIDPrefix), Hostname: "ws-66"}
	if err := f.store.Update(ctx, func(tx hoist.Tx) error { return tx.InsertAgent(ctx, ag) }); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, hoist.MaxRecordingChunk)
	for i := range 300 {
		c := wire.RecordingChunk{Session: fmt.Sprintf("run_%d", i%3), User: "mallory", Started: f.clock.Now(), Ended: f.clock.Now(), Data: data, Final: true}
		if _, err := f.svc.AgentRecording(ctx, ag, hoist.NewID(hoist.RecordingIDPrefix), c); err != nil {
			return // refused at some bound: fixed
		}
	}
	t.Fatal("one agent stored 300 recordings under 3 run ids, with no bound on their number or total size")
}

// TestReviewSessionPageReadsOnlyItsAgentsReports: root on db-01 (its
// agent's key) sends a change report and an exec-record summary under the
// id of a session on web-01. The session page of web-01's session must
// not show them: its commands are filed only from web-01, and so must its
// changes and its summary be.
func TestReviewSessionPageReadsOnlyItsAgentsReports(t *testing.T) {
	f := reviewIDs(t)
	carol := f.account(t, "carol", nil, nil)
	r := f.file(t, "bob", time.Hour)
	res, err := f.svc.Approve(ctx, carol, []string{r.ID}, time.Hour, "")
	if err != nil || !res[0].OK || res[0].Session == nil {
		t.Fatalf("approve: %+v, %v", res, err)
	}
	sid := res[0].Session.ID
	forged := []wire.AgentAuditEvent{
		{ID: "evt_forged_1", Time: f.clock.Now(), Action: "session.changes", Actor: "bob", Subject: sid,
			Detail: map[string]any{"changes": []any{map[string]any{"kind": "user", "name": "innocent", "change": "added"}}}},
		{ID: "evt_forged_2", Time: f.clock.Now(), Action: "session.commands", Actor: "bob", Subject: sid,
			Detail: map[string]any{"commands": []any{}, "final": true, "summary": "nothing ran", "source": "bpf", "lost_by_source": 0}},
	}
	if _, err := f.svc.AgentAudit(ctx, f.db, forged); err != nil {
		t.Fatal(err)
	}
	v, err := f.svc.SessionView(ctx, f.admin, sid)
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Changes) != 0 || v.CommandsFinal || v.CommandsSummary != "" {
		t.Fatalf("web-01's session page shows db-01's reports: changes %+v, final %v, summary %q", v.Changes, v.CommandsFinal, v.CommandsSummary)
	}
}
