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

func (t *tx) TOTP(ctx context.Context, adminID string) (hoist.TOTP, error) {
	o := hoist.TOTP{AdminID: adminID}
	var confirmed, created int64
	err := t.tx.QueryRowContext(ctx, t.bind(`SELECT secret, confirmed_at, last_step, created_at FROM totp_secrets WHERE admin_id = ?`), adminID).
		Scan(&o.Secret, &confirmed, &o.LastStep, &created)
	if isNoRows(err) {
		return o, hoist.Errorf(hoist.ENotFound, "no authenticator app is set up")
	}
	if err != nil {
		return o, t.store.storeError("read TOTP", err)
	}
	o.ConfirmedAt, o.CreatedAt = fromMicros(confirmed), fromMicros(created)
	return o, nil
}

func (t *tx) PutTOTP(ctx context.Context, o hoist.TOTP) error {
	_, err := t.exec(ctx, "store TOTP", `INSERT INTO totp_secrets (admin_id, secret, confirmed_at, last_step, created_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (admin_id) DO UPDATE SET secret = excluded.secret, confirmed_at = excluded.confirmed_at, last_step = excluded.last_step, created_at = excluded.created_at`,
		o.AdminID, o.Secret, micros(o.ConfirmedAt), o.LastStep, micros(o.CreatedAt))
	return err
}

func (t *tx) DeleteTOTP(ctx context.Context, adminID string) error {
	res, err := t.exec(ctx, "delete TOTP", `DELETE FROM totp_secrets WHERE admin_id = ?`, adminID)
	if err != nil {
		return err
	}
	return expectOne(res, hoist.Errorf(hoist.ENotFound, "no authenticator app is set up"))
}
