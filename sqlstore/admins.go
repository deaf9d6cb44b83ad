package sqlstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/hoist-jit/hoist"
)

const adminColumns = `id, name, role, password_hash, created_at, disabled, failed_logins, last_failed_login, unix_names, approver_groups`

func (t *tx) InsertAdmin(ctx context.Context, a hoist.Admin) error {
	_, err := t.exec(ctx, "insert admin",
		`INSERT INTO admins (`+adminColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		a.ID, a.Name, string(a.Role), a.PasswordHash, micros(a.CreatedAt), a.Disabled, a.FailedLogins, micros(a.LastFailedLogin),
		nameList(a.UnixNames), nameList(a.ApproverGroups))
	if hoist.ErrorCode(err) == hoist.EConflict {
		return hoist.WrapError(hoist.EConflict, "user "+a.Name+" already exists", err)
	}
	return err
}

func (t *tx) AdminByName(ctx context.Context, name string) (hoist.Admin, error) {
	return t.oneAdmin(ctx, `name = ?`, name)
}

func (t *tx) Admin(ctx context.Context, id string) (hoist.Admin, error) {
	return t.oneAdmin(ctx, `id = ?`, id)
}

func (t *tx) oneAdmin(ctx context.Context, cond string, arg string) (hoist.Admin, error) {
	as, err := t.admins(ctx, ` WHERE `+cond, arg)
	if err != nil {
		return hoist.Admin{}, err
	}
	if len(as) == 0 {
		return hoist.Admin{}, hoist.Errorf(hoist.ENotFound, "no user %s", arg)
	}
	return as[0], nil
}

func (t *tx) Admins(ctx context.Context) ([]hoist.Admin, error) {
	return t.admins(ctx, ``)
}

func (t *tx) admins(ctx context.Context, where string, args ...any) ([]hoist.Admin, error) {
	rows, err := t.query(ctx, "read admins", `SELECT `+adminColumns+` FROM admins`+where+` ORDER BY name`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []hoist.Admin
	for rows.Next() {
		var (
			a                 hoist.Admin
			role              string
			created, lastFail int64
			unix, groups      string
		)
		if err := rows.Scan(&a.ID, &a.Name, &role, &a.PasswordHash, &created, &a.Disabled, &a.FailedLogins, &lastFail, &unix, &groups); err != nil {
			return nil, t.store.storeError("read admins", err)
		}
		a.Role, a.CreatedAt, a.LastFailedLogin = hoist.Role(role), fromMicros(created), fromMicros(lastFail)
		if a.UnixNames, err = parseNameList(unix); err != nil {
			return nil, t.store.storeError("read admins", err)
		}
		if a.ApproverGroups, err = parseNameList(groups); err != nil {
			return nil, t.store.storeError("read admins", err)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, t.store.storeError("read admins", err)
	}
	return out, nil
}

func (t *tx) UpdateAdmin(ctx context.Context, a hoist.Admin) error {
	res, err := t.exec(ctx, "update admin",
		`UPDATE admins SET role = ?, password_hash = ?, disabled = ?, failed_logins = ?, last_failed_login = ?, unix_names = ?, approver_groups = ? WHERE id = ?`,
		string(a.Role), a.PasswordHash, a.Disabled, a.FailedLogins, micros(a.LastFailedLogin), nameList(a.UnixNames), nameList(a.ApproverGroups), a.ID)
	if err != nil {
		return err
	}
	return expectOne(res, hoist.Errorf(hoist.ENotFound, "no user %s", a.Name))
}

func (t *tx) DeleteAdmin(ctx context.Context, id string) error {
	if _, err := t.exec(ctx, "delete tokens", `DELETE FROM tokens WHERE admin_id = ?`, id); err != nil {
		return err
	}
	res, err := t.exec(ctx, "delete admin", `DELETE FROM admins WHERE id = ?`, id)
	if err != nil {
		return err
	}
	return expectOne(res, hoist.Errorf(hoist.ENotFound, "no user %s", id))
}

func (t *tx) InsertToken(ctx context.Context, tok hoist.Token) error {
	_, err := t.exec(ctx, "insert token",
		`INSERT INTO tokens (hash, admin_id, created_at, expires_at) VALUES (?, ?, ?, ?)`,
		tok.Hash, tok.AdminID, micros(tok.CreatedAt), micros(tok.ExpiresAt))
	return err
}

func (t *tx) Token(ctx context.Context, hash string) (hoist.Token, error) {
	var (
		tok              hoist.Token
		created, expires int64
	)
	err := t.tx.QueryRowContext(ctx, t.bind(`SELECT hash, admin_id, created_at, expires_at FROM tokens WHERE hash = ?`), hash).
		Scan(&tok.Hash, &tok.AdminID, &created, &expires)
	if isNoRows(err) {
		return hoist.Token{}, hoist.Errorf(hoist.ENotFound, "no such token")
	}
	if err != nil {
		return hoist.Token{}, t.store.storeError("read token", err)
	}
	tok.CreatedAt, tok.ExpiresAt = fromMicros(created), fromMicros(expires)
	return tok, nil
}

func (t *tx) DeleteToken(ctx context.Context, hash string) error {
	_, err := t.exec(ctx, "delete token", `DELETE FROM tokens WHERE hash = ?`, hash)
	return err
}

func (t *tx) DeleteTokensOf(ctx context.Context, adminID string) error {
	_, err := t.exec(ctx, "delete tokens", `DELETE FROM tokens WHERE admin_id = ?`, adminID)
	return err
}

func (t *tx) ExtendToken(ctx context.Context, hash string, expires time.Time) error {
	res, err := t.exec(ctx, "extend token", `UPDATE tokens SET expires_at = ? WHERE hash = ?`, micros(expires), hash)
	if err != nil {
		return err
	}
	return expectOne(res, hoist.Errorf(hoist.ENotFound, "no such token"))
}

func (t *tx) DeleteExpiredTokens(ctx context.Context, now time.Time) error {
	_, err := t.exec(ctx, "delete tokens", `DELETE FROM tokens WHERE expires_at <= ?`, micros(now))
	return err
}

func (t *tx) RelaxDurability(ctx context.Context) error {
	if t.d.RelaxDurability == "" {
		return nil
	}
	if _, err := t.exec(ctx, "relax durability", t.d.RelaxDurability); err != nil {
		return err
	}
	t.relaxed = true
	return nil
}

// nameList is a list of names as its column holds it: a JSON array, "[]"
// when empty.
func nameList(names []string) string {
	if len(names) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(names) // strings always marshal
	return string(b)
}

// parseNameList reads a column written by nameList; it never returns nil,
// so that an account shows [] rather than null.
func parseNameList(s string) ([]string, error) {
	out := []string{}
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, err
	}
	if out == nil {
		out = []string{}
	}
	return out, nil
}
