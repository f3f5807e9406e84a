package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// voucherCause is the CauseType of the claim and refund ledger entries of a voucher.
const voucherCause = "voucher"

const voucherColumns = `id, code, benefit_id, bank_id, citizen_id, points_spent, status, issued_at, expires_at,
	idempotency_key, ledger_entry_id, refund_entry_id, balance_after`

const (
	voucherByIdempotencyKey = "SELECT " + voucherColumns + " FROM vouchers WHERE citizen_id = ? AND idempotency_key = ?"

	// Listing walks vouchers_citizen backwards from the cursor; the first page has
	// its own query so that both seek directly in the index. SQLite never stores a
	// voucher as claiming; the filter is there for the port's contract.
	listVouchersFirst  = "SELECT " + voucherColumns + " FROM vouchers WHERE citizen_id = ?1 AND status <> 'claiming' ORDER BY id DESC LIMIT ?3"
	listVouchersBefore = "SELECT " + voucherColumns + " FROM vouchers WHERE citizen_id = ?1 AND id < ?2 AND status <> 'claiming' ORDER BY id DESC LIMIT ?3"

	// dueVouchers finds issued vouchers expired by ?1, oldest first, in vouchers_expiry.
	dueVouchers = "SELECT id FROM vouchers WHERE status = 'issued' AND expires_at <= ?1 ORDER BY expires_at LIMIT ?2"
	// expireVoucher is guarded by the status, so a voucher is expired (and
	// refunded) once however many runs race, and never once redeemed.
	expireVoucher = `UPDATE vouchers SET status = 'expired', refund_entry_id = ?2
		WHERE id = ?1 AND status = 'issued' RETURNING citizen_id, points_spent`
	// refundPoints gives the points back, to an erased citizen too: their record
	// stays so that their ledger keeps adding up.
	refundPoints = "UPDATE citizens SET balance = balance + ?2 WHERE id = ?1 RETURNING balance"
)

func scanVoucher(r rowScanner) (domain.Voucher, error) {
	var v domain.Voucher
	var status string
	var issued, expires int64
	err := r.Scan(&v.ID, &v.Code, &v.BenefitID, &v.BankID, &v.CitizenID, &v.PointsSpent, &status, &issued, &expires,
		&v.IdempotencyKey, &v.LedgerEntryID, &v.RefundEntryID, &v.BalanceAfter)
	if err != nil {
		return domain.Voucher{}, err
	}
	v.Status = domain.VoucherStatus(status)
	v.IssuedAt, v.ExpiresAt = fromMillis(issued), fromMillis(expires)
	return v, nil
}

// voucherArgs are v's values in voucherColumns order.
func voucherArgs(v domain.Voucher) []any {
	return []any{v.ID, v.Code, v.BenefitID, v.BankID, v.CitizenID, v.PointsSpent, string(v.Status),
		millis(v.IssuedAt), millis(v.ExpiresAt), v.IdempotencyKey, v.LedgerEntryID, v.RefundEntryID, v.BalanceAfter}
}

// FindClaimByIdempotencyKey looks the key up through UNIQUE (citizen_id, idempotency_key).
func (s *Store) FindClaimByIdempotencyKey(ctx context.Context, citizenID, key string) (domain.Voucher, error) {
	return queryOne(ctx, s.read, "find claim by idempotency key", scanVoucher, voucherByIdempotencyKey, citizenID, key)
}

// ListVouchers returns the citizen's vouchers newest first, below beforeID if set.
func (s *Store) ListVouchers(ctx context.Context, citizenID, beforeID string, limit int) ([]domain.Voucher, error) {
	return citizenPage(ctx, s.read, "list vouchers", scanVoucher, listVouchersFirst, listVouchersBefore, citizenID, beforeID, limit)
}

// ExpireVouchers finds up to limit due vouchers on a reader, then expires each in a
// write transaction of its own: the guarded status change, the refund entry and
// the balance together. Small transactions let other writers interleave with a
// large backlog. A voucher redeemed or expired by someone else after it was found
// is skipped (the guard matches no row), and the UNIQUE (kind, cause_type,
// cause_id) on ledger_entries allows one refund per voucher whatever happens.
func (s *Store) ExpireVouchers(ctx context.Context, now time.Time, limit int, newEntryID func() string) (expired int, err error) {
	if limit <= 0 {
		return 0, nil
	}
	rows, err := s.read.QueryContext(ctx, dueVouchers, millis(now), limit)
	if err != nil {
		return 0, fmt.Errorf("sqlite: expire vouchers: %w", err)
	}
	due, err := collect(rows, func(r rowScanner) (id string, err error) { return id, r.Scan(&id) })
	if err != nil {
		return 0, fmt.Errorf("sqlite: expire vouchers: %w", err)
	}
	at := millis(now)
	for _, id := range due {
		var done bool
		err := s.writeTx(ctx, "expire voucher", func(tx *sql.Tx) error {
			var err error
			done, err = expireOne(ctx, tx, id, at, newEntryID())
			return err
		})
		if err != nil {
			return expired, err
		}
		if done {
			expired++
		}
	}
	return expired, nil
}

// expireOne expires and refunds voucher id unless it is no longer issued.
func expireOne(ctx context.Context, tx *sql.Tx, id string, at int64, entryID string) (bool, error) {
	var citizenID string
	var points int64
	err := tx.QueryRowContext(ctx, expireVoucher, id, entryID).Scan(&citizenID, &points)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil // redeemed or expired since it was found
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: expire voucher %s: %w", id, err)
	}
	var balance int64
	if err := tx.QueryRowContext(ctx, refundPoints, citizenID, points).Scan(&balance); err != nil {
		// ErrNoRows would mean the citizen's record is gone, which never happens
		// (erasure keeps it); refunding nobody must not expire the voucher.
		return false, fmt.Errorf("sqlite: expire voucher %s: refund citizen %s: %w", id, citizenID, err)
	}
	_, err = tx.ExecContext(ctx, insertLedgerEntry,
		entryID, citizenID, string(domain.LedgerRefund), points, 0, balance, voucherCause, id, at)
	if isUniqueViolation(err) {
		return false, fmt.Errorf("sqlite: expire voucher %s: refund entry %s: %w", id, entryID, domain.ErrConflict)
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: expire voucher %s: refund entry: %w", id, err)
	}
	return true, nil
}

// CompleteInterruptedClaims has nothing to do: ClaimBenefit is one transaction, so
// a crash leaves either all of a claim or none of it.
func (s *Store) CompleteInterruptedClaims(context.Context, time.Time) (completed, undone int, err error) {
	return 0, 0, nil
}
