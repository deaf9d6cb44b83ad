-- +goose Up
-- One open request per user per agent, not per host name: a host name is
-- the agent's claim, and another agent claiming it must not take the slot
-- (and so refuse the real machine's user). Requests without an agent keep
-- one per user per host.
ALTER TABLE requests ADD COLUMN agent TEXT NOT NULL DEFAULT '';
UPDATE requests SET agent = COALESCE(data::jsonb ->> 'agent', '');
DROP INDEX requests_one_open;
CREATE UNIQUE INDEX requests_one_open ON requests (username, (CASE WHEN agent = '' THEN 'host ' || host ELSE agent END)) WHERE state = 'pending';
CREATE INDEX requests_agent ON requests (agent, username) WHERE state = 'pending';

-- +goose Down
DROP INDEX requests_agent;
DROP INDEX requests_one_open;
CREATE UNIQUE INDEX requests_one_open ON requests (username, host) WHERE state = 'pending';
ALTER TABLE requests DROP COLUMN agent;
