package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

// testReadsInTransaction: a transaction sees its own writes whatever the
// store keeps between its statements (the rows it wrote, the groups,
// policies and emergency codes one statement read: see sqlstore), and the
// lists read together in a check-in's kind of transaction come in the same
// order as read one by one, and a policy by id or name is the same as read
// alone.
func testReadsInTransaction(t *testing.T, s hoist.Store) {
	samples := hoist.SamplePolicies(t0)
	g := hoist.ComputerGroup{ID: hoist.NewID(hoist.GroupIDPrefix), Name: "ops", Version: 1, CreatedAt: t0, UpdatedAt: t0}
	codes := []hoist.EmergencyCode{
		{ID: "emc_a", Hash: "h1", Agent: "agt_a", Window: time.Hour, CreatedBy: "admin", CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour), Version: 1},
		{ID: "emc_b", Hash: "h2", Agent: "agt_a", Window: time.Hour, CreatedBy: "admin", CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour), Version: 1},
	}
	err := s.Update(ctx(), func(tx hoist.Tx) error {
		for _, p := range samples[1:] {
			if err := tx.InsertPolicy(ctx(), p); err != nil {
				return err
			}
		}
		for _, c := range codes {
			if err := tx.InsertEmergencyCode(ctx(), c); err != nil {
				return err
			}
		}
		return tx.InsertGroup(ctx(), g)
	})
	if err != nil {
		t.Fatal(err)
	}
	ids := func(ps []hoist.Policy) (out []string) {
		for _, p := range ps {
			out = append(out, p.ID)
		}
		return out
	}
	var alone []string
	var aloneCodes []hoist.EmergencyCode
	err = s.Update(ctx(), func(tx hoist.Tx) error { // no prefetch: a durable writer
		ps, err := tx.Policies(ctx())
		alone = ids(ps)
		if err != nil {
			return err
		}
		aloneCodes, err = tx.EmergencyCodes(ctx())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r := hoist.Request{ID: hoist.NewID(hoist.RequestIDPrefix), User: "alice", Host: "ws-01", State: hoist.RequestPending,
		CreatedAt: t0, ExpiresAt: t0.Add(time.Hour), Version: 1}
	err = s.Update(ctx(), func(tx hoist.Tx) error {
		tx.SealAuditAfterCommit()
		if err := tx.RelaxDurability(ctx()); err != nil {
			return err
		}
		gs, err := tx.Groups(ctx())
		if err != nil || len(gs) != 1 || gs[0].ID != g.ID {
			t.Errorf("Groups = %+v, %v; want the one group", gs, err)
		}
		ps, err := tx.Policies(ctx())
		if err != nil || !slices.Equal(ids(ps), alone) {
			t.Errorf("Policies read with the groups = %v, %v; want %v as read alone", ids(ps), err, alone)
		}
		cs, err := tx.EmergencyCodes(ctx())
		if err != nil || len(cs) != len(aloneCodes) || cs[0].ID != aloneCodes[0].ID {
			t.Errorf("EmergencyCodes read with the groups = %+v, %v; want %+v", cs, err, aloneCodes)
		}
		// One policy by id or by name, as a decision reads its request's.
		some := samples[len(samples)-1]
		for _, key := range []string{some.ID, some.Name} {
			if p, err := tx.Policy(ctx(), key); err != nil || p.ID != some.ID {
				t.Errorf("Policy(%q) read with the groups = %s, %v; want %s", key, p.ID, err, some.ID)
			}
		}
		if _, err := tx.Policy(ctx(), samples[0].Name); hoist.ErrorCode(err) != hoist.ENotFound {
			t.Errorf("Policy of one not yet inserted, read with the groups: %v, want ENotFound", err)
		}
		// A write after the read is seen by the next read.
		if err := tx.InsertPolicy(ctx(), samples[0]); err != nil {
			return err
		}
		if ps, err := tx.Policies(ctx()); err != nil || len(ps) != len(samples) {
			t.Errorf("Policies after an insert in the transaction: %d, %v; want %d", len(ps), err, len(samples))
		}
		if p, err := tx.Policy(ctx(), samples[0].Name); err != nil || p.ID != samples[0].ID {
			t.Errorf("Policy after its insert in the transaction = %s, %v; want %s", p.ID, err, samples[0].ID)
		}
		// The rows it wrote read back as written.
		if err := tx.InsertRequest(ctx(), r); err != nil {
			return err
		}
		next := r
		next.State, next.Version = hoist.RequestDenied, 2
		if err := tx.UpdateRequest(ctx(), next); err != nil {
			return err
		}
		if got, err := tx.Request(ctx(), r.ID); err != nil || got.State != hoist.RequestDenied || got.Version != 2 {
			t.Errorf("Request after its update = %s v%d, %v; want denied v2", got.State, got.Version, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A write that failed leaves the next read to the database.
	err = s.Update(ctx(), func(tx hoist.Tx) error {
		stale := r
		stale.State, stale.Version = hoist.RequestExpired, 2 // the stored one is at 2 already
		if err := tx.UpdateRequest(ctx(), stale); hoist.ErrorCode(err) != hoist.EConflict {
			t.Errorf("a stale update: %v, want conflict", err)
		}
		got, err := tx.Request(ctx(), r.ID)
		if err != nil || got.State != hoist.RequestDenied {
			t.Errorf("Request after a failed update = %s, %v; want denied", got.State, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
