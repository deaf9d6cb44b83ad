package storetest

import (
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

// testOfflineKeys: an agent's offline key is stored, read back, and
// replaced in place (a re-delivery, an acknowledgement).
func testOfflineKeys(t *testing.T, s hoist.Store) {
	var got hoist.OfflineKeyRecord
	err := s.View(ctx(), func(tx hoist.Tx) (err error) { got, err = tx.OfflineKey(ctx(), "agt_none"); return err })
	if hoist.ErrorCode(err) != hoist.ENotFound {
		t.Fatalf("a missing key: %v, want not found", err)
	}
	k := hoist.OfflineKeyRecord{AgentID: "agt_a", Key: "sealed", KeyID: "0011", CreatedAt: t0}
	put := func(k hoist.OfflineKeyRecord) {
		t.Helper()
		if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.PutOfflineKey(ctx(), k) }); err != nil {
			t.Fatal(err)
		}
	}
	put(k)
	k.DeliveredAt = t0.Add(time.Minute)
	put(k)
	if err := s.View(ctx(), func(tx hoist.Tx) (err error) { got, err = tx.OfflineKey(ctx(), "agt_a"); return err }); err != nil {
		t.Fatal(err)
	}
	if !got.DeliveredAt.Equal(k.DeliveredAt) || got.Key != "sealed" || got.KeyID != "0011" {
		t.Fatalf("got %+v, want %+v", got, k)
	}
}

// testEmergencyCodes: codes are listed newest first and updated only in
// place of the version read.
func testEmergencyCodes(t *testing.T, s hoist.Store) {
	a := hoist.EmergencyCode{ID: "emc_a", Hash: "h1", Agent: "agt_a", Window: time.Hour, CreatedBy: "admin", CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour), Version: 1}
	b := a
	b.ID, b.Hash = "emc_b", "h2"
	err := s.Update(ctx(), func(tx hoist.Tx) error {
		if err := tx.InsertEmergencyCode(ctx(), a); err != nil {
			return err
		}
		return tx.InsertEmergencyCode(ctx(), b)
	})
	if err != nil {
		t.Fatal(err)
	}
	a.UsedAt, a.UsedBy, a.Version = t0.Add(time.Hour), "alice", 2
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.UpdateEmergencyCode(ctx(), a) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.UpdateEmergencyCode(ctx(), a) }); hoist.ErrorCode(err) != hoist.EConflict {
		t.Fatalf("a stale update: %v, want a conflict", err)
	}
	var got []hoist.EmergencyCode
	if err := s.View(ctx(), func(tx hoist.Tx) (err error) { got, err = tx.EmergencyCodes(ctx()); return err }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ID != "emc_b" || got[1].UsedBy != "alice" || got[1].Outstanding(t0) {
		t.Fatalf("got %+v", got)
	}
}
