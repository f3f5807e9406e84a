-- Activity catalog, actions, the points ledger and daily usage (for caps).
-- Times are INTEGER unix milliseconds UTC; quantities INTEGER milli-units;
-- booleans INTEGER 0/1; CO2e INTEGER grams (milligrams per unit in coefficients).

-- Balances may never go negative (DESIGN.md §2). SQLite cannot add a CHECK
-- constraint to an existing table, so citizens is rebuilt with it by the documented
-- create-copy-drop-rename procedure. Nothing references citizens (no foreign keys,
-- triggers or views), and migrations run in one transaction, so a failure leaves
-- the old table untouched.
CREATE TABLE citizens_new (
    id                  TEXT    NOT NULL PRIMARY KEY,
    identity_provider   TEXT    NOT NULL,
    identity_subject    TEXT    NOT NULL,
    phone               TEXT    NOT NULL DEFAULT '',
    nickname            TEXT    NOT NULL DEFAULT '',
    district            TEXT    NOT NULL DEFAULT '',
    leaderboard_opt_out INTEGER NOT NULL DEFAULT 0,
    balance             INTEGER NOT NULL DEFAULT 0 CHECK (balance >= 0),
    co2e_grams_total    INTEGER NOT NULL DEFAULT 0,
    points_earned_total INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    erased_at           INTEGER,
    version             INTEGER NOT NULL DEFAULT 0
) STRICT;

INSERT INTO citizens_new (id, identity_provider, identity_subject, phone, nickname, district,
        leaderboard_opt_out, balance, co2e_grams_total, points_earned_total,
        created_at, updated_at, erased_at, version)
    SELECT id, identity_provider, identity_subject, phone, nickname, district,
        leaderboard_opt_out, balance, co2e_grams_total, points_earned_total,
        created_at, updated_at, erased_at, version
    FROM citizens;

DROP TABLE citizens;
ALTER TABLE citizens_new RENAME TO citizens;
CREATE UNIQUE INDEX citizens_identity ON citizens (identity_provider, identity_subject);

CREATE TABLE activity_types (
    code       TEXT    NOT NULL PRIMARY KEY,
    category   TEXT    NOT NULL,
    unit       TEXT    NOT NULL,
    name       TEXT    NOT NULL,
    name_en    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL
) STRICT;

-- Immutable once written; AddCoefficientVersion appends max(version) + 1 inside
-- the write transaction.
CREATE TABLE coefficient_versions (
    type_code          TEXT    NOT NULL REFERENCES activity_types (code),
    version            INTEGER NOT NULL CHECK (version >= 1),
    effective_from     INTEGER NOT NULL,
    enabled            INTEGER NOT NULL,
    co2e_mg_per_unit   INTEGER NOT NULL,
    points_per_kg      INTEGER NOT NULL,
    points_per_unit    INTEGER NOT NULL,
    quantity_decimals  INTEGER NOT NULL,
    max_quantity       INTEGER NOT NULL,
    daily_max_quantity INTEGER NOT NULL,
    daily_max_points   INTEGER NOT NULL,
    evidence_required  INTEGER NOT NULL,
    evidence_sources   TEXT    NOT NULL, -- JSON: an array of strings, or null
    evidence_review    INTEGER NOT NULL,
    methodology        TEXT    NOT NULL,
    confidence         TEXT    NOT NULL,
    note               TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    created_by         TEXT    NOT NULL,
    PRIMARY KEY (type_code, version)
) STRICT;

-- One row per recorded action with its outcome. citizen_id has no foreign key:
-- RecordAction checks the citizen in the same write transaction, and a foreign key
-- would make any future rebuild of citizens (as above) refuse to drop the table.
CREATE TABLE actions (
    id                 TEXT    NOT NULL PRIMARY KEY,
    citizen_id         TEXT    NOT NULL,
    type_code          TEXT    NOT NULL,
    rule_version       INTEGER NOT NULL,
    quantity           INTEGER NOT NULL,
    occurred_at        INTEGER NOT NULL,
    recorded_at        INTEGER NOT NULL,
    day                TEXT    NOT NULL, -- Asia/Shanghai YYYY-MM-DD of occurred_at
    evidence_source    TEXT    NOT NULL, -- '' once anonymised
    evidence_reference TEXT    NOT NULL, -- '' once anonymised
    evidence_key       TEXT    NOT NULL UNIQUE, -- kept on anonymisation: evidence is never credited twice
    idempotency_key    TEXT    NOT NULL,
    request_hash       TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    credited_quantity  INTEGER NOT NULL,
    co2e_g             INTEGER NOT NULL,
    points             INTEGER NOT NULL,
    cap_limit          TEXT,             -- NULL: no cap reduced the credit
    cap_requested      INTEGER,
    cap_credited       INTEGER,
    cap_withheld       INTEGER,
    ledger_entry_id    TEXT    NOT NULL, -- '' when the action moved nothing
    balance_after      INTEGER NOT NULL,
    UNIQUE (citizen_id, idempotency_key)
) STRICT;

-- A citizen's actions newest first (ids are ULIDs), and AnonymiseActions.
CREATE INDEX actions_citizen ON actions (citizen_id, id);

-- Append-only. At most one entry per cause (kind, cause_type, cause_id).
CREATE TABLE ledger_entries (
    id            TEXT    NOT NULL PRIMARY KEY,
    citizen_id    TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    points        INTEGER NOT NULL,
    co2e_g        INTEGER NOT NULL,
    balance_after INTEGER NOT NULL CHECK (balance_after >= 0),
    cause_type    TEXT    NOT NULL,
    cause_id      TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    UNIQUE (kind, cause_type, cause_id)
) STRICT;

-- A citizen's ledger newest first, and the per-citizen sums of CheckBalances.
CREATE INDEX ledger_entries_citizen ON ledger_entries (citizen_id, id);

-- What each citizen was credited per Shanghai day: one row per activity type
-- (quantity and points) and one with type_code '*' holding the day's points over
-- all types (its quantity stays 0: units of different types do not add up).
-- Activity codes never contain '*'. The key starts with the day so that the rows
-- being updated (today's, mostly) sit together in a few pages that stay cached and
-- are written once per checkpoint, however many days the table holds; it also
-- lets old days be deleted by range.
CREATE TABLE daily_usage (
    day        TEXT    NOT NULL,
    citizen_id TEXT    NOT NULL,
    type_code  TEXT    NOT NULL,
    quantity   INTEGER NOT NULL,
    points     INTEGER NOT NULL,
    PRIMARY KEY (day, citizen_id, type_code)
) STRICT, WITHOUT ROWID;
