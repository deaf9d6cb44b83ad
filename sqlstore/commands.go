package sqlstore

import (
	"context"
	"database/sql"
	"path"
	"strings"

	"github.com/hoist-jit/hoist"
)

// commandSearch is what a CommandFilter's Match is looked for in: the
// program's name and the argv, lowercased.
func commandSearch(c hoist.SessionCommand) string {
	return strings.ToLower(path.Base(c.Path) + " " + strings.Join(c.Argv, " "))
}

func (t *tx) InsertSessionCommands(ctx context.Context, cmds []hoist.SessionCommand) error {
	for _, c := range cmds {
		status := c.ExitStatus
		c.ExitStatus = nil // kept in its own column, which SetCommandExit sets
		data, err := encode(c)
		if err != nil {
			return err
		}
		var st any
		if status != nil {
			st = *status
		}
		if _, err := t.exec(ctx, "insert session command",
			`INSERT INTO session_commands (session, stream, n, at, search, exit_status, data) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (session, stream, n) DO NOTHING`,
			c.Session, c.Stream, c.N, micros(c.At), commandSearch(c), st, data); err != nil {
			return err
		}
	}
	return nil
}

func (t *tx) SetCommandExit(ctx context.Context, session, stream string, n, status int) error {
	_, err := t.exec(ctx, "set command exit", `UPDATE session_commands SET exit_status = ? WHERE session = ? AND stream = ? AND n = ?`, status, session, stream, n)
	return err
}

func (t *tx) CountSessionCommands(ctx context.Context, session string) (int, error) {
	rows, err := t.query(ctx, "count session commands", `SELECT COUNT(*) FROM session_commands WHERE session = ?`, session)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return 0, t.store.storeError("read rows", err)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, t.store.storeError("read rows", err)
	}
	return n, nil
}

func (t *tx) SessionCommands(ctx context.Context, f hoist.CommandFilter) ([]hoist.SessionCommand, error) {
	var w where
	order := ` ORDER BY at DESC, session, stream, n`
	if f.Session != "" {
		w.add("session = ?", f.Session)
		order = ` ORDER BY at, stream, n`
	}
	if f.Match != "" {
		w.add(`search LIKE ? ESCAPE '\'`, "%"+likeEscape(strings.ToLower(f.Match))+"%")
	}
	rows, err := t.query(ctx, "list session commands",
		`SELECT data, exit_status FROM session_commands`+w.String()+order+` LIMIT ?`, append(w.args, hoist.CommandLimit(f.Limit))...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []hoist.SessionCommand
	for rows.Next() {
		var data string
		var status sql.NullInt64
		if err := rows.Scan(&data, &status); err != nil {
			return nil, t.store.storeError("read rows", err)
		}
		var c hoist.SessionCommand
		if err := decode(data, &c); err != nil {
			return nil, err
		}
		if status.Valid {
			s := int(status.Int64)
			c.ExitStatus = &s
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, t.store.storeError("read rows", err)
	}
	return out, nil
}

// likeEscape makes s match itself in a LIKE pattern.
func likeEscape(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}
