package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

var _ domain.BenefitStore = (*Store)(nil)

const benefitColumns = `id, bank_id, title, terms, kind, rate_bp, amount_fen, points_cost, stock, claimed,
	per_citizen_limit, min_level, districts, valid_from, valid_until, voucher_ttl_ns, created_at, created_by`

const (
	insertBenefit = "INSERT INTO benefits (" + benefitColumns + `)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?)`
	benefitByID = "SELECT " + benefitColumns + " FROM benefits WHERE id = ?"

	// The listings seek to afterID in the primary key, or in benefits_bank for one
	// bank's, and walk it in order. ?2 is the bank in both, so they take the same
	// arguments.
	listBenefitsAll  = "SELECT " + benefitColumns + " FROM benefits WHERE id > ?1 ORDER BY id LIMIT ?3"
	listBenefitsBank = "SELECT " + benefitColumns + " FROM benefits WHERE bank_id = ?2 AND id > ?1 ORDER BY id LIMIT ?3"
)

func scanBenefit(r rowScanner) (domain.Benefit, error) {
	var b domain.Benefit
	var kind, districts string
	var from, until, ttl, created int64
	err := r.Scan(&b.ID, &b.BankID, &b.Title, &b.Terms, &kind, &b.RateBP, &b.AmountFen, &b.PointsCost, &b.Stock, &b.Claimed,
		&b.PerCitizenLimit, &b.MinLevel, &districts, &from, &until, &ttl, &created, &b.CreatedBy)
	if err != nil {
		return domain.Benefit{}, err
	}
	// "null" decodes to a nil slice and "[]" to an empty one, so Districts reads
	// back exactly as it was written.
	if err := json.Unmarshal([]byte(districts), &b.Districts); err != nil {
		return domain.Benefit{}, fmt.Errorf("districts of benefit %s: %w", b.ID, err)
	}
	b.Kind = domain.BenefitKind(kind)
	b.ValidFrom, b.ValidUntil, b.CreatedAt = fromMillis(from), fromMillis(until), fromMillis(created)
	b.VoucherTTL = time.Duration(ttl)
	return b, nil
}

// CreateBenefit inserts b with claimed at 0; an id already taken is ErrConflict.
// The CHECK on benefits refuses a negative stock.
func (s *Store) CreateBenefit(ctx context.Context, b domain.Benefit) error {
	districts, err := json.Marshal(b.Districts)
	if err != nil {
		return fmt.Errorf("sqlite: create benefit: districts: %w", err)
	}
	_, err = s.write.ExecContext(ctx, insertBenefit,
		b.ID, b.BankID, b.Title, b.Terms, string(b.Kind), b.RateBP, b.AmountFen, b.PointsCost, b.Stock,
		b.PerCitizenLimit, b.MinLevel, string(districts), millis(b.ValidFrom), millis(b.ValidUntil), int64(b.VoucherTTL),
		millis(b.CreatedAt), b.CreatedBy)
	if isUniqueViolation(err) {
		return domain.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("sqlite: create benefit: %w", err)
	}
	s.walGrew()
	return nil
}

// GetBenefit returns the benefit with id, or ErrNotFound.
func (s *Store) GetBenefit(ctx context.Context, id string) (domain.Benefit, error) {
	return queryOne(ctx, s.read, "get benefit", scanBenefit, benefitByID, id)
}

// ListBenefits returns up to limit benefits above afterID in id order, of one bank
// unless bankID is "".
func (s *Store) ListBenefits(ctx context.Context, bankID, afterID string, limit int) ([]domain.Benefit, error) {
	if limit <= 0 {
		return nil, nil // SQLite would read LIMIT -1 as "no limit"
	}
	q := listBenefitsAll
	if bankID != "" {
		q = listBenefitsBank
	}
	return queryAll(ctx, s.read, "list benefits", scanBenefit, q, afterID, bankID, limit)
}

