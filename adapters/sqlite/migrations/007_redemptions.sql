-- Banks' redemptions of vouchers. RedeemVoucher inserts a row and moves its
-- voucher from 'issued' to 'redeemed' in one transaction; ReverseRedemption sets
-- reversed_at, reversal_reason and refund_entry_id, moves the voucher to
-- 'reversed' and refunds the citizen in one transaction. UNIQUE (voucher_id)
-- allows one redemption per voucher, UNIQUE (bank_id, idempotency_key) one per
-- key of a bank. reversed_at is NULL until reversed.

CREATE TABLE redemptions (
    id              TEXT    NOT NULL PRIMARY KEY,
    voucher_id      TEXT    NOT NULL UNIQUE,
    voucher_code    TEXT    NOT NULL,
    bank_id         TEXT    NOT NULL,
    benefit_id      TEXT    NOT NULL,
    citizen_id      TEXT    NOT NULL,
    points_spent    INTEGER NOT NULL CHECK (points_spent >= 0),
    external_ref    TEXT    NOT NULL,
    idempotency_key TEXT    NOT NULL,
    redeemed_at     INTEGER NOT NULL,
    reversed_at     INTEGER,
    reversal_reason TEXT    NOT NULL DEFAULT '',
    refund_entry_id TEXT    NOT NULL DEFAULT '',
    UNIQUE (bank_id, idempotency_key)
) STRICT;

-- One bank's redemptions in a time range (ListRedemptions), walked in id order.
CREATE INDEX redemptions_bank_time ON redemptions (bank_id, redeemed_at, id);
