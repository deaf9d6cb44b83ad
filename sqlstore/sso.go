package sqlstore

import (
	"context"
	"time"

	"github.com/hoist-jit/hoist"
)

const ssoLoginColumns = `key, nonce, verifier, next, redirect, challenge, admin_id, expires_at`

func (t *tx) InsertSSOLogin(ctx context.Context, l hoist.SSOLogin, now time.Time) error {
	if _, err := t.exec(ctx, "prune sign-ins", `DELETE FROM sso_logins WHERE expires_at <= ?`, micros(now)); err != nil {
		return err
	}
	_, err := t.exec(ctx, "insert sign-in",
		`INSERT INTO sso_logins (`+ssoLoginColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		l.Key, l.Nonce, l.Verifier, l.Next, l.Redirect, l.Challenge, l.AdminID, micros(l.ExpiresAt))
	return err
}

func (t *tx) TakeSSOLogin(ctx context.Context, key string, now time.Time) (hoist.SSOLogin, error) {
	var (
		l       hoist.SSOLogin
		expires int64
	)
	// DELETE … RETURNING: of two replicas spending the same sign-in, one
	// gets the row and the other nothing.
	err := t.tx.QueryRowContext(ctx, t.bind(`DELETE FROM sso_logins WHERE key = ? RETURNING `+ssoLoginColumns), key).
		Scan(&l.Key, &l.Nonce, &l.Verifier, &l.Next, &l.Redirect, &l.Challenge, &l.AdminID, &expires)
	if isNoRows(err) {
		return l, hoist.Errorf(hoist.ENotFound, "no such sign-in in progress")
	}
	if err != nil {
		return l, t.store.storeError("take sign-in", err)
	}
	l.ExpiresAt = fromMicros(expires)
	if !now.Before(l.ExpiresAt) {
		return hoist.SSOLogin{}, hoist.Errorf(hoist.ENotFound, "the sign-in took too long")
	}
	return l, nil
}

func (t *tx) SSOAccount(ctx context.Context, issuer, subject string) (string, error) {
	var id string
	err := t.tx.QueryRowContext(ctx, t.bind(`SELECT admin_id FROM sso_identities WHERE issuer = ? AND subject = ?`), issuer, subject).Scan(&id)
	if isNoRows(err) {
		return "", hoist.Errorf(hoist.ENotFound, "no account for this identity")
	}
	if err != nil {
		return "", t.store.storeError("read identity", err)
	}
	return id, nil
}

func (t *tx) LinkSSOAccount(ctx context.Context, issuer, subject, adminID string) error {
	_, err := t.exec(ctx, "link identity", `INSERT INTO sso_identities (issuer, subject, admin_id) VALUES (?, ?, ?)`, issuer, subject, adminID)
	return err
}
