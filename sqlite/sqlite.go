// Package sqlite is Hoist's embedded store: a single SQLite file in the data
// directory, in WAL mode, through the pure-Go modernc.org/sqlite driver. It is
// the default; see package postgres for several servers on one database.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"

	"github.com/pressly/goose/v3"
	sqlite3 "modernc.org/sqlite"
	sqlite3lib "modernc.org/sqlite/lib"

	"github.com/hoist-jit/hoist"
	"github.com/hoist-jit/hoist/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// FileName is the database file's name inside the data directory.
const FileName = "hoist.db"

// Open opens (creating it if needed) the database in dir, brings its schema
// up to date and returns the store.
func Open(ctx context.Context, dir string) (*sqlstore.Store, error) {
	return OpenFile(ctx, filepath.Join(dir, FileName))
}

// OpenFile is Open for a database file at path.
func OpenFile(ctx context.Context, path string) (*sqlstore.Store, error) {
	// The database holds password hashes: create it readable by its owner
	// only (SQLite gives the -wal and -shm files the same mode).
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, hoist.WrapError(hoist.EUnavailable, "cannot open the database file "+path, err)
	}
	err = checkHeader(f, path)
	f.Close()
	if err != nil {
		return nil, err
	}
	dsn := func(txlock string) string {
		q := url.Values{}
		for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(NORMAL)"} {
			q.Add("_pragma", p)
		}
		q.Set("_txlock", txlock)
		return "file:" + path + "?" + q.Encode()
	}
	// One writer connection, its transactions BEGIN IMMEDIATE: writes queue in
	// Go instead of failing with SQLITE_BUSY. Readers run beside it (WAL).
	writer, err := sql.Open("sqlite", dsn("immediate"))
	if err != nil {
		return nil, hoist.WrapError(hoist.EUnavailable, "cannot open the database", err)
	}
	writer.SetMaxOpenConns(1)
	if err := migrate(ctx, writer); err != nil {
		writer.Close()
		return nil, err
	}
	reader, err := sql.Open("sqlite", dsn("deferred"))
	if err != nil {
		writer.Close()
		return nil, hoist.WrapError(hoist.EUnavailable, "cannot open the database", err)
	}
	reader.SetMaxOpenConns(8)
	return sqlstore.New(writer, reader, sqlstore.Dialect{IsUnique: isUnique, IsRetryable: isBusy}), nil
}

// sqliteHeader begins every SQLite database file.
const sqliteHeader = "SQLite format 3\x00"

// checkHeader refuses a file that is neither empty (a new database) nor an
// SQLite database, before SQLite's own "file is not a database" from deep
// inside the migrations.
func checkHeader(f *os.File, path string) error {
	head := make([]byte, len(sqliteHeader))
	n, err := io.ReadFull(f, head)
	switch {
	case n == 0 && (err == io.EOF || err == nil):
		return nil
	case err != nil && err != io.ErrUnexpectedEOF:
		return hoist.WrapError(hoist.EUnavailable, "cannot read the database file "+path, err)
	case string(head[:n]) != sqliteHeader:
		return hoist.Errorf(hoist.EInvalid, "%s is not a Hoist database (it is not an SQLite file): move it away, or give --data a directory of its own", path)
	}
	return nil
}

func migrate(ctx context.Context, db *sql.DB) error {
	fsys, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return hoist.WrapError(hoist.EInternal, "migrations are missing", err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return hoist.WrapError(hoist.EInternal, "cannot load migrations", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return hoist.WrapError(hoist.EUnavailable, "cannot migrate the database schema", err)
	}
	return nil
}

func sqliteCode(err error) int {
	var e *sqlite3.Error
	if errors.As(err, &e) {
		return e.Code()
	}
	return 0
}

func isUnique(err error) bool {
	c := sqliteCode(err)
	return c == sqlite3lib.SQLITE_CONSTRAINT_UNIQUE || c == sqlite3lib.SQLITE_CONSTRAINT_PRIMARYKEY
}

func isBusy(err error) bool {
	c := sqliteCode(err) & 0xff
	return c == sqlite3lib.SQLITE_BUSY || c == sqlite3lib.SQLITE_LOCKED
}
