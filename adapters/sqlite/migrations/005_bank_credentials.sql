-- Credentials banks' systems use for the OAuth2 client-credentials grant.
-- secret_hash is a bcrypt hash: the secret itself is never stored. scopes is the
-- space-separated list of granted scopes. revoked_at is NULL while the credential
-- is usable. No foreign key to banks, as in 004 (the service checks the bank).

CREATE TABLE bank_credentials (
    id          TEXT    NOT NULL PRIMARY KEY,
    bank_id     TEXT    NOT NULL,
    client_id   TEXT    NOT NULL UNIQUE,
    secret_hash TEXT    NOT NULL,
    scopes      TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    created_by  TEXT    NOT NULL,
    revoked_at  INTEGER
) STRICT;

-- One bank's credentials in id order (ListBankCredentials).
CREATE INDEX bank_credentials_bank ON bank_credentials (bank_id, id);
