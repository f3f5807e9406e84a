package domain

import (
	"context"
	"time"
)

// Bank is a partner bank: it offers benefits, redeems its own vouchers and, with a
// citizen's consent, reads their carbon profile.
type Bank struct {
	ID        string
	Code      string // short stable identifier, e.g. "huzhou_bank"; unique
	Name      string // e.g. 湖州银行
	CreatedAt time.Time
	CreatedBy string // operator ID, or "seed"
}

// BenefitKind is what a benefit gives.
type BenefitKind string

const (
	BenefitLoanRateDiscount BenefitKind = "loan_rate_discount" // basis points off a loan rate
	BenefitDepositRateBonus BenefitKind = "deposit_rate_bonus" // basis points on a deposit rate
	BenefitFeeWaiver        BenefitKind = "fee_waiver"
	BenefitCashback         BenefitKind = "cashback" // an amount in fen
)

// Benefit is something one bank offers for carbon points.
type Benefit struct {
	ID     string
	BankID string
	Title  string
	Terms  string // what the bank commits to, shown to citizens
	Kind   BenefitKind
	// RateBP is the discount or bonus in basis points (loan_rate_discount,
	// deposit_rate_bonus); AmountFen the cashback in fen (cashback). Zero otherwise.
	RateBP    int
	AmountFen int64

	PointsCost      int64
	Stock           int64 // vouchers that may ever be issued
	Claimed         int64 // vouchers issued so far (kept by the store; refunds do not give stock back)
	PerCitizenLimit int   // vouchers one citizen may claim, ever
	MinLevel        int   // 0: any level
	Districts       []string
	ValidFrom       time.Time // claims are accepted from ValidFrom ...
	ValidUntil      time.Time // ... until ValidUntil (exclusive)
	VoucherTTL      time.Duration
	CreatedAt       time.Time
	CreatedBy       string
}

// VoucherStatus is where a voucher stands.
type VoucherStatus string

const (
	VoucherIssued   VoucherStatus = "issued"
	VoucherRedeemed VoucherStatus = "redeemed"
	VoucherExpired  VoucherStatus = "expired"  // not redeemed in time; points refunded
	VoucherReversed VoucherStatus = "reversed" // redeemed, then the bank reversed it; points refunded
	// VoucherClaiming marks a claim whose recording has started but not finished
	// (stores without transactions claim in steps); never shown to clients.
	VoucherClaiming VoucherStatus = "claiming"
)

// Voucher is a claimed benefit: points were debited, and the bank honours its code.
type Voucher struct {
	ID             string
	Code           string // unguessable; what the citizen shows the bank
	BenefitID      string
	BankID         string
	CitizenID      string
	PointsSpent    int64
	Status         VoucherStatus
	IssuedAt       time.Time
	ExpiresAt      time.Time
	IdempotencyKey string
	LedgerEntryID  string // the claim entry
	RefundEntryID  string // the refund entry, once expired
	BalanceAfter   int64  // the citizen's balance right after the claim (as returned by ClaimBenefit)
}

// ClaimTerms is what the rules decided a claim costs and how long its voucher lives.
type ClaimTerms struct {
	PointsCost int64
	ExpiresAt  time.Time
}

// Claim is a citizen's request to claim a benefit, with the identifiers the
// service chose for what it creates.
type Claim struct {
	VoucherID      string
	Code           string
	CitizenID      string
	BenefitID      string
	IdempotencyKey string
	EntryID        string // ID of the claim ledger entry
	At             time.Time
}

// DuplicateClaimError reports that the citizen already claimed with this
// idempotency key; Existing is the voucher it issued (or is issuing).
type DuplicateClaimError struct{ Existing Voucher }

func (e *DuplicateClaimError) Error() string { return "duplicate idempotency key" }

// BankStore keeps partner banks.
type BankStore interface {
	// CreateBank stores b; ErrConflict if its Code is taken.
	CreateBank(ctx context.Context, b Bank) error
	// GetBank returns ErrNotFound if there is no bank with id.
	GetBank(ctx context.Context, id string) (Bank, error)
	// ListBanks returns every bank in ID order.
	ListBanks(ctx context.Context) ([]Bank, error)
}

// BenefitStore keeps benefits and issues vouchers for them.
type BenefitStore interface {
	// CreateBenefit stores b (Claimed is ignored and starts at 0).
	CreateBenefit(ctx context.Context, b Benefit) error
	// GetBenefit returns ErrNotFound if there is none.
	GetBenefit(ctx context.Context, id string) (Benefit, error)
	// ListBenefits returns up to limit benefits with ID above afterID in ID order;
	// bankID "" means every bank's.
	ListBenefits(ctx context.Context, bankID, afterID string, limit int) ([]Benefit, error)

	// ClaimBenefit issues one voucher atomically with its effects: it reads the
	// benefit, the citizen and how many vouchers of the benefit the citizen holds
	// (any status), calls decide with them, and if decide returns terms, debits
	// terms.PointsCost from the balance with one claim ledger entry (c.EntryID,
	// CauseType "voucher", CauseID c.VoucherID), counts one more claimed unit of
	// the benefit and stores the voucher as issued. It returns the voucher with
	// BalanceAfter set. If decide returns an error nothing is written and that
	// error is returned.
	//
	// Returns *DuplicateClaimError if the citizen already used c.IdempotencyKey,
	// ErrNotFound if the benefit or the citizen does not exist or was erased.
	// Whatever the concurrency, a benefit never issues more than Stock vouchers, a
	// citizen never holds more than PerCitizenLimit of one benefit, and a balance
	// never goes below zero (decide sees what the others committed).
	ClaimBenefit(ctx context.Context, c Claim, decide func(b Benefit, citizen Citizen, held int) (ClaimTerms, error)) (Voucher, error)
	// FindClaimByIdempotencyKey returns the citizen's voucher claimed under key,
	// including one still claiming; ErrNotFound if none.
	FindClaimByIdempotencyKey(ctx context.Context, citizenID, key string) (Voucher, error)
	// ListVouchers returns up to limit of the citizen's vouchers with ID below
	// beforeID ("" = newest), newest first; vouchers still claiming are left out.
	ListVouchers(ctx context.Context, citizenID, beforeID string, limit int) ([]Voucher, error)
	// ExpireVouchers marks up to limit issued vouchers whose ExpiresAt is at or
	// before now as expired, each atomically with a refund ledger entry (ID from
	// newEntryID; CauseType "voucher", CauseID the voucher ID) that gives the points
	// back. Idempotent: a voucher is refunded at most once.
	ExpireVouchers(ctx context.Context, now time.Time, limit int, newEntryID func() string) (expired int, err error)
	// CompleteInterruptedClaims finishes or undoes claims that started before
	// `before` and never finished (a crash mid-way): those whose debit was applied
	// are completed, the others are undone as if never sent (stock and the
	// citizen's count given back). A no-op for transactional stores.
	CompleteInterruptedClaims(ctx context.Context, before time.Time) (completed, undone int, err error)
}
