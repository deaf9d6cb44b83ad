package storetest

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/hoist-jit/hoist"
)

// testReadsOutsideTransaction: Store.Read returns what View returns for each
// of its reads, ENotFound for what is missing, and, having no snapshot,
// sees a change committed between two of its reads (the token revoked
// after it was read is gone at the next read), where a View would not.
func testReadsOutsideTransaction(t *testing.T, s hoist.Store) {
	adm := hoist.Admin{ID: hoist.NewID(hoist.AdminIDPrefix), Name: "admin", Role: hoist.RoleAdmin, PasswordHash: "h", CreatedAt: t0}
	tok := hoist.Token{Hash: "tok", AdminID: adm.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	agent := hoist.AgentRecord{ID: hoist.NewID(hoist.AgentIDPrefix), Hostname: "ws-01", Version: "0.1.0", EnrolledAt: t0, LastSeen: t0}
	req := newRequest(t, "alice", "ws-01", t0)
	var seq int64
	err := s.Update(ctx(), func(tx hoist.Tx) (err error) {
		if err := tx.InsertAdmin(ctx(), adm); err != nil {
			return err
		}
		if err := tx.InsertToken(ctx(), tok); err != nil {
			return err
		}
		if err := tx.InsertAgent(ctx(), agent); err != nil {
			return err
		}
		if err := tx.InsertRequest(ctx(), req); err != nil {
			return err
		}
		seq, err = tx.AppendAgentEvent(ctx(), hoist.AgentEvent{AgentID: agent.ID, Kind: hoist.AgentEventDenied, RequestID: req.ID, Reason: "no", CreatedAt: t0})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}

	// Each read, through Read and through View: the same answer.
	reads := []struct {
		name string
		read func(r hoist.Reads) (any, error)
	}{
		{"Request", func(r hoist.Reads) (any, error) { return r.Request(ctx(), req.ID) }},
		{"Token", func(r hoist.Reads) (any, error) { return r.Token(ctx(), tok.Hash) }},
		{"Admin", func(r hoist.Reads) (any, error) { return r.Admin(ctx(), adm.ID) }},
		{"AgentByID", func(r hoist.Reads) (any, error) { return r.AgentByID(ctx(), agent.ID) }},
		{"AgentEvents", func(r hoist.Reads) (any, error) { return r.AgentEvents(ctx(), agent.ID, 0, 10) }},
	}
	for _, tc := range reads {
		t.Run(tc.name, func(t *testing.T) {
			var got, want any
			if err := s.Read(ctx(), func(r hoist.Reads) (err error) { got, err = tc.read(r); return err }); err != nil {
				t.Fatal(err)
			}
			if err := s.View(ctx(), func(tx hoist.Tx) (err error) { want, err = tc.read(tx); return err }); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Read gave %+v, View %+v", got, want)
			}
		})
	}
	var evs []hoist.AgentEvent
	if err := s.Read(ctx(), func(r hoist.Reads) (err error) { evs, err = r.AgentEvents(ctx(), agent.ID, 0, 10); return err }); err != nil {
		t.Fatal(err)
	}
	if len(evs) != 1 || evs[0].Seq != seq || evs[0].RequestID != req.ID || evs[0].Reason != "no" {
		t.Errorf("events read = %+v, want the one denial numbered %d", evs, seq)
	}

	missing := []struct {
		name string
		read func(r hoist.Reads) error
	}{
		{"Request", func(r hoist.Reads) error { _, err := r.Request(ctx(), "req_nope"); return err }},
		{"Token", func(r hoist.Reads) error { _, err := r.Token(ctx(), "nope"); return err }},
		{"Admin", func(r hoist.Reads) error { _, err := r.Admin(ctx(), "adm_nope"); return err }},
		{"AgentByID", func(r hoist.Reads) error { _, err := r.AgentByID(ctx(), "agt_nope"); return err }},
	}
	for _, tc := range missing {
		t.Run("Missing"+tc.name, func(t *testing.T) { wantCode(t, s.Read(ctx(), tc.read), hoist.ENotFound) })
	}

	// No snapshot: a logout committed between two reads is seen by the second.
	err = s.Read(ctx(), func(r hoist.Reads) error {
		if _, err := r.Token(ctx(), tok.Hash); err != nil {
			return fmt.Errorf("token before the logout: %w", err)
		}
		if err := s.Update(ctx(), func(tx hoist.Tx) error { return tx.DeleteToken(ctx(), tok.Hash) }); err != nil {
			return err
		}
		if _, err := r.Token(ctx(), tok.Hash); hoist.ErrorCode(err) != hoist.ENotFound {
			return fmt.Errorf("token read after its logout committed = %v, want ENotFound", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
