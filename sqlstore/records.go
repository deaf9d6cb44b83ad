package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/hoist-jit/hoist"
)

// Requests and sessions are stored as their JSON, with the fields that
// queries select on copied into columns. The JSON keeps the full history
// without a column per field, and both dialects store it the same way.

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.UnixMicro(n).UTC()
}

func encode(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", hoist.WrapError(hoist.EInternal, "cannot encode record", err)
	}
	return string(b), nil
}

func decode(data string, v any) error {
	if err := json.Unmarshal([]byte(data), v); err != nil {
		return hoist.WrapError(hoist.EInternal, "a stored record is unreadable", err)
	}
	return nil
}

func (t *tx) InsertRequest(ctx context.Context, r hoist.Request) error {
	data, err := encode(r)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, "insert request",
		`INSERT INTO requests (id, username, host, agent, state, created_at, expires_at, version, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		r.ID, r.User, r.Host, r.Agent, string(r.State), micros(r.CreatedAt), micros(r.ExpiresAt), r.Version, data)
	if hoist.ErrorCode(err) == hoist.EConflict {
		return hoist.WrapError(hoist.EConflict, "this user already has an open request on this agent (or host), or the id is taken", err)
	}
	if err == nil {
		t.remember("request", r.ID, data)
	}
	return err
}

func (t *tx) Request(ctx context.Context, id string) (hoist.Request, error) {
	if data, ok := t.written["request\x00"+id]; ok {
		var r hoist.Request
		return r, decode(data, &r)
	}
	rs, err := t.Requests(ctx, hoist.RequestFilter{IDs: []string{id}, Limit: 1})
	if err != nil {
		return hoist.Request{}, err
	}
	if len(rs) == 0 {
		return hoist.Request{}, hoist.Errorf(hoist.ENotFound, "no request %s", id)
	}
	return rs[0], nil
}

func (t *tx) Requests(ctx context.Context, f hoist.RequestFilter) ([]hoist.Request, error) {
	var w where
	if len(f.IDs) > 0 {
		w.add("id IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(f.IDs)), ", ")+")", anys(f.IDs)...)
	}
	if f.State != "" {
		w.add("state = ?", string(f.State))
	}
	if f.User != "" {
		w.add("username = ?", f.User)
	}
	if f.Host != "" {
		w.add("host = ?", f.Host)
	}
	if f.Agent != "" {
		w.add("agent = ?", f.Agent)
	}
	if !f.PendingBefore.IsZero() {
		w.add("state = ? AND expires_at < ?", string(hoist.RequestPending), micros(f.PendingBefore))
	}
	rows, err := t.query(ctx, "list requests",
		`SELECT data FROM requests`+w.String()+` ORDER BY created_at DESC, id DESC LIMIT ?`,
		append(w.args, hoist.ListLimit(f.Limit))...)
	if err != nil {
		return nil, err
	}
	return scanJSON[hoist.Request](t, rows)
}

func (t *tx) UpdateRequest(ctx context.Context, r hoist.Request) error {
	data, err := encode(r)
	if err != nil {
		return err
	}
	res, err := t.exec(ctx, "update request",
		`UPDATE requests SET state = ?, expires_at = ?, version = ?, data = ? WHERE id = ? AND version = ?`,
		string(r.State), micros(r.ExpiresAt), r.Version, data, r.ID, r.Version-1)
	if err != nil {
		return err
	}
	if err := expectOne(res, hoist.Errorf(hoist.EConflict, "request %s was changed by someone else; reload and try again", r.ID)); err != nil {
		return err
	}
	t.remember("request", r.ID, data)
	return nil
}

func (t *tx) InsertSession(ctx context.Context, s hoist.Session) error {
	data, err := encode(s)
	if err != nil {
		return err
	}
	_, err = t.exec(ctx, "insert session",
		`INSERT INTO sessions (id, request_id, username, host, state, not_after, version, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		s.ID, s.RequestID, s.User, s.Host, string(s.State), micros(s.NotAfter), s.Version, data)
	if err == nil {
		t.remember("session", s.ID, data)
	}
	return err
}

func (t *tx) Session(ctx context.Context, id string) (hoist.Session, error) {
	if data, ok := t.written["session\x00"+id]; ok {
		var s hoist.Session
		return s, decode(data, &s)
	}
	rows, err := t.query(ctx, "read session", `SELECT data FROM sessions WHERE id = ?`, id)
	if err != nil {
		return hoist.Session{}, err
	}
	ss, err := scanJSON[hoist.Session](t, rows)
	if err != nil {
		return hoist.Session{}, err
	}
	if len(ss) == 0 {
		return hoist.Session{}, hoist.Errorf(hoist.ENotFound, "no session %s", id)
	}
	return ss[0], nil
}

func (t *tx) Sessions(ctx context.Context, f hoist.SessionFilter) ([]hoist.Session, error) {
	var w where
	if f.State != "" {
		w.add("state = ?", string(f.State))
	}
	if f.User != "" {
		w.add("username = ?", f.User)
	}
	if f.Host != "" {
		w.add("host = ?", f.Host)
	}
	if !f.EndsBefore.IsZero() {
		w.add("not_after < ?", micros(f.EndsBefore))
	}
	rows, err := t.query(ctx, "list sessions",
		`SELECT data FROM sessions`+w.String()+` ORDER BY not_after DESC, id DESC LIMIT ?`,
		append(w.args, hoist.ListLimit(f.Limit))...)
	if err != nil {
		return nil, err
	}
	return scanJSON[hoist.Session](t, rows)
}

func (t *tx) UpdateSession(ctx context.Context, s hoist.Session) error {
	data, err := encode(s)
	if err != nil {
		return err
	}
	res, err := t.exec(ctx, "update session",
		`UPDATE sessions SET state = ?, not_after = ?, version = ?, data = ? WHERE id = ? AND version = ?`,
		string(s.State), micros(s.NotAfter), s.Version, data, s.ID, s.Version-1)
	if err != nil {
		return err
	}
	if err := expectOne(res, hoist.Errorf(hoist.EConflict, "session %s was changed by someone else; reload and try again", s.ID)); err != nil {
		return err
	}
	t.remember("session", s.ID, data)
	return nil
}

// remember keeps the JSON of a row of kind this transaction wrote (a
// request or session) or, for agents, read (see AgentByID), so that
// reading it again in the transaction (the outbox's event data reads what
// the decision just wrote) costs no round trip. A written row is locked by
// the write until the transaction ends, so no other writer can have
// changed it: the copy is what the read would return.
func (t *tx) remember(kind, id, data string) {
	if t.written == nil {
		t.written = map[string]string{}
	}
	t.written[kind+"\x00"+id] = data
}

func scanJSON[T any](t *tx, rows *sql.Rows) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		var data string
		if err := rows.Scan(&data); err != nil {
			return nil, t.store.storeError("read rows", err)
		}
		var v T
		if err := decode(data, &v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, t.store.storeError("read rows", err)
	}
	return out, nil
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

var errNoRows = sql.ErrNoRows

func isNoRows(err error) bool { return errors.Is(err, errNoRows) }
