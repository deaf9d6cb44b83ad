-- +goose Up
-- Sign-ins through the identity provider in flight (hoist.SSOLogin): a
-- browser's trip to the provider, or a CLI's handoff. Each row is spent
-- once and lives minutes.
CREATE TABLE sso_logins (
    key        TEXT PRIMARY KEY,
    nonce      TEXT NOT NULL,
    verifier   TEXT NOT NULL,
    next       TEXT NOT NULL,
    redirect   TEXT NOT NULL,
    challenge  TEXT NOT NULL,
    admin_id   TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX sso_logins_expires ON sso_logins (expires_at);

-- Which account a subject of an identity provider signs in as. The link,
-- not the name, decides: a local account of the same name is not taken
-- over by a sign-in through the provider.
CREATE TABLE sso_identities (
    issuer   TEXT NOT NULL,
    subject  TEXT NOT NULL,
    admin_id TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    PRIMARY KEY (issuer, subject)
);
CREATE INDEX sso_identities_admin ON sso_identities (admin_id);

-- Passkeys (hoist.Passkey): WebAuthn credentials of accounts, for the
-- second factor some approvals want.
CREATE TABLE passkeys (
    id         TEXT PRIMARY KEY,
    admin_id   TEXT NOT NULL REFERENCES admins (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used  BIGINT NOT NULL,
    credential TEXT NOT NULL
);
CREATE INDEX passkeys_admin ON passkeys (admin_id);

-- Authenticator-app secrets (hoist.TOTP), sealed by the server's key.
CREATE TABLE totp_secrets (
    admin_id     TEXT PRIMARY KEY REFERENCES admins (id) ON DELETE CASCADE,
    secret       TEXT NOT NULL,
    confirmed_at BIGINT NOT NULL,
    last_step    BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);

-- +goose Down
DROP TABLE totp_secrets;
DROP TABLE passkeys;
DROP TABLE sso_identities;
DROP TABLE sso_logins;
