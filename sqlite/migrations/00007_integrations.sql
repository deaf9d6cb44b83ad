-- +goose Up
-- Integrations (hoist.Integration): the sinks events leave Hoist through,
-- each with where its delivery stands (cursors, lease, breaker) in data.
CREATE TABLE integrations (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    data    TEXT NOT NULL
);

-- The outbox: events written in the transaction of the change they report,
-- numbered by that change's audit record, so that their order is commit
-- order and a reader by sequence misses none.
CREATE TABLE integration_events (
    seq  INTEGER PRIMARY KEY,
    data TEXT NOT NULL
);

-- One event on its way to one approver sink; id is the delivery id the
-- receiver sees on every attempt.
CREATE TABLE integration_deliveries (
    id             TEXT PRIMARY KEY,
    integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    event_seq      INTEGER NOT NULL,
    state          TEXT NOT NULL,
    attempts       INTEGER NOT NULL,
    next_at        INTEGER NOT NULL,
    last_error     TEXT NOT NULL,
    updated_at     INTEGER NOT NULL,
    UNIQUE (integration_id, event_seq)
);
CREATE INDEX integration_deliveries_state ON integration_deliveries (integration_id, state, event_seq);

-- What a sink answered about a subject it was sent, for the next message
-- about it: a Slack message's channel and ts, updated when the request is
-- decided.
CREATE TABLE integration_refs (
    integration_id TEXT NOT NULL REFERENCES integrations (id) ON DELETE CASCADE,
    subject        TEXT NOT NULL,
    ref            TEXT NOT NULL,
    PRIMARY KEY (integration_id, subject)
);

-- +goose Down
DROP TABLE integration_refs;
DROP TABLE integration_deliveries;
DROP TABLE integration_events;
DROP TABLE integrations;
