package sqlstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hoist-jit/hoist"
)

// Recordings are two tables: one row per recording (its description as
// JSON, with the columns queries need) and its bytes in pieces, numbered by
// their offset, as the agent uploaded them.

func (t *tx) InsertRecording(ctx context.Context, r hoist.Recording) error {
	data, err := json.Marshal(r)
	if err != nil {
		return hoist.WrapError(hoist.EInternal, "cannot encode a recording", err)
	}
	res, err := t.exec(ctx, "store a recording",
		`INSERT INTO recordings (id, session_id, stored, size, complete, data) VALUES (?, ?, ?, 0, 0, ?) ON CONFLICT (id) DO NOTHING`,
		r.ID, r.Session, micros(r.Stored), string(data))
	if err != nil {
		return err
	}
	return expectOne(res, hoist.Errorf(hoist.EConflict, "recording %s exists", r.ID))
}

func (t *tx) Recording(ctx context.Context, id string) (hoist.Recording, error) {
	rows, err := t.query(ctx, "read a recording", `SELECT size, complete, data FROM recordings WHERE id = ?`, id)
	if err != nil {
		return hoist.Recording{}, err
	}
	recs, err := t.scanRecordings(rows)
	if err != nil {
		return hoist.Recording{}, err
	}
	if len(recs) == 0 {
		return hoist.Recording{}, hoist.Errorf(hoist.ENotFound, "no recording %s", id)
	}
	return recs[0], nil
}

func (t *tx) Recordings(ctx context.Context, sessionID string) ([]hoist.Recording, error) {
	rows, err := t.query(ctx, "read recordings", `SELECT size, complete, data FROM recordings WHERE session_id = ? ORDER BY stored, id`, sessionID)
	if err != nil {
		return nil, err
	}
	return t.scanRecordings(rows)
}

func (t *tx) scanRecordings(rows interface {
	Next() bool
	Scan(...any) error
	Err() error
	Close() error
}) ([]hoist.Recording, error) {
	defer rows.Close()
	var out []hoist.Recording
	for rows.Next() {
		var (
			r        hoist.Recording
			size     int64
			complete int
			data     string
		)
		if err := rows.Scan(&size, &complete, &data); err != nil {
			return nil, t.store.storeError("read recordings", err)
		}
		if err := json.Unmarshal([]byte(data), &r); err != nil {
			return nil, hoist.WrapError(hoist.EInternal, "a stored recording is damaged", err)
		}
		r.Size, r.Complete = size, complete != 0
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, t.store.storeError("read recordings", err)
	}
	return out, nil
}

func (t *tx) AppendRecording(ctx context.Context, id string, offset int64, data []byte, complete bool) error {
	done := 0
	if complete {
		done = 1
	}
	res, err := t.exec(ctx, "store a recording's bytes",
		`UPDATE recordings SET size = size + ?, complete = ? WHERE id = ? AND size = ? AND complete = 0`,
		int64(len(data)), done, id, offset)
	if err != nil {
		return err
	}
	if err := expectOne(res, hoist.Errorf(hoist.EConflict, "recording %s does not end at %d, or is complete", id, offset)); err != nil {
		return err
	}
	if len(data) == 0 {
		return nil
	}
	_, err = t.exec(ctx, "store a recording's bytes",
		`INSERT INTO recording_chunks (recording_id, pos, data) VALUES (?, ?, ?)`, id, offset, data)
	return err
}

func (t *tx) RecordingData(ctx context.Context, id string, fn func([]byte) error) error {
	rows, err := t.query(ctx, "read a recording's bytes", `SELECT data FROM recording_chunks WHERE recording_id = ? ORDER BY pos`, id)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return t.store.storeError("read a recording's bytes", err)
		}
		if err := fn(data); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return t.store.storeError("read a recording's bytes", err)
	}
	return nil
}

func (t *tx) DeleteRecordings(ctx context.Context, before time.Time, limit int) (int, error) {
	rows, err := t.query(ctx, "find old recordings", `SELECT id FROM recordings WHERE stored < ? ORDER BY stored LIMIT ?`, micros(before), max(limit, 1))
	if err != nil {
		return 0, err
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, t.store.storeError("find old recordings", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, t.store.storeError("find old recordings", err)
	}
	for _, id := range ids {
		if _, err := t.exec(ctx, "delete a recording", `DELETE FROM recording_chunks WHERE recording_id = ?`, id); err != nil {
			return 0, err
		}
		if _, err := t.exec(ctx, "delete a recording", `DELETE FROM recordings WHERE id = ?`, id); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}
