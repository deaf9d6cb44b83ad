package control_test

import (
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/sqlite"
	"github.com/hoist-jit/hoist/testenv"
	"github.com/hoist-jit/hoist/wire"
)

// TestOfflineKeyForAnAgentEnrolledBefore: an agent enrolled before
// offline approval has no key; it gets one on asking, again until it
// acknowledges, and never after; the response the server then issues is
// the one that key makes.
func TestOfflineKeyForAnAgentEnrolledBefore(t *testing.T) {
	eachStore(t, func(t *testing.T, store hoist.Store) {
		clk := testenv.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
		svc, err := control.New(control.Config{Store: store, Settings: hoist.DefaultApprovalSettings(), Clock: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Bootstrap(ctx, "correct horse battery staple"); err != nil {
			t.Fatal(err)
		}
		ag := hoist.AgentRecord{ID: hoist.NewID(hoist.AgentIDPrefix), Hostname: "laptop-7", Version: "0.9.0", OS: "linux", EnrolledAt: clk.Now()}
		if err := store.Update(ctx, func(tx hoist.Tx) error { return tx.InsertAgent(ctx, ag) }); err != nil {
			t.Fatal(err)
		}
		ch := hoist.NewChallenge(ag.ID, "alice", 8, 42)
		if _, err := svc.ApproveOffline(ctx, control.Actor{Name: "admin", Role: hoist.RoleAdmin}, ch.String(), "", time.Hour); hoist.ErrorCode(err) != hoist.EConflict {
			t.Fatalf("a response before the agent has a key: %v, want a conflict", err)
		}
		key, id, err := svc.AgentOfflineKey(ctx, ag)
		if err != nil || len(key) != hoist.OfflineKeySize || id != hoist.OfflineKeyID(key) {
			t.Fatalf("first ask: %x %q %v", key, id, err)
		}
		again, _, err := svc.AgentOfflineKey(ctx, ag) // the answer was lost: the same key
		if err != nil || string(again) != string(key) {
			t.Fatalf("second ask before the acknowledgement: %x, %v; want the same key", again, err)
		}
		if err := svc.AckOfflineKey(ctx, ag, "0000000000000000"); hoist.ErrorCode(err) != hoist.EInvalid {
			t.Fatalf("acknowledging another key: %v, want invalid", err)
		}
		if err := svc.AckOfflineKey(ctx, ag, id); err != nil {
			t.Fatal(err)
		}
		if _, _, err := svc.AgentOfflineKey(ctx, ag); hoist.ErrorCode(err) != hoist.EConflict {
			t.Fatalf("an ask after the acknowledgement: %v, want a conflict (never sent again)", err)
		}
		out, err := svc.ApproveOffline(ctx, control.Actor{Name: "admin", Role: hoist.RoleAdmin}, ch.String(), "", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		r, err := hoist.ParseResponse(out.Response)
		if err != nil || !hoist.VerifyResponse(key, ch, r) || r.Duration() != time.Hour || out.Host != "laptop-7" {
			t.Fatalf("response %+v: does not answer the challenge with the delivered key for 1h", out)
		}
	})
}

// TestEmergencyCodeUseReported: an agent's report that a code started a
// session marks the code used (by whom, where) and raises the
// emergency_code.used event to the integrations, routed by the machine's
// group; a report of an unknown code is recorded as such.
func TestEmergencyCodeUseReported(t *testing.T) {
	store, err := sqlite.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	clk := testenv.NewClock(time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC))
	svc, err := control.New(control.Config{Store: store, Settings: hoist.DefaultApprovalSettings(), Clock: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	admin := control.Actor{Name: "admin", Role: hoist.RoleAdmin}
	ag := hoist.AgentRecord{ID: hoist.NewID(hoist.AgentIDPrefix), Hostname: "laptop-7", Version: hoist.Version, OS: "linux", Group: "Lab", EnrolledAt: clk.Now()}
	if err := store.Update(ctx, func(tx hoist.Tx) error { return tx.InsertAgent(ctx, ag) }); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.IssueEmergencyCodes(ctx, control.Actor{Name: "carol", Role: hoist.RoleApprover}, ag.ID, "", 1, 0); hoist.ErrorCode(err) != hoist.EForbidden {
		t.Fatalf("an approver issues codes: %v, want forbidden", err)
	}
	codes, err := svc.IssueEmergencyCodes(ctx, admin, "laptop-7", "", 1, 0)
	if err != nil || len(codes) != 1 || codes[0].Window != hoist.EmergencyWindow {
		t.Fatalf("issue: %+v, %v", codes, err)
	}
	v, _ := hoist.ParseCode(codes[0].Code, "code")
	if codes[0].Hash != hoist.EmergencyCodeHash(v) {
		t.Fatal("the stored hash is not the code's")
	}
	ev := func(id, code string) wire.AgentAuditEvent {
		return wire.AgentAuditEvent{ID: id, Time: clk.Now(), Action: "emergency.used", Actor: "alice", Subject: "ses_aaaaaaaaaaaaaaaa",
			Detail: map[string]any{"code_id": code, "user": "alice", "duration": "1h"}}
	}
	if _, err := svc.AgentAudit(ctx, ag, []wire.AgentAuditEvent{ev("evt_1", codes[0].ID), ev("evt_2", "emc_nope")}); err != nil {
		t.Fatal(err)
	}
	list, _ := svc.EmergencyCodes(ctx, admin)
	if len(list) != 1 || list[0].State(clk.Now()) != "used" || list[0].UsedBy != "alice" || list[0].UsedOn != ag.ID {
		t.Fatalf("after the report: %+v", list)
	}
	var events []hoist.IntegrationEvent
	_ = store.View(ctx, func(tx hoist.Tx) (err error) { events, err = tx.IntegrationEvents(ctx, 0, 100); return err })
	used := 0
	for _, e := range events {
		if e.Type == hoist.EventEmergencyCodeUsed {
			used++
			if e.Group != "Lab" {
				t.Errorf("the event is routed to group %q, want Lab (the machine's)", e.Group)
			}
		}
	}
	if used != 2 {
		t.Errorf("%d emergency_code.used events, want 2 (the code's, the unknown code's)", used)
	}
	if _, err := svc.RevokeEmergencyCode(ctx, admin, codes[0].ID); hoist.ErrorCode(err) != hoist.EConflict {
		t.Errorf("revoking a used code: %v, want a conflict", err)
	}
}
