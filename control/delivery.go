package control

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"github.com/hoist-jit/hoist"
)

// Sink sends to the integrations of every kind. Package sink implements it;
// the engine here decides what to send, when, and what a failure means.
type Sink interface {
	// Deliver sends one event to an approver sink (its config with its
	// secrets opened). ref is what the sink answered about the event's
	// request before ("" the first time: a Slack message to update); the
	// answer's ref is kept for the next event about it. An error means
	// "not delivered, try again".
	Deliver(ctx context.Context, it hoist.Integration, d hoist.Delivery, ref string) (string, error)
	// DeliverAudit sends audit records, in order, to a SIEM sink; an error
	// means none of them may be taken as delivered.
	DeliverAudit(ctx context.Context, it hoist.Integration, recs []hoist.AuditRecord) error
}

// Delivery tuning.
const (
	// DefaultLease is how long a server owns a sink's next delivery before
	// another may take it over (a server that died mid-send).
	DefaultLease = 30 * time.Second
	// sendTimeout bounds one attempt; HTTP sinks have their own 10 s.
	sendTimeout = 20 * time.Second
	// fanoutBatch and auditBatch bound one transaction's work.
	fanoutBatch = 200
	auditBatch  = 100
	// perPass bounds the deliveries one sink gets per pass, so that one busy
	// sink does not starve the others.
	perPass = 50
	// KeepDelivered is how long delivered deliveries are kept (ls counts
	// them); the outbox keeps an event until every approver sink has it
	// queued and no delivery of it is kept.
	KeepDelivered    = 7 * 24 * time.Hour
	outboxPruneEvery = 10 * time.Minute
)

// prune, every outboxPruneEvery of the service's clock, removes what no sink
// needs any more from the outbox.
func (s *Service) prune(ctx context.Context) error {
	now := s.now()
	s.pruneMu.Lock()
	due := now.Sub(s.prunedAt) >= outboxPruneEvery
	if due {
		s.prunedAt = now
	}
	s.pruneMu.Unlock()
	if !due {
		return nil
	}
	return s.store.Update(ctx, func(tx hoist.Tx) error {
		upTo, err := tx.LastIntegrationEvent(ctx)
		if err != nil {
			return err
		}
		its, err := tx.Integrations(ctx)
		if err != nil {
			return err
		}
		for _, it := range its {
			if !it.Kind.SIEM() {
				upTo = min(upTo, it.EventCursor)
			}
		}
		return tx.PruneIntegrations(ctx, upTo, now.Add(-KeepDelivered))
	})
}

// DeliveryCounts are this server's delivered and failed attempts per
// integration name, for metrics.
type DeliveryCounts struct {
	mu sync.Mutex
	m  map[string][2]int64
}

func (c *DeliveryCounts) add(name string, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string][2]int64{}
	}
	v := c.m[name]
	if ok {
		v[0]++
	} else {
		v[1]++
	}
	c.m[name] = v
}

// Snapshot returns delivered and failed per integration name.
func (c *DeliveryCounts) Snapshot() map[string][2]int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string][2]int64, len(c.m))
	for k, v := range c.m {
		out[k] = v
	}
	return out
}

// DeliveryCounters returns this server's delivery counters.
func (s *Service) DeliveryCounters() *DeliveryCounts { return &s.counts }

// Deliver runs one pass over every integration: it fans new events out to
// deliveries, sends what is due, and records each outcome. Several servers
// may run it at once on one database: a sink is worked on by one at a time
// (row lock, then a lease while sending). It returns how many sends
// succeeded.
func (s *Service) Deliver(ctx context.Context) (int, error) {
	if s.sink == nil {
		return 0, nil
	}
	var its []hoist.Integration
	if err := s.store.View(ctx, func(tx hoist.Tx) (err error) { its, err = tx.Integrations(ctx); return err }); err != nil {
		return 0, err
	}
	// Reminders only when some sink takes them: nobody else reads them.
	if slices.ContainsFunc(its, func(it hoist.Integration) bool { return slices.Contains(it.Events, hoist.EventApprovalReminder) }) {
		if err := s.remind(ctx); err != nil {
			s.log.Warn("cannot queue approval reminders", "err", err)
		}
	}
	if err := s.prune(ctx); err != nil {
		s.log.Warn("cannot prune the integrations' outbox", "err", err)
	}
	total := 0
	var errs []error
	for _, it := range its {
		n, err := s.deliverFor(ctx, it.ID)
		total += n
		if err != nil && ctx.Err() == nil {
			errs = append(errs, err)
		}
	}
	return total, errors.Join(errs...)
}

