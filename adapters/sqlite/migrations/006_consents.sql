-- Consents citizens grant partner banks (domain.Consent). code_hash is the hex
-- SHA-256 of the one-time code: the code itself is never stored. Times are
-- INTEGER unix milliseconds UTC; exchanged_at and revoked_at are NULL until set.
-- No foreign keys, as in 004 (the service checks the bank and the citizen).

CREATE TABLE consents (
    id              TEXT    NOT NULL PRIMARY KEY,
    citizen_id      TEXT    NOT NULL,
    bank_id         TEXT    NOT NULL,
    scope           TEXT    NOT NULL,
    code_hash       TEXT    NOT NULL UNIQUE,
    code_expires_at INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    exchanged_at    INTEGER,
    revoked_at      INTEGER
) STRICT;

-- A citizen's consents newest first (ids are ULIDs).
CREATE INDEX consents_citizen ON consents (citizen_id, id);

-- One row per exchange of a consent code; a code is exchanged at most once.
CREATE TABLE consent_exchanges (
    id            TEXT    NOT NULL PRIMARY KEY,
    consent_id    TEXT    NOT NULL UNIQUE,
    bank_id       TEXT    NOT NULL,
    credential_id TEXT    NOT NULL,
    at            INTEGER NOT NULL
) STRICT;

-- The pseudonymous reference of a citizen for a bank: random, made on the first
-- exchange, kept for every later one.
CREATE TABLE bank_citizen_refs (
    bank_id    TEXT NOT NULL,
    citizen_id TEXT NOT NULL,
    ref        TEXT NOT NULL UNIQUE,
    PRIMARY KEY (bank_id, citizen_id)
) STRICT;
