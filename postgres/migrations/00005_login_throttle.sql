-- +goose Up
-- The sign-in throttle's counters (hoist.LoginCounter), in the database so
-- that every server sharing it counts the same failures. name is the
-- counter's key: an account and a source, a source, or an account.
CREATE TABLE login_throttle (
    name       TEXT PRIMARY KEY,
    failures   INTEGER NOT NULL,
    last_at    BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX login_throttle_expires ON login_throttle (expires_at);

-- +goose Down
DROP TABLE login_throttle;
