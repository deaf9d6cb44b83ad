package sqlstore

import (
	"context"
	"database/sql"
	"time"

	"github.com/hoist-jit/hoist"
)

// Integrations keep their configuration and delivery state as one JSON
// document; the outbox and the deliveries have columns for what workers
// select on.

func (t *tx) InsertIntegration(ctx context.Context, i hoist.Integration) error {
	data, err := encode(i)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, "insert integration", `INSERT INTO integrations (id, name, version, data) VALUES (?, ?, ?, ?)`, i.ID, i.Name, i.Version, data)
	if hoist.ErrorCode(err) == hoist.EConflict {
		return hoist.Errorf(hoist.EConflict, "an integration named %q exists", i.Name)
	}
	return err
}

func (t *tx) Integration(ctx context.Context, idOrName string) (hoist.Integration, error) {
	return t.oneIntegration(ctx, `SELECT data FROM integrations WHERE id = ? OR name = ? ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END LIMIT 1`, idOrName, idOrName, idOrName)
}

func (t *tx) oneIntegration(ctx context.Context, q string, args ...any) (hoist.Integration, error) {
	rows, err := t.query(ctx, "read integration", q, args...)
	if err != nil {
		return hoist.Integration{}, err
	}
	is, err := scanJSON[hoist.Integration](t, rows)
	if err != nil {
		return hoist.Integration{}, err
	}
	if len(is) == 0 {
		return hoist.Integration{}, hoist.Errorf(hoist.ENotFound, "no integration %q", args[0])
	}
	return is[0], nil
}

func (t *tx) Integrations(ctx context.Context) ([]hoist.Integration, error) {
	rows, err := t.query(ctx, "list integrations", `SELECT data FROM integrations ORDER BY name`)
	if err != nil {
		return nil, err
	}
	return scanJSON[hoist.Integration](t, rows)
}

func (t *tx) LockIntegration(ctx context.Context, id string) (hoist.Integration, error) {
	i, err := t.oneIntegration(ctx, `SELECT data FROM integrations WHERE id = ?`+t.d.SkipLocked, id)
	if hoist.ErrorCode(err) != hoist.ENotFound || t.d.SkipLocked == "" {
		return i, err
	}
	// Skipped: absent, or held by another server.
	if _, err := t.oneIntegration(ctx, `SELECT data FROM integrations WHERE id = ?`, id); err != nil {
		return hoist.Integration{}, err
	}
	return hoist.Integration{}, hoist.Errorf(hoist.EConflict, "integration %s is being delivered by another server", id)
}

func (t *tx) UpdateIntegration(ctx context.Context, i hoist.Integration) error {
	data, err := encode(i)
	if err != nil {
		return err
	}
	res, err := t.exec(ctx, "update integration", `UPDATE integrations SET name = ?, version = ?, data = ? WHERE id = ? AND version = ?`,
		i.Name, i.Version, data, i.ID, i.Version-1)
	if hoist.ErrorCode(err) == hoist.EConflict {
		return hoist.Errorf(hoist.EConflict, "an integration named %q exists", i.Name)
	}
	if err != nil {
		return err
	}
	return expectOne(res, hoist.Errorf(hoist.EConflict, "integration %s was changed by someone else; try again", i.ID))
}

func (t *tx) DeleteIntegration(ctx context.Context, id string) error {
	if _, err := t.exec(ctx, "delete deliveries", `DELETE FROM integration_deliveries WHERE integration_id = ?`, id); err != nil {
		return err
	}
	res, err := t.exec(ctx, "delete integration", `DELETE FROM integrations WHERE id = ?`, id)
	if err != nil {
		return err
	}
	return expectOne(res, hoist.Errorf(hoist.ENotFound, "no integration %s", id))
}

func (t *tx) InsertIntegrationEvent(ctx context.Context, ev hoist.IntegrationEvent) error {
	if ev.Seq == 0 && t.deferSeal {
		return t.insertPendingEvent(ctx, ev)
	}
	data, err := encode(ev)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, "queue event", `INSERT INTO integration_events (seq, data) VALUES (?, ?)`, ev.Seq, data)
	return err
}

func (t *tx) IntegrationEvents(ctx context.Context, after int64, limit int) ([]hoist.IntegrationEvent, error) {
	rows, err := t.query(ctx, "read events", `SELECT data FROM integration_events WHERE seq > ? ORDER BY seq LIMIT ?`, after, hoist.ListLimit(limit))
	if err != nil {
		return nil, err
	}
	return scanJSON[hoist.IntegrationEvent](t, rows)
}

func (t *tx) LastIntegrationEvent(ctx context.Context) (int64, error) {
	var seq sql.NullInt64
	if err := t.tx.QueryRowContext(ctx, `SELECT MAX(seq) FROM integration_events`).Scan(&seq); err != nil {
		return 0, t.store.storeError("read the outbox", err)
	}
	return seq.Int64, nil
}

func (t *tx) InsertDelivery(ctx context.Context, d hoist.Delivery) error {
	_, err := t.exec(ctx, "queue delivery",
		`INSERT INTO integration_deliveries (id, integration_id, event_seq, state, attempts, next_at, last_error, updated_at)
		 VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (integration_id, event_seq) DO NOTHING`,
		d.ID, d.IntegrationID, d.Event.Seq, string(d.State), d.Attempts, micros(d.NextAt), d.LastError, micros(d.UpdatedAt))
	return err
}