// RunDeliveries calls Deliver every interval until ctx ends.
func (s *Service) RunDeliveries(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if _, err := s.Deliver(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("integration delivery pass failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// deliverFor works one sink until it has nothing due, fails, or has had
// its share of this pass.
func (s *Service) deliverFor(ctx context.Context, id string) (int, error) {
	n := 0
	for n < perPass {
		job, err := s.claim(ctx, id)
		if err != nil || job == nil {
			return n, err
		}
		ok, err := s.send(ctx, job)
		if err != nil {
			return n, err
		}
		if !ok {
			return n, nil
		}
		n++
	}
	return n, nil
}

// job is one claimed send: a delivery, or a batch of audit records for a
// SIEM sink.
type job struct {
	it    hoist.Integration
	token string
	d     hoist.Delivery
	recs  []hoist.AuditRecord
	// subject and ref: the request the event is about, and what the sink
	// answered about it before.
	subject, ref string
	newRef       string
}

// claim, in one transaction: lock the sink (skipping one another server
// holds), fan the outbox's new events out to its deliveries, and, when
// something is due and no live lease is held, take the lease on it. nil:
// nothing to do now.
func (s *Service) claim(ctx context.Context, id string) (*job, error) {
	now := s.now()
	var j *job
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		j = nil
		it, err := tx.LockIntegration(ctx, id)
		if err != nil {
			return err
		}
		changed, err := s.fanOut(ctx, tx, &it, now)
		if err != nil {
			return err
		}
		if next, err := s.due(ctx, tx, it, now); err != nil {
			return err
		} else if next != nil {
			next.token = hoist.NewID("")
			it.LeaseUntil, it.LeaseToken = now.Add(s.lease), next.token
			next.it, j, changed = it, next, true
		}
		if !changed {
			return nil
		}
		it.Version++
		if j != nil {
			j.it.Version = it.Version
		}
		return tx.UpdateIntegration(ctx, it)
	})
	switch hoist.ErrorCode(err) {
	case hoist.EConflict: // another server has it now
		return nil, nil
	case hoist.ENotFound: // removed meanwhile
		return nil, nil
	}
	return j, err
}

// fanOut queues a delivery of each new outbox event the sink is routed.
func (s *Service) fanOut(ctx context.Context, tx hoist.Tx, it *hoist.Integration, now time.Time) (bool, error) {
	if it.Kind.SIEM() {
		return false, nil
	}
	evs, err := tx.IntegrationEvents(ctx, it.EventCursor, fanoutBatch)
	if err != nil || len(evs) == 0 {
		return false, err
	}
	for _, ev := range evs {
		if !it.Routes(ev) || (ev.Type == hoist.EventIntegrationFail && ev.Subject == it.ID) {
			continue
		}
		d := hoist.Delivery{ID: hoist.NewID(hoist.DeliveryIDPrefix), IntegrationID: it.ID, Event: ev,
			State: hoist.DeliveryPending, NextAt: now, UpdatedAt: now}
		if err := tx.InsertDelivery(ctx, d); err != nil {
			return false, err
		}
	}
	it.EventCursor = evs[len(evs)-1].Seq
	return true, nil
}

// due returns what the sink should be sent now, or nil: nothing while
// another server's lease lasts, while the breaker is open, or while the
// oldest undelivered item waits for its retry (later ones wait behind it,
// so that a receiver sees events in order).
func (s *Service) due(ctx context.Context, tx hoist.Tx, it hoist.Integration, now time.Time) (*job, error) {
	if now.Before(it.LeaseUntil) || it.Open(now) || now.Before(it.RetryAt) {
		return nil, nil
	}
	if it.Kind.SIEM() {
		var recs []hoist.AuditRecord
		err := tx.Audit(ctx, hoist.AuditFilter{AfterSeq: it.AuditCursor, Limit: auditBatch}, func(r hoist.AuditRecord) error {
			recs = append(recs, r)
			return nil
		})
		if err != nil || len(recs) == 0 {
			return nil, err
		}
		return &job{recs: recs}, nil
	}
	d, err := tx.NextDelivery(ctx, it.ID)
	if hoist.ErrorCode(err) == hoist.ENotFound || (err == nil && now.Before(d.NextAt)) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	j := &job{d: d, subject: requestOf(d.Event)}
	if j.subject != "" {
		if j.ref, err = tx.IntegrationRef(ctx, it.ID, j.subject); err != nil {
			return nil, err
		}
	}
	return j, nil
}

// requestOf is the request an event is about, "" for none.
func requestOf(ev hoist.IntegrationEvent) string {
	var d struct {
		RequestID string `json:"request_id"`
	}
	_ = json.Unmarshal(ev.Data, &d)
	return d.RequestID
}

// send makes one attempt outside any transaction and records its outcome.
// ok reports whether it was delivered.
func (s *Service) send(ctx context.Context, j *job) (ok bool, err error) {
	sendErr := s.attempt(ctx, j)
	if ctx.Err() != nil {
		return false, ctx.Err() // shutting down: the lease runs out and the send is retried
	}
	s.counts.add(j.it.Name, sendErr == nil)
	if sendErr != nil {
		s.log.Warn("integration delivery failed", "integration", j.it.Name, "kind", j.it.Kind, "err", sendErr)
	}
	return sendErr == nil, s.record(ctx, j, sendErr)
}

func (s *Service) attempt(ctx context.Context, j *job) error {
	it := j.it
	cfg, err := s.openSecrets(it)
	if err != nil {
		return err
	}
	it.Config = cfg
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	if it.Kind.SIEM() {
		return s.sink.DeliverAudit(ctx, it, j.recs)
	}
	var err2 error
	j.newRef, err2 = s.sink.Deliver(ctx, it, j.d, j.ref)
	return err2
}

// openSecrets returns the sink's configuration with its secrets opened.
func (s *Service) openSecrets(it hoist.Integration) (hoist.SinkConfig, error) {
	cfg, err := s.box.openConfig(it.ID, it.Config)
	if err != nil {
		return cfg, err
	}
	if it.Kind == hoist.SinkSlack || it.Kind == hoist.SinkTeams {
		cfg.URL, err = s.box.open(it.ID, cfg.URL)
	}
	return cfg, err
}

// record stores the outcome of j: delivered, or retried after a backoff
// with jitter, or after MaxAttempts a dead letter; the sink's breaker
// counts failures in a row, and its opening is audited (and so an
// integration.failed event for the other sinks).
func (s *Service) record(ctx context.Context, j *job, sendErr error) error {
	now := s.now()
	for range 5 { // a concurrent fan-out may bump the version: reread
		err := s.store.Update(ctx, func(tx hoist.Tx) error {
			it, err := tx.Integration(ctx, j.it.ID)
			if err != nil {
				return err
			}
			if it.LeaseToken == j.token {
				it.LeaseUntil, it.LeaseToken = time.Time{}, ""
			}
			opened := false
			if sendErr == nil {
				it.Succeeded(now)
				if it.Kind.SIEM() {
					it.AuditCursor = max(it.AuditCursor, j.recs[len(j.recs)-1].Seq)
				}
			} else {
				opened = it.Failed(now, truncate(sendErr.Error(), 500))
				if it.Kind.SIEM() {
					it.RetryAt = now.Add(hoist.Backoff(it.Failures, s.jitter()))
				}
			}
			if !it.Kind.SIEM() {
				if err := s.recordDelivery(ctx, tx, j.d, sendErr, now); err != nil {
					return err
				}
				if sendErr == nil && j.subject != "" && j.newRef != "" && j.newRef != j.ref {
					if err := tx.PutIntegrationRef(ctx, it.ID, j.subject, j.newRef); err != nil {
						return err
					}
				}
			}
			it.Version++
			if err := tx.UpdateIntegration(ctx, it); err != nil {
				return err
			}
			if opened {
				return audit(ctx, tx, now, SystemActor, hoist.EventIntegrationFail, it.ID, map[string]any{
					"name": it.Name, "kind": it.Kind, "failures": it.Failures, "error": it.LastError})
			}
			return nil
		})
		if hoist.ErrorCode(err) != hoist.EConflict {
			if hoist.ErrorCode(err) == hoist.ENotFound {
				return nil // removed while sending
			}
			return err
		}
	}
	return hoist.Errorf(hoist.EConflict, "could not record a delivery of %s", j.it.Name)
}

func (s *Service) recordDelivery(ctx context.Context, tx hoist.Tx, d hoist.Delivery, sendErr error, now time.Time) error {
	d.UpdatedAt = now
	if sendErr == nil {
		d.State, d.LastError = hoist.DeliveryDelivered, ""
		d.Attempts++
		return tx.UpdateDelivery(ctx, d)
	}
	d.Attempts++
	d.LastError = truncate(sendErr.Error(), 500)
	if d.Attempts >= hoist.MaxAttempts {
		d.State = hoist.DeliveryDead
	} else {
		d.NextAt = now.Add(hoist.Backoff(d.Attempts, s.jitter()))
	}
	return tx.UpdateDelivery(ctx, d)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

func defaultJitter() float64 { return rand.Float64() }

// TestIntegration sends a test event to the integration now, outside the
// outbox, and returns the sink's error: the console's and CLI's "Send test".
func (s *Service) TestIntegration(ctx context.Context, a Actor, key string) error {
	if err := a.require(hoist.PermitManageIntegrations); err != nil {
		return err
	}
	if s.sink == nil {
		return hoist.Errorf(hoist.EUnavailable, "this server delivers to no integration")
	}
	now := s.now()
	var it hoist.Integration
	if err := s.store.View(ctx, func(tx hoist.Tx) (err error) { it, err = tx.Integration(ctx, key); return err }); err != nil {
		return err
	}
	j := &job{it: it, d: hoist.Delivery{ID: hoist.NewID(hoist.DeliveryIDPrefix), IntegrationID: it.ID, State: hoist.DeliveryPending,
		Event: hoist.IntegrationEvent{Type: hoist.EventTest, At: now, Subject: it.ID,
			Data: []byte(`{"message":"a test from Hoist: this integration works","integration":"` + it.Name + `"}`)}}}
	if it.Kind.SIEM() {
		rec, err := hoist.AuditEvent{Actor: a.Name, Action: hoist.EventTest, Subject: it.ID,
			Detail: map[string]any{"message": "a test from Hoist: this integration works"}}.Seal(0, hoist.GenesisHash, now)
		if err != nil {
			return err
		}
		j.recs = []hoist.AuditRecord{rec}
	}
	sendErr := s.attempt(ctx, j)
	err := s.store.Update(ctx, func(tx hoist.Tx) error {
		detail := map[string]any{"name": it.Name, "ok": sendErr == nil}
		if sendErr != nil {
			detail["error"] = truncate(sendErr.Error(), 500)
		}
		return audit(ctx, tx, now, a.Name, "integration.tested", it.ID, detail)
	})
	if sendErr != nil {
		return hoist.WrapError(hoist.EUnavailable, "the test did not get through: "+truncate(sendErr.Error(), 500), sendErr)
	}
	return err
}
