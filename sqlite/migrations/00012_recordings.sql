-- +goose Up
-- Terminal recordings (hoist.Recording): the description as JSON in data,
-- with the columns queries need; the bytes in recording_chunks, one row per
-- upload, numbered by offset.
CREATE TABLE recordings (
    id         TEXT PRIMARY KEY,
    session_id TEXT NOT NULL,
    stored     INTEGER NOT NULL,
    size       INTEGER NOT NULL,
    complete   INTEGER NOT NULL,
    data       TEXT NOT NULL
);
CREATE INDEX recordings_session ON recordings (session_id, stored);
CREATE INDEX recordings_stored ON recordings (stored);

CREATE TABLE recording_chunks (
    recording_id TEXT NOT NULL REFERENCES recordings (id) ON DELETE CASCADE,
    pos          INTEGER NOT NULL,
    data         BLOB NOT NULL,
    PRIMARY KEY (recording_id, pos)
);

-- +goose Down
DROP TABLE recording_chunks;
DROP TABLE recordings;
