-- +goose Up
CREATE TABLE policies (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    data    TEXT NOT NULL
);

CREATE TABLE computer_groups (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL UNIQUE,
    version INTEGER NOT NULL,
    data    TEXT NOT NULL
);

-- +goose Down
DROP TABLE computer_groups;
DROP TABLE policies;
