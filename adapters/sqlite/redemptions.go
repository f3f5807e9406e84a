package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

var _ domain.RedemptionStore = (*Store)(nil)

const redemptionColumns = `id, voucher_id, voucher_code, bank_id, benefit_id, citizen_id, points_spent, external_ref,
	idempotency_key, redeemed_at, reversed_at, reversal_reason, refund_entry_id`

const (
	insertRedemption = "INSERT INTO redemptions (" + redemptionColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, '', '')`
	redemptionByKey  = "SELECT " + redemptionColumns + " FROM redemptions WHERE bank_id = ? AND idempotency_key = ?"
	redemptionByID   = "SELECT " + redemptionColumns + " FROM redemptions WHERE id = ? AND bank_id = ?"
	voucherForRedeem = "SELECT id, bank_id, benefit_id, citizen_id, points_spent, status, expires_at FROM vouchers WHERE code = ?"
	// redeemVoucher is guarded by the status and the expiry, so it excludes expiry
	// and a second redemption even if the reads above were stale.
	redeemVoucher  = "UPDATE vouchers SET status = 'redeemed' WHERE id = ?1 AND status = 'issued' AND expires_at > ?2"
	reverseVoucher = "UPDATE vouchers SET status = 'reversed' WHERE id = ? AND status = 'redeemed'"
	markReversed   = `UPDATE redemptions SET reversed_at = ?2, reversal_reason = ?3, refund_entry_id = ?4
		WHERE id = ?1 AND reversed_at IS NULL`
	// The listing seeks redemptions_bank_time to the range and sorts the page by
	// id (ids are ULIDs minted at RedeemedAt, so the range is nearly in id order).
	listRedemptions = "SELECT " + redemptionColumns + ` FROM redemptions
		WHERE bank_id = ?1 AND redeemed_at >= ?2 AND redeemed_at < ?3 AND id > ?4 ORDER BY id LIMIT ?5`
)

func scanRedemption(r rowScanner) (domain.Redemption, error) {
	var x domain.Redemption
	var redeemed int64
	var reversed sql.NullInt64
	err := r.Scan(&x.ID, &x.VoucherID, &x.VoucherCode, &x.BankID, &x.BenefitID, &x.CitizenID, &x.PointsSpent, &x.ExternalRef,
		&x.IdempotencyKey, &redeemed, &reversed, &x.ReversalReason, &x.RefundEntryID)
	if err != nil {
		return domain.Redemption{}, err
	}
	x.RedeemedAt, x.ReversedAt = fromMillis(redeemed), fromNullMillis(reversed)
	return x, nil
}

// RedeemVoucher checks the key and the voucher and redeems it in one write transaction.
func (s *Store) RedeemVoucher(ctx context.Context, r domain.Redemption) (domain.Redemption, error) {
	err := s.writeTx(ctx, "redeem voucher", func(tx *sql.Tx) error {
		existing, err := scanRedemption(tx.QueryRowContext(ctx, redemptionByKey, r.BankID, r.IdempotencyKey))
		if err == nil {
			return &domain.DuplicateRedemptionError{Existing: existing}
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlite: redeem voucher: find key: %w", err)
		}
		var bankID, status string
		var expires int64
		err = tx.QueryRowContext(ctx, voucherForRedeem, r.VoucherCode).Scan(
			&r.VoucherID, &bankID, &r.BenefitID, &r.CitizenID, &r.PointsSpent, &status, &expires)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && (bankID != r.BankID || status == string(domain.VoucherClaiming))) {
			return domain.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("sqlite: redeem voucher: find voucher: %w", err)
		}
		switch {
		case status == string(domain.VoucherExpired):
			return domain.ErrVoucherExpired
		case status != string(domain.VoucherIssued):
			return domain.ErrVoucherAlreadyRedeemed
		case expires <= millis(r.RedeemedAt):
			return domain.ErrVoucherExpired
		}
		res, err := tx.ExecContext(ctx, redeemVoucher, r.VoucherID, millis(r.RedeemedAt))
		if err != nil {
			return fmt.Errorf("sqlite: redeem voucher: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return fmt.Errorf("sqlite: redeem voucher %s: guard failed: %w", r.VoucherID, domain.ErrConflict)
		}
		_, err = tx.ExecContext(ctx, insertRedemption, r.ID, r.VoucherID, r.VoucherCode, r.BankID, r.BenefitID, r.CitizenID,
			r.PointsSpent, r.ExternalRef, r.IdempotencyKey, millis(r.RedeemedAt))
		if isUniqueViolation(err) {
			return fmt.Errorf("sqlite: redeem voucher: %w", domain.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("sqlite: redeem voucher: insert: %w", err)
		}
		return nil
	})
	if err != nil {
		return domain.Redemption{}, err
	}
	r.RedeemedAt = fromMillis(millis(r.RedeemedAt))
	r.ReversedAt, r.ReversalReason, r.RefundEntryID = nil, "", ""
	return r, nil
}

// ReverseRedemption marks the redemption reversed, the voucher reversed and
// refunds the citizen in one write transaction.
func (s *Store) ReverseRedemption(ctx context.Context, bankID, id, reason string, at time.Time, window time.Duration, refundEntryID string) (domain.Redemption, error) {
	var r domain.Redemption
	err := s.writeTx(ctx, "reverse redemption", func(tx *sql.Tx) error {
		var err error
		r, err = scanRedemption(tx.QueryRowContext(ctx, redemptionByID, id, bankID))
		if errors.Is(err, sql.ErrNoRows) {
			return domain.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("sqlite: reverse redemption: %w", err)
		}
		if r.Reversed() {
			return &domain.RedemptionReversedError{Existing: r}
		}
		if !at.Before(r.RedeemedAt.Add(window)) {
			return domain.ErrReversalWindowClosed
		}
		when := at
		if _, err := tx.ExecContext(ctx, markReversed, id, millis(at), reason, refundEntryID); err != nil {
			return fmt.Errorf("sqlite: reverse redemption: %w", err)
		}
		if _, err := tx.ExecContext(ctx, reverseVoucher, r.VoucherID); err != nil {
			return fmt.Errorf("sqlite: reverse redemption: voucher: %w", err)
		}
		var balance int64
		if err := tx.QueryRowContext(ctx, refundPoints, r.CitizenID, r.PointsSpent).Scan(&balance); err != nil {
			return fmt.Errorf("sqlite: reverse redemption %s: refund citizen: %w", id, err)
		}
		_, err = tx.ExecContext(ctx, insertLedgerEntry,
			refundEntryID, r.CitizenID, string(domain.LedgerRefund), r.PointsSpent, 0, balance, domain.RedemptionCause, id, millis(at))
		if isUniqueViolation(err) {
			return fmt.Errorf("sqlite: reverse redemption %s: refund entry: %w", id, domain.ErrConflict)
		}
		if err != nil {
			return fmt.Errorf("sqlite: reverse redemption %s: refund entry: %w", id, err)
		}
		t := fromMillis(millis(when))
		r.ReversedAt, r.ReversalReason, r.RefundEntryID = &t, reason, refundEntryID
		return nil
	})
	if err != nil {
		return domain.Redemption{}, err
	}
	return r, nil
}

// GetRedemption returns the bank's redemption id.
func (s *Store) GetRedemption(ctx context.Context, bankID, id string) (domain.Redemption, error) {
	return queryOne(ctx, s.read, "get redemption", scanRedemption, redemptionByID, id, bankID)
}

// ListRedemptions returns the bank's redemptions in [from, to) after afterID, by id.
func (s *Store) ListRedemptions(ctx context.Context, bankID string, from, to time.Time, afterID string, limit int) ([]domain.Redemption, error) {
	if limit <= 0 {
		return nil, nil
	}
	return queryAll(ctx, s.read, "list redemptions", scanRedemption, listRedemptions, bankID, millis(from), millis(to), afterID, limit)
}
