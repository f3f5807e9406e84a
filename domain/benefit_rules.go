package domain

import (
	"fmt"
	"time"
)

// Limits on what a benefit may promise; beyond them a benefit is a typo, not an
// offer (a 10 000 bp "discount" is 100 percentage points).
const (
	MaxBenefitRateBP     = 500                  // 5 percentage points
	MaxBenefitAmountFen  = 1_000_000            // CNY 10 000
	MaxBenefitPointsCost = 10_000_000           // points
	MaxBenefitStock      = 10_000_000           // vouchers
	MaxVoucherTTL        = 366 * 24 * time.Hour // a voucher lives at most a year
)

// BenefitKinds lists the kinds a benefit may have.
var BenefitKinds = []BenefitKind{BenefitLoanRateDiscount, BenefitDepositRateBonus, BenefitFeeWaiver, BenefitCashback}

// ValidateBenefit checks what an operator (or the seeds) may offer: every bad
// field is named. Levels are the configured carbon grades (MinLevel must be one).
func ValidateBenefit(b Benefit, levels []Level) error {
	var fields []FieldError
	bad := func(field, code, msg string) {
		fields = append(fields, FieldError{Field: field, Code: code, Message: msg})
	}
	if b.BankID == "" {
		bad("bank_id", "required", "is required")
	}
	if fe := validateText("title", b.Title, 64); fe != nil {
		fields = append(fields, *fe)
	}
	if fe := validateText("terms", b.Terms, 2000); fe != nil {
		fields = append(fields, *fe)
	}
	switch b.Kind {
	case BenefitLoanRateDiscount, BenefitDepositRateBonus:
		if b.RateBP < 1 || b.RateBP > MaxBenefitRateBP {
			bad("rate_bp", "out_of_range", fmt.Sprintf("must be between 1 and %d basis points for %s", MaxBenefitRateBP, b.Kind))
		}
		if b.AmountFen != 0 {
			bad("amount_fen", "not_allowed", "only cashback benefits have an amount")
		}
	case BenefitCashback:
		if b.AmountFen < 1 || b.AmountFen > MaxBenefitAmountFen {
			bad("amount_fen", "out_of_range", fmt.Sprintf("must be between 1 and %d fen for cashback", MaxBenefitAmountFen))
		}
		if b.RateBP != 0 {
			bad("rate_bp", "not_allowed", "only rate discounts and bonuses have basis points")
		}
	case BenefitFeeWaiver:
		if b.RateBP != 0 || b.AmountFen != 0 {
			bad("kind", "invalid", "a fee waiver has neither basis points nor an amount; describe the fee in terms")
		}
	default:
		bad("kind", "unknown_kind", "must be one of loan_rate_discount, deposit_rate_bonus, fee_waiver, cashback")
	}
	if b.PointsCost < 1 || b.PointsCost > MaxBenefitPointsCost {
		bad("points_cost", "out_of_range", fmt.Sprintf("must be between 1 and %d", MaxBenefitPointsCost))
	}
	if b.Stock < 1 || b.Stock > MaxBenefitStock {
		bad("stock", "out_of_range", fmt.Sprintf("must be between 1 and %d", MaxBenefitStock))
	}
	if b.PerCitizenLimit < 1 || int64(b.PerCitizenLimit) > b.Stock {
		bad("per_citizen_limit", "out_of_range", "must be at least 1 and at most the stock")
	}
	if b.MinLevel != 0 && !levelExists(levels, b.MinLevel) {
		bad("min_level", "unknown_level", "must be 0 (any) or one of the carbon levels")
	}
	seen := map[string]bool{}
	for _, d := range b.Districts {
		if fe := validateDistrict("districts", d, false); fe != nil {
			fields = append(fields, *fe)
		} else if seen[d] {
			bad("districts", "duplicate", "lists "+d+" twice")
		}
		seen[d] = true
	}
	if b.ValidFrom.IsZero() || b.ValidUntil.IsZero() || !b.ValidUntil.After(b.ValidFrom) {
		bad("valid_until", "not_after_valid_from", "valid_from and valid_until are required, valid_until after valid_from")
	}
	if b.VoucherTTL < 24*time.Hour || b.VoucherTTL > MaxVoucherTTL || b.VoucherTTL%(24*time.Hour) != 0 {
		bad("voucher_ttl_days", "out_of_range", "must be a whole number of days between 1 and 366")
	}
	if len(fields) > 0 {
		return Invalid(fields...)
	}
	return nil
}

func levelExists(levels []Level, n int) bool {
	for _, l := range levels {
		if l.Number == n {
			return true
		}
	}
	return false
}