const deliveryColumns = `d.id, d.integration_id, d.state, d.attempts, d.next_at, d.last_error, d.updated_at, e.data
	FROM integration_deliveries d JOIN integration_events e ON e.seq = d.event_seq`

func (t *tx) NextDelivery(ctx context.Context, integrationID string) (hoist.Delivery, error) {
	ds, err := t.deliveries(ctx, `SELECT `+deliveryColumns+` WHERE d.integration_id = ? AND d.state = ? ORDER BY d.event_seq LIMIT 1`,
		integrationID, string(hoist.DeliveryPending))
	if err != nil {
		return hoist.Delivery{}, err
	}
	if len(ds) == 0 {
		return hoist.Delivery{}, hoist.Errorf(hoist.ENotFound, "nothing to deliver")
	}
	return ds[0], nil
}

func (t *tx) Delivery(ctx context.Context, id string) (hoist.Delivery, error) {
	ds, err := t.deliveries(ctx, `SELECT `+deliveryColumns+` WHERE d.id = ?`, id)
	if err != nil {
		return hoist.Delivery{}, err
	}
	if len(ds) == 0 {
		return hoist.Delivery{}, hoist.Errorf(hoist.ENotFound, "no delivery %q", id)
	}
	return ds[0], nil
}

func (t *tx) Deliveries(ctx context.Context, f hoist.DeliveryFilter) ([]hoist.Delivery, error) {
	var w where
	if f.IntegrationID != "" {
		w.add("d.integration_id = ?", f.IntegrationID)
	}
	if f.State != "" {
		w.add("d.state = ?", string(f.State))
	}
	return t.deliveries(ctx, `SELECT `+deliveryColumns+w.String()+` ORDER BY d.event_seq, d.id LIMIT ?`, append(w.args, hoist.ListLimit(f.Limit))...)
}

func (t *tx) deliveries(ctx context.Context, q string, args ...any) ([]hoist.Delivery, error) {
	rows, err := t.query(ctx, "read deliveries", q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []hoist.Delivery
	for rows.Next() {
		var (
			d             hoist.Delivery
			state, data   string
			next, updated int64
		)
		if err := rows.Scan(&d.ID, &d.IntegrationID, &state, &d.Attempts, &next, &d.LastError, &updated, &data); err != nil {
			return nil, t.store.storeError("read deliveries", err)
		}
		if err := decode(data, &d.Event); err != nil {
			return nil, err
		}
		d.State, d.NextAt, d.UpdatedAt = hoist.DeliveryState(state), fromMicros(next), fromMicros(updated)
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, t.store.storeError("read deliveries", err)
	}
	return out, nil
}

func (t *tx) UpdateDelivery(ctx context.Context, d hoist.Delivery) error {
	res, err := t.exec(ctx, "update delivery", `UPDATE integration_deliveries SET state = ?, attempts = ?, next_at = ?, last_error = ?, updated_at = ? WHERE id = ?`,
		string(d.State), d.Attempts, micros(d.NextAt), d.LastError, micros(d.UpdatedAt), d.ID)
	if err != nil {
		return err
	}
	return expectOne(res, hoist.Errorf(hoist.ENotFound, "no delivery %s", d.ID))
}

func (t *tx) CountDeliveries(ctx context.Context, integrationID string) (map[hoist.DeliveryState]int, error) {
	rows, err := t.query(ctx, "count deliveries", `SELECT state, COUNT(*) FROM integration_deliveries WHERE integration_id = ? GROUP BY state`, integrationID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[hoist.DeliveryState]int{}
	for rows.Next() {
		var (
			state string
			n     int
		)
		if err := rows.Scan(&state, &n); err != nil {
			return nil, t.store.storeError("count deliveries", err)
		}
		out[hoist.DeliveryState(state)] = n
	}
	if err := rows.Err(); err != nil {
		return nil, t.store.storeError("count deliveries", err)
	}
	return out, nil
}

func (t *tx) PruneIntegrations(ctx context.Context, upTo int64, deliveredBefore time.Time) error {
	if _, err := t.exec(ctx, "prune deliveries", `DELETE FROM integration_deliveries WHERE state = ? AND updated_at < ?`,
		string(hoist.DeliveryDelivered), micros(deliveredBefore)); err != nil {
		return err
	}
	_, err := t.exec(ctx, "prune the outbox", `DELETE FROM integration_events WHERE seq <= ?
		AND NOT EXISTS (SELECT 1 FROM integration_deliveries d WHERE d.event_seq = integration_events.seq)`, upTo)
	return err
}

func (t *tx) IntegrationRef(ctx context.Context, integrationID, subject string) (string, error) {
	var ref string
	err := t.tx.QueryRowContext(ctx, t.bind(`SELECT ref FROM integration_refs WHERE integration_id = ? AND subject = ?`), integrationID, subject).Scan(&ref)
	if isNoRows(err) {
		return "", nil
	}
	if err != nil {
		return "", t.store.storeError("read an integration reference", err)
	}
	return ref, nil
}

func (t *tx) PutIntegrationRef(ctx context.Context, integrationID, subject, ref string) error {
	_, err := t.exec(ctx, "keep an integration reference", `INSERT INTO integration_refs (integration_id, subject, ref) VALUES (?, ?, ?)
		ON CONFLICT (integration_id, subject) DO UPDATE SET ref = excluded.ref`, integrationID, subject, ref)
	return err
}
