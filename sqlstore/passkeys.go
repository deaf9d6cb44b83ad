package sqlstore

import (
	"context"

	"github.com/hoist-jit/hoist"
)

const passkeyColumns = `id, admin_id, name, created_at, last_used, credential`

func (t *tx) InsertPasskey(ctx context.Context, p hoist.Passkey) error {
	_, err := t.exec(ctx, "insert passkey", `INSERT INTO passkeys (`+passkeyColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
		p.ID, p.AdminID, p.Name, micros(p.CreatedAt), micros(p.LastUsed), string(p.Credential))
	return err
}

func (t *tx) Passkeys(ctx context.Context, adminID string) ([]hoist.Passkey, error) {
	rows, err := t.query(ctx, "read passkeys", `SELECT `+passkeyColumns+` FROM passkeys WHERE admin_id = ? ORDER BY created_at, id`, adminID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []hoist.Passkey
	for rows.Next() {
		var (
			p             hoist.Passkey
			created, used int64
			cred          string
		)
		if err := rows.Scan(&p.ID, &p.AdminID, &p.Name, &created, &used, &cred); err != nil {
			return nil, t.store.storeError("read passkeys", err)
		}
		p.CreatedAt, p.LastUsed, p.Credential = fromMicros(created), fromMicros(used), []byte(cred)
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, t.store.storeError("read passkeys", err)
	}
	return out, nil
}

func (t *tx) UpdatePasskey(ctx context.Context, p hoist.Passkey) error {
	res, err := t.exec(ctx, "update passkey", `UPDATE passkeys SET credential = ?, last_used = ? WHERE admin_id = ? AND id = ?`,
		string(p.Credential), micros(p.LastUsed), p.AdminID, p.ID)
	if err != nil {
		return err
	}
	return expectOne(res, hoist.Errorf(hoist.ENotFound, "no such passkey"))
}

func (t *tx) DeletePasskey(ctx context.Context, adminID, id string) error {
	res, err := t.exec(ctx, "delete passkey", `DELETE FROM passkeys WHERE admin_id = ? AND id = ?`, adminID, id)
	if err != nil {
		return err
	}
	return expectOne(res, hoist.Errorf(hoist.ENotFound, "no such passkey"))
}
