-- +goose Up
-- The programs that ran in each session (and policy run), from the
-- machine's kernel (hoist.SessionCommand in data), numbered n in each
-- stream (one hoistd's record of the session). search is the program's
-- name and argv, lowercased, for "which session ran useradd?".
CREATE TABLE session_commands (
    session     TEXT NOT NULL,
    stream      TEXT NOT NULL,
    n           INTEGER NOT NULL,
    at          BIGINT NOT NULL,
    search      TEXT NOT NULL,
    exit_status INTEGER,
    data        TEXT NOT NULL,
    PRIMARY KEY (session, stream, n)
);
CREATE INDEX session_commands_at ON session_commands (at);

-- +goose Down
DROP TABLE session_commands;
