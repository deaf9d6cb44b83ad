-- +goose Up
-- Audit records are written in the transaction of the change they record,
-- but into audit_pending, without a place in the chain; right after that
-- transaction commits, one sealer at a time (holding the audit head's row
-- lock) moves every committed pending record into the chain, in the order
-- of their ids, with its sequence number and hashes. Writers therefore no
-- longer wait for each other on the audit head for the rest of their
-- transaction and their commit (see docs/audit.md, "How records join the
-- chain").
CREATE TABLE audit_pending (
    id      BIGSERIAL PRIMARY KEY,
    time    BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    subject TEXT NOT NULL,
    detail  TEXT NOT NULL
);

-- The outbox event (hoist.IntegrationEvent without its seq) that joins
-- integration_events with the pending record's sequence number when it is
-- sealed, so that the outbox stays in chain order.
CREATE TABLE audit_pending_events (
    audit_id BIGINT PRIMARY KEY REFERENCES audit_pending (id) ON DELETE CASCADE,
    data     TEXT NOT NULL
);

-- Which pending record a sealed record came from (NULL before this
-- migration): what lets the guard below tell a sealed pending record from
-- one removed before it reached the chain.
ALTER TABLE audit ADD COLUMN pending_id BIGINT UNIQUE;

-- A pending record cannot be changed, and leaves only into the chain.
-- +goose StatementBegin
CREATE FUNCTION audit_pending_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'a pending audit record cannot be changed';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM audit WHERE pending_id = OLD.id) THEN
        RAISE EXCEPTION 'a pending audit record leaves only into the audit log';
    END IF;
    RETURN OLD;
END;
$$;
-- +goose StatementEnd
CREATE TRIGGER audit_pending_guard BEFORE UPDATE OR DELETE ON audit_pending
    FOR EACH ROW EXECUTE FUNCTION audit_pending_guard();

-- The sealer moves the head by a whole batch at once: the head still only
-- moves forward, and now must name a record of the log as it is.
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq <= OLD.seq OR NOT EXISTS (SELECT 1 FROM audit WHERE seq = NEW.seq AND hash = NEW.hash) THEN
        RAISE EXCEPTION 'the audit head only moves forward, to a record of the log';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION audit_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.seq <> OLD.seq + 1 THEN
        RAISE EXCEPTION 'the audit head only moves forward';
    END IF;
    RETURN NEW;
END;
$$;
-- +goose StatementEnd
DROP TRIGGER audit_pending_guard ON audit_pending;
DROP FUNCTION audit_pending_guard;
ALTER TABLE audit DROP COLUMN pending_id;
DROP TABLE audit_pending_events;
DROP TABLE audit_pending;
