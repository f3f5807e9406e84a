-- Partner banks, the benefits they offer for points, and the vouchers citizens
-- claim. Times are INTEGER unix milliseconds UTC; durations INTEGER nanoseconds.
--
-- No foreign keys, as for actions: ClaimBenefit checks the benefit and the
-- citizen in its write transaction, and foreign keys would make a future rebuild
-- of a referenced table (as 003 did for citizens) refuse to drop it.

CREATE TABLE banks (
    id         TEXT    NOT NULL PRIMARY KEY,
    code       TEXT    NOT NULL UNIQUE,
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    created_by TEXT    NOT NULL
) STRICT;

-- claimed counts the vouchers issued so far; ClaimBenefit raises it in the same
-- transaction as it inserts the voucher, guarded by claimed < stock, and the CHECK
-- refuses any write that would oversell. Refunds do not give stock back.
CREATE TABLE benefits (
    id                TEXT    NOT NULL PRIMARY KEY,
    bank_id           TEXT    NOT NULL,
    title             TEXT    NOT NULL,
    terms             TEXT    NOT NULL,
    kind              TEXT    NOT NULL,
    rate_bp           INTEGER NOT NULL,
    amount_fen        INTEGER NOT NULL,
    points_cost       INTEGER NOT NULL,
    stock             INTEGER NOT NULL,
    claimed           INTEGER NOT NULL DEFAULT 0,
    per_citizen_limit INTEGER NOT NULL,
    min_level         INTEGER NOT NULL,
    districts         TEXT    NOT NULL, -- JSON: an array of strings, or null
    valid_from        INTEGER NOT NULL,
    valid_until       INTEGER NOT NULL,
    voucher_ttl_ns    INTEGER NOT NULL,
    created_at        INTEGER NOT NULL,
    created_by        TEXT    NOT NULL,
    CHECK (claimed >= 0 AND claimed <= stock)
) STRICT;

-- One bank's benefits in id order (ListBenefits with a bank).
CREATE INDEX benefits_bank ON benefits (bank_id, id);

-- One row per issued voucher. SQLite claims in one transaction, so no row is ever
-- 'claiming'. refund_entry_id is '' until the voucher expires and is refunded.
CREATE TABLE vouchers (
    id              TEXT    NOT NULL PRIMARY KEY,
    code            TEXT    NOT NULL UNIQUE,
    benefit_id      TEXT    NOT NULL,
    bank_id         TEXT    NOT NULL,
    citizen_id      TEXT    NOT NULL,
    points_spent    INTEGER NOT NULL CHECK (points_spent >= 0),
    status          TEXT    NOT NULL,
    issued_at       INTEGER NOT NULL,
    expires_at      INTEGER NOT NULL,
    idempotency_key TEXT    NOT NULL,
    ledger_entry_id TEXT    NOT NULL,
    refund_entry_id TEXT    NOT NULL DEFAULT '',
    balance_after   INTEGER NOT NULL,
    UNIQUE (citizen_id, idempotency_key)
) STRICT;

-- A citizen's vouchers newest first (ids are ULIDs), and how many of one benefit
-- they hold (ClaimBenefit): benefit_id is in the index so that count reads no rows.
CREATE INDEX vouchers_citizen ON vouchers (citizen_id, id, benefit_id);

-- ExpireVouchers: issued vouchers due by a time, oldest first.
CREATE INDEX vouchers_expiry ON vouchers (status, expires_at);
