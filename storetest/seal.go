package storetest

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/hoist-jit/hoist"
)

// testSealAfterCommit: writers that seal their audit records after commit
// (hoist.Tx.SealAuditAfterCommit), mixed with writers that chain them in
// their transaction, leave one unbroken chain in which every committed
// record is present once, readable as soon as Update returns, in
// transaction order within each writer, with the outbox events numbered by
// their records (a record between them has none); a rolled-back writer
// leaves nothing.
func testSealAfterCommit(t *testing.T, s hoist.Store) {
	const writers, each = 6, 8
	var wg sync.WaitGroup
	errs := make(chan error, writers*each)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				subject := fmt.Sprintf("w%d-%d", w, i)
				err := s.Update(ctx(), func(tx hoist.Tx) error {
					if w%3 != 0 { // every third writer chains at once
						tx.SealAuditAfterCommit()
					}
					for _, step := range []string{"first", "plain", "second"} {
						rec, err := tx.AppendAudit(ctx(), hoist.AuditEvent{Actor: "x", Action: "test." + step, Subject: subject}, t0)
						if err != nil {
							return err
						}
						if step == "plain" {
							continue // a record without an outbox event
						}
						ev := hoist.IntegrationEvent{Seq: rec.Seq, Type: hoist.EventRequestCreated, At: t0, Subject: subject + "/" + step, Data: json.RawMessage(`{}`)}
						if err := tx.InsertIntegrationEvent(ctx(), ev); err != nil {
							return err
						}
					}
					return nil
				})
				if hoist.ErrorCode(err) == hoist.EConflict {
					continue // a race lost cleanly (SQLite's busy database)
				}
				if err != nil {
					errs <- err
					return
				}
				// Read your writes: the record is in the log when Update returns.
				var found int
				_ = s.View(ctx(), func(tx hoist.Tx) error {
					return tx.Audit(ctx(), hoist.AuditFilter{Subject: subject}, func(hoist.AuditRecord) error { found++; return nil })
				})
				if found != 3 {
					errs <- fmt.Errorf("%s: %d records readable after Update returned, want 3", subject, found)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := s.Update(ctx(), func(tx hoist.Tx) error {
		tx.SealAuditAfterCommit()
		if _, err := tx.AppendAudit(ctx(), hoist.AuditEvent{Actor: "x", Action: "test.rolled_back"}, t0); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update returned %v, want boom", err)
	}

	if err := Verify(s); err != nil {
		t.Fatalf("verify: %v", err)
	}
	seqOf := map[string]int64{} // subject/step → seq
	var recs int
	err = s.View(ctx(), func(tx hoist.Tx) error {
		return tx.Audit(ctx(), hoist.AuditFilter{}, func(r hoist.AuditRecord) error {
			recs++
			if r.Action == "test.rolled_back" {
				return fmt.Errorf("record %d of a rolled-back transaction is in the log", r.Seq)
			}
			key := r.Subject + "/" + r.Action[len("test."):]
			if _, dup := seqOf[key]; dup {
				return fmt.Errorf("%s is in the log twice", key)
			}
			seqOf[key] = r.Seq
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	if recs%3 != 0 || recs == 0 {
		t.Fatalf("%d records, want three per committed writer", recs)
	}
	for key, seq := range seqOf {
		if subject, ok := strings.CutSuffix(key, "/second"); ok {
			first, plain := seqOf[subject+"/first"], seqOf[subject+"/plain"]
			if !(first < plain && plain < seq) {
				t.Errorf("%s: records first %d, plain %d, second %d: want them in their transaction's order", subject, first, plain, seq)
			}
		}
	}
	var evs []hoist.IntegrationEvent
	if err := s.View(ctx(), func(tx hoist.Tx) (err error) { evs, err = tx.IntegrationEvents(ctx(), 0, 1000); return err }); err != nil {
		t.Fatal(err)
	}
	if len(evs) != recs/3*2 {
		t.Fatalf("%d outbox events, want two per committed writer (%d)", len(evs), recs/3*2)
	}
	for _, ev := range evs {
		if got, want := ev.Seq, seqOf[ev.Subject]; got != want {
			t.Errorf("outbox event %s has seq %d, its record is %d", ev.Subject, got, want)
		}
	}
}
