-- Initial schema: citizens, operators, sessions and their refresh tokens.
-- Times are INTEGER unix milliseconds UTC; booleans are INTEGER 0/1.
-- STRICT tables make SQLite refuse values of the wrong type instead of storing them.

CREATE TABLE citizens (
    id                  TEXT    NOT NULL PRIMARY KEY,
    identity_provider   TEXT    NOT NULL,
    identity_subject    TEXT    NOT NULL,
    phone               TEXT    NOT NULL DEFAULT '',
    nickname            TEXT    NOT NULL DEFAULT '',
    district            TEXT    NOT NULL DEFAULT '',
    leaderboard_opt_out INTEGER NOT NULL DEFAULT 0,
    balance             INTEGER NOT NULL DEFAULT 0,
    co2e_grams_total    INTEGER NOT NULL DEFAULT 0,
    points_earned_total INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    erased_at           INTEGER,
    version             INTEGER NOT NULL DEFAULT 0
) STRICT;

-- One citizen per sign-in identity; FindOrCreateCitizen relies on it to be race-free.
CREATE UNIQUE INDEX citizens_identity ON citizens (identity_provider, identity_subject);

CREATE TABLE operators (
    id            TEXT    NOT NULL PRIMARY KEY,
    username      TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    created_by    TEXT    NOT NULL
) STRICT;

CREATE TABLE sessions (
    id         TEXT    NOT NULL PRIMARY KEY,
    subject_id TEXT    NOT NULL,
    role       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
) STRICT;

-- RevokeSubjectSessions (account erasure) finds a subject's sessions by it.
CREATE INDEX sessions_subject ON sessions (subject_id);

CREATE TABLE refresh_tokens (
    hash       TEXT    NOT NULL PRIMARY KEY,
    session_id TEXT    NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at  INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
) STRICT;

-- Needed by the foreign key (cascading deletes) and for listing a session's chain.
CREATE INDEX refresh_tokens_session ON refresh_tokens (session_id);
