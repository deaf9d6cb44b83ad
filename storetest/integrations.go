package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

// testIntegrations: integrations are stored by unique name and replaced only
// at the next version; the outbox keeps events by sequence; a delivery is
// queued once per integration and event, comes back oldest first with its
// event, and goes with its integration.
func testIntegrations(t *testing.T, s hoist.Store) {
	in := hoist.Integration{ID: hoist.NewID(hoist.IntegrationIDPrefix), Name: "ops-hook", Kind: hoist.SinkWebhook,
		Config: hoist.SinkConfig{URL: "https://hooks.example/x", Secret: "sealed"}, Events: []string{hoist.EventRequestCreated},
		CreatedAt: t0, CreatedBy: "admin", Version: 1}
	update := func(fn func(tx hoist.Tx) error) error { return s.Update(ctx(), fn) }
	if err := update(func(tx hoist.Tx) error { return tx.InsertIntegration(ctx(), in) }); err != nil {
		t.Fatal(err)
	}
	dup := in
	dup.ID = hoist.NewID(hoist.IntegrationIDPrefix)
	wantCode(t, update(func(tx hoist.Tx) error { return tx.InsertIntegration(ctx(), dup) }), hoist.EConflict)

	var got hoist.Integration
	if err := update(func(tx hoist.Tx) (err error) { got, err = tx.Integration(ctx(), "ops-hook"); return err }); err != nil {
		t.Fatal(err)
	}
	if got.ID != in.ID || got.Config.URL != in.Config.URL || got.Events[0] != hoist.EventRequestCreated {
		t.Fatalf("by name: got %+v, want %+v", got, in)
	}
	next := got
	next.Version, next.AuditCursor = 2, 7
	if err := update(func(tx hoist.Tx) error { return tx.UpdateIntegration(ctx(), next) }); err != nil {
		t.Fatal(err)
	}
	wantCode(t, update(func(tx hoist.Tx) error { return tx.UpdateIntegration(ctx(), next) }), hoist.EConflict)
	if err := update(func(tx hoist.Tx) (err error) { got, err = tx.LockIntegration(ctx(), in.ID); return err }); err != nil || got.AuditCursor != 7 {
		t.Fatalf("lock: got %+v, %v; want the cursor at 7", got, err)
	}
	wantCode(t, update(func(tx hoist.Tx) error { _, err := tx.LockIntegration(ctx(), "int_none"); return err }), hoist.ENotFound)

	err := update(func(tx hoist.Tx) error {
		for _, seq := range []int64{3, 5, 9} {
			ev := hoist.IntegrationEvent{Seq: seq, Type: hoist.EventRequestCreated, At: t0, Subject: "req_x", Data: json.RawMessage(`{"n":1}`)}
			if err := tx.InsertIntegrationEvent(ctx(), ev); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var evs []hoist.IntegrationEvent
	var last int64
	if err := s.View(ctx(), func(tx hoist.Tx) (err error) {
		if evs, err = tx.IntegrationEvents(ctx(), 3, 10); err != nil {
			return err
		}
		last, err = tx.LastIntegrationEvent(ctx())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Seq != 5 || evs[1].Seq != 9 || last != 9 || string(evs[0].Data) != `{"n":1}` {
		t.Fatalf("events after 3: got %+v (last %d), want 5 and 9 (last 9)", evs, last)
	}

	queue := func(seq int64) hoist.Delivery {
		return hoist.Delivery{ID: hoist.NewID(hoist.DeliveryIDPrefix), IntegrationID: in.ID, Event: hoist.IntegrationEvent{Seq: seq},
			State: hoist.DeliveryPending, NextAt: t0, UpdatedAt: t0}
	}
	err = update(func(tx hoist.Tx) error {
		for _, seq := range []int64{9, 5, 5} { // 5 twice: queued once
			if err := tx.InsertDelivery(ctx(), queue(seq)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var head hoist.Delivery
	if err := update(func(tx hoist.Tx) (err error) { head, err = tx.NextDelivery(ctx(), in.ID); return err }); err != nil {
		t.Fatal(err)
	}
	if head.Event.Seq != 5 || head.Event.Type != hoist.EventRequestCreated || head.State != hoist.DeliveryPending {
		t.Fatalf("next delivery: got %+v, want event 5 pending", head)
	}
	head.State, head.Attempts, head.LastError, head.UpdatedAt = hoist.DeliveryDead, 12, "503 Service Unavailable", t0.Add(time.Hour)
	if err := update(func(tx hoist.Tx) error { return tx.UpdateDelivery(ctx(), head) }); err != nil {
		t.Fatal(err)
	}
	var counts map[hoist.DeliveryState]int
	var dead []hoist.Delivery
	var again hoist.Delivery
	if err := s.View(ctx(), func(tx hoist.Tx) (err error) {
		if counts, err = tx.CountDeliveries(ctx(), in.ID); err != nil {
			return err
		}
		if dead, err = tx.Deliveries(ctx(), hoist.DeliveryFilter{IntegrationID: in.ID, State: hoist.DeliveryDead}); err != nil {
			return err
		}
		again, err = tx.Delivery(ctx(), head.ID)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if counts[hoist.DeliveryPending] != 1 || counts[hoist.DeliveryDead] != 1 {
		t.Fatalf("counts: got %v, want 1 pending and 1 dead", counts)
	}
	if len(dead) != 1 || dead[0].ID != head.ID || dead[0].LastError != head.LastError || !again.UpdatedAt.Equal(head.UpdatedAt) || again.Attempts != 12 {
		t.Fatalf("dead letters: got %+v and %+v, want %+v", dead, again, head)
	}
	// Pruning: delivered deliveries before the cut go, then events no
	// delivery refers to; the pending one (event 9) and the dead one
	// (event 5) keep theirs.
	err = update(func(tx hoist.Tx) error {
		if err := tx.InsertIntegrationEvent(ctx(), hoist.IntegrationEvent{Seq: 11, Type: hoist.EventRequestCreated, At: t0, Data: json.RawMessage(`{}`)}); err != nil {
			return err
		}
		d := queue(11)
		d.State = hoist.DeliveryDelivered
		if err := tx.InsertDelivery(ctx(), d); err != nil {
			return err
		}
		return tx.PruneIntegrations(ctx(), 11, t0.Add(time.Second))
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.View(ctx(), func(tx hoist.Tx) (err error) { evs, err = tx.IntegrationEvents(ctx(), 0, 10); return err }); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 2 || evs[0].Seq != 5 || evs[1].Seq != 9 {
		t.Fatalf("after pruning: events %+v, want 5 and 9 (3 and 11 unreferenced)", evs)
	}
	var ref string
	err = update(func(tx hoist.Tx) error {
		if err := tx.PutIntegrationRef(ctx(), in.ID, "req_x", "C1 1.000"); err != nil {
			return err
		}
		if err := tx.PutIntegrationRef(ctx(), in.ID, "req_x", "C1 2.000"); err != nil {
			return err
		}
		ref, err = tx.IntegrationRef(ctx(), in.ID, "req_x")
		return err
	})
	if err != nil || ref != "C1 2.000" {
		t.Fatalf("ref: got %q, %v; want the second", ref, err)
	}
	if err := s.View(ctx(), func(tx hoist.Tx) (err error) { ref, err = tx.IntegrationRef(ctx(), in.ID, "req_none"); return err }); err != nil || ref != "" {
		t.Fatalf("no ref: got %q, %v", ref, err)
	}
	if err := update(func(tx hoist.Tx) error { return tx.DeleteIntegration(ctx(), in.ID) }); err != nil {
		t.Fatal(err)
	}
	if err := s.View(ctx(), func(tx hoist.Tx) (err error) { counts, err = tx.CountDeliveries(ctx(), in.ID); return err }); err != nil || len(counts) != 0 {
		t.Fatalf("after delete: got %v, %v; want no deliveries", counts, err)
	}
	wantCode(t, update(func(tx hoist.Tx) error { _, err := tx.Integration(ctx(), in.ID); return err }), hoist.ENotFound)
}
