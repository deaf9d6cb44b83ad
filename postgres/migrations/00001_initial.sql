-- +goose Up
CREATE TABLE requests (
    id         TEXT PRIMARY KEY,
    username   TEXT NOT NULL,
    host       TEXT NOT NULL,
    state      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
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
    not_after  BIGINT NOT NULL,
    version    INTEGER NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX sessions_state ON sessions (state, not_after);

CREATE TABLE admins (
    id                TEXT PRIMARY KEY,
    name              TEXT NOT NULL UNIQUE,
    role              TEXT NOT NULL,
    password_hash     TEXT NOT NULL,
    created_at        BIGINT NOT NULL,
    disabled          BOOLEAN NOT NULL DEFAULT FALSE,
    failed_logins     INTEGER NOT NULL DEFAULT 0,
    last_failed_login BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE tokens (
    hash       TEXT PRIMARY KEY,
    admin_id   TEXT NOT NULL REFERENCES admins (id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX tokens_admin ON tokens (admin_id);

-- detail is TEXT, not JSONB: the hash chain covers its exact bytes, and JSONB
-- would reorder keys.
CREATE TABLE audit (
    seq       BIGINT PRIMARY KEY,
    time      BIGINT NOT NULL,
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
    seq  BIGINT NOT NULL,
    hash TEXT NOT NULL
);
INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, '0000000000000000000000000000000000000000000000000000000000000000');

-- The audit log is append-only: the database itself refuses changes, so a
-- bug cannot rewrite history. (The table's owner can drop these triggers; the
-- hash chain is what catches that.)
-- +goose StatementBegin
CREATE FUNCTION audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_no_change BEFORE UPDATE OR DELETE ON audit
    FOR EACH ROW EXECUTE FUNCTION audit_append_only();
-- +goose StatementBegin
CREATE FUNCTION audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq <> OLD.seq + 1 THEN
        RAISE EXCEPTION 'the audit head only moves forward';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_head_forward BEFORE UPDATE ON audit_head
    FOR EACH ROW EXECUTE FUNCTION audit_head_forward();

-- +goose Down
DROP TABLE audit_head;
DROP TABLE audit;
DROP FUNCTION audit_head_forward;
DROP FUNCTION audit_append_only;
DROP TABLE tokens;
DROP TABLE admins;
DROP TABLE sessions;
DROP TABLE requests;
