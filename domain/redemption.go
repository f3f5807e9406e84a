package domain

import (
	"context"
	"time"
)

// VoucherReversed (declared with the other statuses in benefit.go) marks a voucher
// whose redemption the bank reversed: the points went back to the citizen and the
// voucher cannot be redeemed again.

// Redemption is a bank honouring a voucher: the voucher becomes redeemed, and
// the bank may reverse it within a window, which refunds the citizen's points.
type Redemption struct {
	ID             string
	VoucherID      string
	VoucherCode    string
	BankID         string
	BenefitID      string
	CitizenID      string // never shown to banks
	PointsSpent    int64  // the voucher's, refunded in full by a reversal
	ExternalRef    string // the bank's own reference (1-64 printable ASCII)
	IdempotencyKey string // unique per bank
	RedeemedAt     time.Time
	ReversedAt     *time.Time
	ReversalReason string
	RefundEntryID  string // the refund ledger entry, once reversed
}

// Reversed reports whether the redemption was reversed.
func (r Redemption) Reversed() bool { return r.ReversedAt != nil }

// RedemptionCause is the CauseType of the refund entry of a reversed redemption
// (CauseID the redemption ID). A voucher's expiry refund uses "voucher", so the two
// refunds of one voucher can never collide on (kind, cause_type, cause_id).
const RedemptionCause = "redemption"

// Errors of redemption and reversal. Stores return them as they are.
var (
	ErrVoucherExpired         = Errorf(KindConflict, "voucher_expired", "this voucher has expired; its points were or will be refunded to the citizen")
	ErrVoucherAlreadyRedeemed = Errorf(KindConflict, "voucher_already_redeemed", "this voucher was already redeemed")
	ErrReversalWindowClosed   = Errorf(KindUnprocessable, "reversal_window_closed", "this redemption can no longer be reversed")
	ErrAlreadyReversed        = Errorf(KindConflict, "already_reversed", "this redemption was already reversed, with another reason")
)

// DuplicateRedemptionError reports that the bank already used this idempotency
// key; Existing is the redemption it made.
type DuplicateRedemptionError struct{ Existing Redemption }

func (e *DuplicateRedemptionError) Error() string { return "duplicate idempotency key" }

// RedemptionReversedError reports that the redemption was already reversed;
// Existing is it as stored.
type RedemptionReversedError struct{ Existing Redemption }

func (e *RedemptionReversedError) Error() string { return "redemption already reversed" }

// RedemptionStore keeps redemptions and applies them to vouchers and balances.
type RedemptionStore interface {
	// RedeemVoucher stores r (ID, VoucherCode, BankID, ExternalRef,
	// IdempotencyKey, RedeemedAt set by the caller) and marks the voucher with
	// code r.VoucherCode redeemed, atomically. It fills in VoucherID, BenefitID,
	// CitizenID and PointsSpent from the voucher and returns the stored redemption.
	//
	// In order: *DuplicateRedemptionError if the bank already used
	// r.IdempotencyKey (whatever the voucher); ErrNotFound if no voucher has the
	// code, it belongs to another bank's benefit or is still being claimed;
	// ErrVoucherExpired if it expired (status, or ExpiresAt at or before
	// RedeemedAt even if expiry has not run); ErrVoucherAlreadyRedeemed if it is
	// redeemed or reversed. Only an issued voucher is redeemed, however many race.
	RedeemVoucher(ctx context.Context, r Redemption) (Redemption, error)
	// ReverseRedemption reverses the bank's redemption id at `at`: the voucher
	// becomes reversed, the citizen gets PointsSpent back with one refund entry
	// (refundEntryID; CauseType RedemptionCause, CauseID id; no CO2e; CreatedAt
	// at; PointsEarnedTotal unchanged), and the redemption records at, reason and
	// the entry. ErrNotFound if the bank has no such redemption;
	// *RedemptionReversedError if it was reversed already (checked first);
	// ErrReversalWindowClosed if at is not before RedeemedAt+window. At most one
	// reversal succeeds, however many race.
	ReverseRedemption(ctx context.Context, bankID, id, reason string, at time.Time, window time.Duration, refundEntryID string) (Redemption, error)
	// GetRedemption returns the bank's redemption id; ErrNotFound if none (or another bank's).
	GetRedemption(ctx context.Context, bankID, id string) (Redemption, error)
	// ListRedemptions returns up to limit of the bank's redemptions with
	// RedeemedAt in [from, to) and ID above afterID, in ID order.
	ListRedemptions(ctx context.Context, bankID string, from, to time.Time, afterID string, limit int) ([]Redemption, error)
}
