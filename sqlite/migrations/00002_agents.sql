-- +goose Up
CREATE TABLE agents (
    id   TEXT PRIMARY KEY,
    data TEXT NOT NULL
);

CREATE TABLE enroll_tokens (
    hash       TEXT PRIMARY KEY,
    uses_left  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    data       TEXT NOT NULL
);

CREATE TABLE agent_events (
    seq      INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id TEXT NOT NULL,
    data     TEXT NOT NULL
);
CREATE INDEX agent_events_agent ON agent_events (agent_id, seq);

CREATE TABLE delivered (
    id TEXT PRIMARY KEY
);

-- +goose Down
DROP TABLE delivered;
DROP TABLE agent_events;
DROP TABLE enroll_tokens;
DROP TABLE agents;