// The statements of ClaimBenefit, all on one row or one index range.
const (
	// citizenForClaim reads the citizen unless missing or erased.
	citizenForClaim = "SELECT " + citizenColumns + " FROM citizens WHERE id = ? AND erased_at IS NULL"
	// vouchersHeld counts the citizen's vouchers of a benefit, any status, through
	// the covering index vouchers_citizen.
	vouchersHeld = "SELECT count(*) FROM vouchers WHERE citizen_id = ? AND benefit_id = ?"
	// spendPoints debits the citizen; the CHECK (balance >= 0) on citizens refuses
	// any result below zero.
	spendPoints = "UPDATE citizens SET balance = balance - ?2 WHERE id = ?1 AND erased_at IS NULL RETURNING balance"
	// claimUnit counts one more voucher of the benefit, never past its stock (the
	// CHECK on benefits holds the same line).
	claimUnit     = "UPDATE benefits SET claimed = claimed + 1 WHERE id = ? AND claimed < stock"
	insertVoucher = "INSERT INTO vouchers (" + voucherColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

// ClaimBenefit issues a voucher with its effects in one write transaction (BEGIN
// IMMEDIATE on the single writer connection; see domain.BenefitStore). Writers are
// serialised, so what decide sees (the benefit's claimed count, the citizen's
// balance, how many vouchers they hold) cannot change before the writes, and
// concurrent claims cannot oversell, exceed a citizen's limit or overspend. The
// guarded UPDATEs and the CHECK constraints hold the same lines in the database
// should decide let through what it must not.
//
// Refusals (a duplicate key, an unknown benefit, an unknown or erased citizen,
// decide's error) are found before the first write; every error rolls the
// transaction back, so a failed claim writes nothing. A panic in decide rolls it
// back too (writeTx) and reaches the caller.
//
// Claims do not go through the action recorder's group commit: they are far rarer
// than actions, and a transaction of their own keeps them out of its batches.
func (s *Store) ClaimBenefit(ctx context.Context, c domain.Claim,
	decide func(b domain.Benefit, citizen domain.Citizen, held int) (domain.ClaimTerms, error)) (domain.Voucher, error) {
	var v domain.Voucher
	err := s.writeTx(ctx, "claim benefit", func(tx *sql.Tx) error {
		existing, err := scanVoucher(tx.QueryRowContext(ctx, voucherByIdempotencyKey, c.CitizenID, c.IdempotencyKey))
		switch {
		case err == nil:
			return &domain.DuplicateClaimError{Existing: existing}
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlite: claim benefit: read idempotency key: %w", err)
		}
		b, err := scanBenefit(tx.QueryRowContext(ctx, benefitByID, c.BenefitID))
		if errors.Is(err, sql.ErrNoRows) {
			return domain.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("sqlite: claim benefit: read benefit: %w", err)
		}
		citizen, err := scanCitizen(tx.QueryRowContext(ctx, citizenForClaim, c.CitizenID))
		if errors.Is(err, sql.ErrNoRows) {
			return domain.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("sqlite: claim benefit: read citizen: %w", err)
		}
		var held int
		if err := tx.QueryRowContext(ctx, vouchersHeld, c.CitizenID, c.BenefitID).Scan(&held); err != nil {
			return fmt.Errorf("sqlite: claim benefit: count vouchers held: %w", err)
		}

		terms, err := decide(b, citizen, held)
		if err != nil {
			return err
		}
		if terms.PointsCost < 0 {
			return fmt.Errorf("sqlite: claim benefit: refused: negative points cost %d", terms.PointsCost)
		}

		v = domain.Voucher{
			ID: c.VoucherID, Code: c.Code, BenefitID: b.ID, BankID: b.BankID, CitizenID: c.CitizenID,
			PointsSpent: terms.PointsCost, Status: domain.VoucherIssued,
			IssuedAt:       c.At.UTC().Truncate(time.Millisecond),
			ExpiresAt:      terms.ExpiresAt.UTC().Truncate(time.Millisecond),
			IdempotencyKey: c.IdempotencyKey, LedgerEntryID: c.EntryID,
		}
		err = tx.QueryRowContext(ctx, spendPoints, c.CitizenID, terms.PointsCost).Scan(&v.BalanceAfter)
		if isCheckViolation(err) {
			return fmt.Errorf("sqlite: claim benefit: refused: spending %d points would make citizen %s's balance negative: %w",
				terms.PointsCost, c.CitizenID, err)
		}
		if err != nil {
			// ErrNoRows cannot happen: the citizen was read in this transaction.
			return fmt.Errorf("sqlite: claim benefit: debit points: %w", err)
		}
		n, err := execCount(ctx, tx, claimUnit, b.ID)
		if err != nil {
			return fmt.Errorf("sqlite: claim benefit: count claimed unit: %w", err)
		}
		if n != 1 {
			return fmt.Errorf("sqlite: claim benefit: refused: benefit %s has no stock left (%d of %d claimed)", b.ID, b.Claimed, b.Stock)
		}
		_, err = tx.ExecContext(ctx, insertLedgerEntry,
			c.EntryID, c.CitizenID, string(domain.LedgerClaim), -terms.PointsCost, 0, v.BalanceAfter,
			voucherCause, c.VoucherID, millis(v.IssuedAt))
		if isUniqueViolation(err) {
			return domain.ErrConflict // the entry id, or a claim entry for this voucher id, exists
		}
		if err != nil {
			return fmt.Errorf("sqlite: claim benefit: insert ledger entry: %w", err)
		}
		_, err = tx.ExecContext(ctx, insertVoucher, voucherArgs(v)...)
		if isUniqueViolation(err) {
			// The voucher id or code is taken; the idempotency key was free above and
			// nobody else can write in between.
			return domain.ErrConflict
		}
		if err != nil {
			return fmt.Errorf("sqlite: claim benefit: insert voucher: %w", err)
		}
		return nil
	})
	if err != nil {
		return domain.Voucher{}, err
	}
	return v, nil
}
