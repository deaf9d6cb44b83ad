package control_test

import (
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/control"
	"github.com/hoist-jit/hoist/testenv"
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
