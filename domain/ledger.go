package domain

import "time"

// LedgerKind says why a citizen's points changed.
type LedgerKind string

const (
	LedgerEarn    LedgerKind = "earn"    // an action was credited
	LedgerClaim   LedgerKind = "claim"   // points spent on a benefit
	LedgerRefund  LedgerKind = "refund"  // a claim was undone
	LedgerExpire  LedgerKind = "expire"  // points expired
	LedgerAdjust  LedgerKind = "adjust"  // an operator corrected the balance, with a reason
	LedgerReverse LedgerKind = "reverse" // a credited action was reversed
)

// LedgerEntry is one append-only change to a citizen's account. For every citizen
// at all times: balance = sum of Points over their entries, and balance >= 0.
// CO2eGrams moves the lifetime carbon total and is never touched by spending.
type LedgerEntry struct {
	ID           string // ULID: entries sort by time
	CitizenID    string
	Kind         LedgerKind
	Points       int64 // signed
	CO2eGrams    int64 // signed; non-zero for earn and reverse only
	BalanceAfter int64
	CauseType    string // "action", "voucher" (claim, refund), later "adjustment", ...
	CauseID      string // at most one entry per (Kind, CauseType, CauseID)
	CreatedAt    time.Time
}
