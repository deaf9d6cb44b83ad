package sqlstore

import (
	"context"
	"slices"
	"time"

	"github.com/hoist-jit/hoist"
)

func (t *tx) InsertAgent(ctx context.Context, a hoist.AgentRecord) error {
	data, err := encode(a)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, "insert agent", `INSERT INTO agents (id, data) VALUES (?, ?)`, a.ID, data)
	return err
}

func (t *tx) AgentByID(ctx context.Context, id string) (hoist.AgentRecord, error) {
	if data, ok := t.written["agent\x00"+id]; ok {
		var a hoist.AgentRecord
		return a, decode(data, &a)
	}
	var data string
	err := t.tx.QueryRowContext(ctx, t.bind(`SELECT data FROM agents WHERE id = ?`), id).Scan(&data)
	if isNoRows(err) {
		return hoist.AgentRecord{}, hoist.Errorf(hoist.ENotFound, "no agent %s", id)
	}
	if err != nil {
		return hoist.AgentRecord{}, t.store.storeError("read agent", err)
	}
	var a hoist.AgentRecord
	if err := decode(data, &a); err != nil {
		return hoist.AgentRecord{}, err
	}
	// A decision reads its agent up to three times (the grant, and the
	// computer group of each outbox event): in a transaction that seals
	// after commit, and so relies on no lock to see other writers' later
	// commits, the first read stands for the rest.
	if t.deferSeal {
		t.remember("agent", id, data)
	}
	return a, nil
}

func (t *tx) Agents(ctx context.Context) ([]hoist.AgentRecord, error) {
	rows, err := t.query(ctx, "list agents", `SELECT data FROM agents ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return scanJSON[hoist.AgentRecord](t, rows)
}

func (t *tx) UpdateAgent(ctx context.Context, a hoist.AgentRecord) error {
	data, err := encode(a)
	if err != nil {
		return err
	}
	res, err := t.exec(ctx, "update agent", `UPDATE agents SET data = ? WHERE id = ?`, data, a.ID)
	if err != nil {
		return err
	}
	if err := expectOne(res, hoist.Errorf(hoist.ENotFound, "no agent %s", a.ID)); err != nil {
		return err
	}
	if _, ok := t.written["agent\x00"+a.ID]; ok {
		t.remember("agent", a.ID, data)
	}
	return nil
}

func (t *tx) InsertEnrollToken(ctx context.Context, et hoist.EnrollToken) error {
	data, err := encode(et)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, "insert enrolment token", `INSERT INTO enroll_tokens (hash, uses_left, expires_at, data) VALUES (?, ?, ?, ?)`,
		et.Hash, et.UsesLeft, micros(et.ExpiresAt), data)
	return err
}

func (t *tx) EnrollToken(ctx context.Context, hash string) (hoist.EnrollToken, error) {
	var (
		data string
		uses int
	)
	err := t.tx.QueryRowContext(ctx, t.bind(`SELECT data, uses_left FROM enroll_tokens WHERE hash = ?`), hash).Scan(&data, &uses)
	if isNoRows(err) {
		return hoist.EnrollToken{}, hoist.Errorf(hoist.ENotFound, "the enrolment token is unknown, used up or expired")
	}
	if err != nil {
		return hoist.EnrollToken{}, t.store.storeError("read enrolment token", err)
	}
	var et hoist.EnrollToken
	if err := decode(data, &et); err != nil {
		return hoist.EnrollToken{}, err
	}
	// The column counts the uses; the data keeps what the token was made with.
	et.Hash, et.UsesLeft = hash, uses
	return et, nil
}

func (t *tx) SpendEnrollToken(ctx context.Context, hash string, now time.Time) error {
	// The condition is checked again by the UPDATE itself after any other
	// spend of the row commits (READ COMMITTED on PostgreSQL re-reads the
	// row it waited for; SQLite has one writer), so the last use is spent
	// once.
	res, err := t.exec(ctx, "use enrolment token",
		`UPDATE enroll_tokens SET uses_left = uses_left - 1 WHERE hash = ? AND uses_left > 0 AND expires_at > ?`, hash, micros(now))
	if err != nil {
		return err
	}
	return expectOne(res, hoist.Errorf(hoist.ENotFound, "the enrolment token is unknown, used up or expired"))
}

func (t *tx) AppendAgentEvent(ctx context.Context, ev hoist.AgentEvent) (int64, error) {
	data, err := encode(ev)
	if err != nil {
		return 0, err
	}
	if ev.AgentID == hoist.AllAgents {
		// A broadcast says only "something changed; check in": the latest
		// one is all an agent needs, so older ones go.
		if _, err := t.exec(ctx, "drop older broadcasts", `DELETE FROM agent_events WHERE agent_id = ?`, hoist.AllAgents); err != nil {
			return 0, err
		}
	}
	if err := t.lockAgentEvents(ctx, ev.AgentID); err != nil {
		return 0, err
	}
	var seq int64
	err = t.tx.QueryRowContext(ctx, t.bind(`INSERT INTO agent_events (agent_id, data) VALUES (?, ?) RETURNING seq`), ev.AgentID, data).Scan(&seq)
	if err != nil {
		return 0, t.store.storeError("queue an agent event", err)
	}
	return seq, nil
}

// lockAgentEvents takes the lock on agentID's event queue once per
// transaction (see Dialect.LockAgentEvents). A broadcast takes none: it
// only says "check in", which an agent does at its next check-in anyway,
// so one passed over costs latency, never a decision.
func (t *tx) lockAgentEvents(ctx context.Context, agentID string) error {
	if t.d.LockAgentEvents == "" || agentID == hoist.AllAgents || t.eventLocks[agentID] {
		return nil
	}
	if _, err := t.tx.ExecContext(ctx, t.bind(t.d.LockAgentEvents), agentID); err != nil {
		return t.store.storeError("lock an agent's event queue", err)
	}
	if t.eventLocks == nil {
		t.eventLocks = map[string]bool{}
	}
	t.eventLocks[agentID] = true
	return nil
}

func (t *tx) AgentEvents(ctx context.Context, agentID string, after int64, limit int) ([]hoist.AgentEvent, error) {
	rows, err := t.query(ctx, "read agent events",
		`SELECT seq, agent_id, data FROM agent_events WHERE agent_id IN (?, ?) AND seq > ? ORDER BY seq LIMIT ?`, agentID, hoist.AllAgents, after, hoist.ListLimit(limit))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []hoist.AgentEvent
	for rows.Next() {
		var (
			seq      int64
			to, data string
		)
		if err := rows.Scan(&seq, &to, &data); err != nil {
			return nil, t.store.storeError("read agent events", err)
		}
		var ev hoist.AgentEvent
		if err := decode(data, &ev); err != nil {
			return nil, err
		}
		ev.Seq, ev.AgentID = seq, to
		out = append(out, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, t.store.storeError("read agent events", err)
	}
	return out, nil
}

func (t *tx) MarkDelivered(ctx context.Context, id string) (bool, error) {
	// ON CONFLICT rather than a unique violation: in PostgreSQL a failed
	// statement aborts the whole transaction.
	res, err := t.exec(ctx, "mark delivered", `INSERT INTO delivered (id) VALUES (?) ON CONFLICT (id) DO NOTHING`, id)
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// NotifyAgent queues the notification, to be sent after the commit by the
// store's notifier (see notify.go).
func (t *tx) NotifyAgent(ctx context.Context, agentID string) error {
	if t.d.NotifyAgent != "" && !slices.Contains(t.notify, agentID) {
		t.notify = append(t.notify, agentID)
	}
	return nil
}
