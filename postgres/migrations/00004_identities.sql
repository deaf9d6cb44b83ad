-- +goose Up
-- The Unix accounts a console account owns and the computer groups it may
-- approve for, each a JSON array of names. Empty lists keep the old rules:
-- identity by the account's own name, approval for every group.
ALTER TABLE admins ADD COLUMN unix_names TEXT NOT NULL DEFAULT '[]';
ALTER TABLE admins ADD COLUMN approver_groups TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE admins DROP COLUMN approver_groups;
ALTER TABLE admins DROP COLUMN unix_names;
