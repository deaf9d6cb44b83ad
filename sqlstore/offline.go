package sqlstore

import (
	"context"

	"github.com/hoist-jit/hoist"
)

// Offline approval's records: each agent's offline key and the emergency
// codes, one JSON document each.

func (t *tx) OfflineKey(ctx context.Context, agentID string) (hoist.OfflineKeyRecord, error) {
	rows, err := t.query(ctx, "read offline key", `SELECT data FROM offline_keys WHERE agent_id = ?`, agentID)
	if err != nil {
		return hoist.OfflineKeyRecord{}, err
	}
	ks, err := scanJSON[hoist.OfflineKeyRecord](t, rows)
	if err != nil {
		return hoist.OfflineKeyRecord{}, err
	}
	if len(ks) == 0 {
		return hoist.OfflineKeyRecord{}, hoist.Errorf(hoist.ENotFound, "agent %s has no offline key", agentID)
	}
	return ks[0], nil
}

func (t *tx) PutOfflineKey(ctx context.Context, k hoist.OfflineKeyRecord) error {
	data, err := encode(k)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, "store offline key",
		`INSERT INTO offline_keys (agent_id, data) VALUES (?, ?) ON CONFLICT (agent_id) DO UPDATE SET data = excluded.data`, k.AgentID, data)
	return err
}

func (t *tx) InsertEmergencyCode(ctx context.Context, c hoist.EmergencyCode) error {
	data, err := encode(c)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, "insert emergency code", `INSERT INTO emergency_codes (id, version, data) VALUES (?, ?, ?)`, c.ID, c.Version, data)
	return err
}

func (t *tx) EmergencyCodes(ctx context.Context) ([]hoist.EmergencyCode, error) {
	if t.bundle != nil {
		return decodeAll[hoist.EmergencyCode](t.bundle.codes) // see bundleread.go
	}
	rows, err := t.query(ctx, "list emergency codes", `SELECT data FROM emergency_codes ORDER BY id DESC`)
	if err != nil {
		return nil, err
	}
	return scanJSON[hoist.EmergencyCode](t, rows)
}

func (t *tx) UpdateEmergencyCode(ctx context.Context, c hoist.EmergencyCode) error {
	data, err := encode(c)
	if err != nil {
		return err
	}
	res, err := t.exec(ctx, "update emergency code", `UPDATE emergency_codes SET version = ?, data = ? WHERE id = ? AND version = ?`,
		c.Version, data, c.ID, c.Version-1)
	if err != nil {
		return err
	}
	return expectOne(res, hoist.Errorf(hoist.EConflict, "emergency code %s was changed by someone else; try again", c.ID))
}
