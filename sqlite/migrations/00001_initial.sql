-- +goose Up
CREATE TABLE requests (
    id         TEXT PRIMARY KEY,
    username   TEXT NOT NULL,
    host       TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX requests_state ON requests (state, expires_at);
CREATE INDEX requests_created ON requests (created_at);
-- One open request per user per machine: asking again returns the open one.
CREATE UNIQUE INDEX requests_one_open ON requests (username, host) WHERE state = 'pending';

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    request_id TEXT NOT NULL UNIQUE REFERENCES requests (id),
    username   TEXT NOT NULL,
    host       TEXT NOT NULL,
    state      TEXT NOT NULL,
    not_after  INTEGER NOT NULL,
    version    INTEGER NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX sessions_state ON sessions (state, not_after);

CREATE TABLE admins (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    role              TEXT NOT NULL,
    password_hash     TEXT NOT NULL,
    created_at        INTEGER NOT NULL,
    disabled          BOOLEAN NOT NULL DEFAULT FALSE,
    failed_logins     INTEGER NOT NULL DEFAULT 0,
    last_failed_login INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY,
    admin_id   TEXT NOT NULL REFERENCES admins (id),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX tokens_admin ON tokens (admin_id);

CREATE TABLE audit (
    seq       INTEGER PRIMARY KEY,
    time      INTEGER NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
CREATE INDEX audit_action ON audit (action);
CREATE INDEX audit_subject ON audit (subject);

CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- The audit log is append-only: the database itself refuses changes, so a
-- bug cannot rewrite history. (Someone with the database file can drop these
-- triggers; the hash chain is what catches that.)
-- +goose StatementBegin
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head
WHEN NEW.seq <> OLD.seq + 1
BEGIN
    SELECT RAISE(ABORT, 'the audit head only moves forward');
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE audit_head;
DROP TABLE audit;
DROP TABLE tokens;
DROP TABLE admins;
DROP TABLE sessions;
DROP TABLE requests;
