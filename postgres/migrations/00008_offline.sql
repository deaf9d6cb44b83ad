-- +goose Up
-- Each agent's key for offline approval (hoist.OfflineKeyRecord), sealed
-- with the server's secret key.
CREATE TABLE offline_keys (
    agent_id TEXT PRIMARY KEY,
    data     TEXT NOT NULL
);

-- One-time emergency codes (hoist.EmergencyCode): their hashes, never
-- their values.
CREATE TABLE emergency_codes (
    id      TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    data    TEXT NOT NULL
);

-- +goose Down
DROP TABLE emergency_codes;
DROP TABLE offline_keys;
