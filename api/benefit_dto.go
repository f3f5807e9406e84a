package api

import (
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Request and response bodies of benefits and vouchers (openapi.yaml: Offer,
// AdminBenefit, Voucher, CreateBenefitRequest).

// benefitBankRef names the bank that offers a benefit or honours a voucher.
type benefitBankRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func benefitBankRefOf(b domain.Bank) benefitBankRef { return benefitBankRef{ID: b.ID, Name: b.Name} }

// benefitBody is what citizens and operators both see of a benefit. rate_bp is
// set for rate kinds and amount_fen for cashback; the other is null.
type benefitBody struct {
	ID              string             `json:"id"`
	Bank            benefitBankRef     `json:"bank"`
	Title           string             `json:"title"`
	Terms           string             `json:"terms"`
	Kind            domain.BenefitKind `json:"kind"`
	RateBP          *int               `json:"rate_bp"`
	AmountFen       *int64             `json:"amount_fen"`
	PointsCost      int64              `json:"points_cost"`
	StockLeft       int64              `json:"stock_left"`
	PerCitizenLimit int                `json:"per_citizen_limit"`
	MinLevel        int                `json:"min_level"`
	Districts       []string           `json:"districts"`
	ValidFrom       time.Time          `json:"valid_from"`
	ValidUntil      time.Time          `json:"valid_until"`
	VoucherTTLDays  int                `json:"voucher_ttl_days"`
}

func benefitBodyOf(v domain.BenefitView) benefitBody {
	b := benefitBody{
		ID: v.ID, Bank: benefitBankRefOf(v.Bank), Title: v.Title, Terms: v.Terms, Kind: v.Kind,
		PointsCost: v.PointsCost, StockLeft: v.StockLeft(), PerCitizenLimit: v.PerCitizenLimit, MinLevel: v.MinLevel,
		Districts: v.Districts, ValidFrom: v.ValidFrom.UTC(), ValidUntil: v.ValidUntil.UTC(),
		VoucherTTLDays: int(v.VoucherTTL / (24 * time.Hour)),
	}
	switch v.Kind {
	case domain.BenefitLoanRateDiscount, domain.BenefitDepositRateBonus:
		rate := v.RateBP
		b.RateBP = &rate
	case domain.BenefitCashback:
		amount := v.AmountFen
		b.AmountFen = &amount
	}
	if b.Districts == nil {
		b.Districts = []string{}
	}
	return b
}

type ineligibleReasonBody struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// offerBody is a benefit open for claims as the signed-in citizen sees it.
type offerBody struct {
	benefitBody
	Held              int                    `json:"held"`
	Eligible          bool                   `json:"eligible"`
	IneligibleReasons []ineligibleReasonBody `json:"ineligible_reasons"`
}

func offerOf(o domain.Offer) offerBody {
	b := offerBody{benefitBody: benefitBodyOf(o.BenefitView), Held: o.Held, Eligible: o.Eligible,
		IneligibleReasons: make([]ineligibleReasonBody, 0, len(o.Reasons))}
	for _, r := range o.Reasons {
		b.IneligibleReasons = append(b.IneligibleReasons, ineligibleReasonBody{Code: r.Code, Message: r.Message})
	}
	return b
}

// adminBenefitBody is a benefit as operators see it: with its stock, how much of
// it was claimed, and who created it.
type adminBenefitBody struct {
	benefitBody
	Stock     int64     `json:"stock"`
	Claimed   int64     `json:"claimed"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

func adminBenefitOf(v domain.BenefitView) adminBenefitBody {
	return adminBenefitBody{benefitBody: benefitBodyOf(v), Stock: v.Stock, Claimed: v.Claimed,
		CreatedAt: v.CreatedAt.UTC(), CreatedBy: v.CreatedBy}
}

// voucherBody is a claimed benefit, shown to its holder only (it carries the code).
type voucherBody struct {
	ID           string               `json:"id"`
	Code         string               `json:"code"`
	BenefitID    string               `json:"benefit_id"`
	BenefitTitle string               `json:"benefit_title"`
	Bank         benefitBankRef       `json:"bank"`
	PointsSpent  int64                `json:"points_spent"`
	Balance      int64                `json:"balance"`
	Status       domain.VoucherStatus `json:"status"`
	IssuedAt     time.Time            `json:"issued_at"`
	ExpiresAt    time.Time            `json:"expires_at"`
}

func voucherOf(v domain.VoucherView) voucherBody {
	return voucherBody{
		ID: v.ID, Code: v.Code, BenefitID: v.BenefitID, BenefitTitle: v.BenefitTitle, Bank: benefitBankRefOf(v.Bank),
		PointsSpent: v.PointsSpent, Balance: v.BalanceAfter, Status: v.Status,
		IssuedAt: v.IssuedAt.UTC(), ExpiresAt: v.ExpiresAt.UTC(),
	}
}

// createBenefitRequest is POST /v1/admin/benefits. Presence is checked here;
// everything else (lengths, ranges, which of rate_bp and amount_fen the kind
// takes, the bank, districts, the window) by the domain, which names every bad
// field at once.
type createBenefitRequest struct {
	BankID          string   `json:"bank_id" validate:"required,max=64"`
	Title           string   `json:"title"`
	Terms           string   `json:"terms"`
	Kind            string   `json:"kind" validate:"required,max=32"`
	RateBP          *int     `json:"rate_bp"`
	AmountFen       *int64   `json:"amount_fen"`
	PointsCost      *int64   `json:"points_cost" validate:"required"`
	Stock           *int64   `json:"stock" validate:"required"`
	PerCitizenLimit *int     `json:"per_citizen_limit" validate:"required"`
	MinLevel        int      `json:"min_level"`
	Districts       []string `json:"districts" validate:"max=5"`
	ValidFrom       string   `json:"valid_from" validate:"required,max=64"`
	ValidUntil      string   `json:"valid_until" validate:"required,max=64"`
	VoucherTTLDays  *int     `json:"voucher_ttl_days" validate:"required"`
}

// maxTTLDaysRead bounds voucher_ttl_days before it becomes a duration, so a huge
// value cannot overflow into a valid one; the domain refuses anything over 366.
const maxTTLDaysRead = 100_000

func (r createBenefitRequest) toDomain() (domain.Benefit, error) {
	var fields []domain.FieldError
	parse := func(field, s string) time.Time {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			fields = append(fields, domain.FieldError{Field: field, Code: "invalid_time", Message: "must be an RFC 3339 time such as 2026-11-27T08:30:00+08:00"})
		}
		return t
	}
	b := domain.Benefit{
		BankID: r.BankID, Title: r.Title, Terms: r.Terms, Kind: domain.BenefitKind(r.Kind),
		PointsCost: *r.PointsCost, Stock: *r.Stock, PerCitizenLimit: *r.PerCitizenLimit, MinLevel: r.MinLevel,
		Districts: r.Districts, ValidFrom: parse("valid_from", r.ValidFrom), ValidUntil: parse("valid_until", r.ValidUntil),
	}
	if r.RateBP != nil {
		b.RateBP = *r.RateBP
	}
	if r.AmountFen != nil {
		b.AmountFen = *r.AmountFen
	}
	if d := *r.VoucherTTLDays; d > 0 && d <= maxTTLDaysRead {
		b.VoucherTTL = time.Duration(d) * 24 * time.Hour
	}
	if len(fields) > 0 {
		return b, domain.Invalid(fields...)
	}
	return b, nil
}
