package sqlstore

import (
	"context"
	"time"

	"github.com/hoist-jit/hoist"
)

func (t *tx) LoginCounter(ctx context.Context, key string) (hoist.LoginCounter, error) {
	c := hoist.LoginCounter{Key: key}
	var last, expires int64
	err := t.tx.QueryRowContext(ctx, t.bind(`SELECT failures, last_at, expires_at FROM login_throttle WHERE name = ?`), key).
		Scan(&c.Failures, &last, &expires)
	if isNoRows(err) {
		return c, nil
	}
	if err != nil {
		return c, t.store.storeError("read login counter", err)
	}
	c.Last, c.Expires = fromMicros(last), fromMicros(expires)
	return c, nil
}

func (t *tx) PutLoginCounter(ctx context.Context, was, c hoist.LoginCounter) error {
	lost := hoist.Errorf(hoist.EConflict, "a concurrent sign-in changed the login counter; try again")
	if was.Last.IsZero() {
		// ON CONFLICT rather than a unique violation, which would end a
		// PostgreSQL transaction.
		res, err := t.exec(ctx, "insert login counter",
			`INSERT INTO login_throttle (name, failures, last_at, expires_at) VALUES (?, ?, ?, ?) ON CONFLICT (name) DO NOTHING`,
			c.Key, c.Failures, micros(c.Last), micros(c.Expires))
		if err != nil {
			return err
		}
		return expectOne(res, lost)
	}
	res, err := t.exec(ctx, "update login counter",
		`UPDATE login_throttle SET failures = ?, last_at = ?, expires_at = ? WHERE name = ? AND failures = ? AND last_at = ?`,
		c.Failures, micros(c.Last), micros(c.Expires), c.Key, was.Failures, micros(was.Last))
	if err != nil {
		return err
	}
	return expectOne(res, lost)
}

func (t *tx) DeleteLoginCounter(ctx context.Context, key string) error {
	_, err := t.exec(ctx, "delete login counter", `DELETE FROM login_throttle WHERE name = ?`, key)
	return err
}

func (t *tx) PruneLoginCounters(ctx context.Context, now time.Time, keep int) error {
	if _, err := t.exec(ctx, "prune login counters", `DELETE FROM login_throttle WHERE expires_at <= ?`, micros(now)); err != nil {
		return err
	}
	// The expiry of the first counter past keep, newest first: that one and
	// every one expiring no later go.
	var cut int64
	err := t.tx.QueryRowContext(ctx, t.bind(`SELECT expires_at FROM login_throttle ORDER BY expires_at DESC LIMIT 1 OFFSET ?`), max(keep, 0)).Scan(&cut)
	if isNoRows(err) {
		return nil
	}
	if err != nil {
		return t.store.storeError("count login counters", err)
	}
	_, err = t.exec(ctx, "prune login counters", `DELETE FROM login_throttle WHERE expires_at <= ?`, cut)
	return err
}
