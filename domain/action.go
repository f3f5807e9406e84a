package domain

import (
	"context"
	"time"
)

// ActionStatus is where an action stands.
type ActionStatus string

const (
	ActionCredited      ActionStatus = "credited"
	ActionPendingReview ActionStatus = "pending_review"
	// ActionRecording marks an action whose recording has started but not finished
	// (stores without transactions record in steps); it is never shown to clients.
	ActionRecording ActionStatus = "recording"
)

// Evidence is what proves an action: where it comes from and its reference there
// (a transit card ride id, a smart-bin drop id, an e-invoice number).
type Evidence struct {
	Source    string
	Reference string
}

// CapLimit names the daily cap that reduced a credit.
type CapLimit string

const (
	CapTypeDailyQuantity CapLimit = "type_daily_quantity"
	CapTypeDailyPoints   CapLimit = "type_daily_points"
	CapDailyPoints       CapLimit = "daily_points"
)

// CapOutcome reports that a daily cap reduced what an action was credited.
type CapOutcome struct {
	Limit             CapLimit
	RequestedQuantity Quantity
	CreditedQuantity  Quantity
	PointsWithheld    int64
}

// Action is one low-carbon act by one citizen.
type Action struct {
	ID          string
	CitizenID   string
	TypeCode    string
	RuleVersion int // the coefficient version used
	Quantity    Quantity
	OccurredAt  time.Time
	RecordedAt  time.Time
	Day         string // Asia/Shanghai day of OccurredAt, the day its caps count against
	Evidence    Evidence
	// EvidenceKey is unique across all actions of all citizens: a SHA-256 of the
	// evidence, or "none:<id>" for types that need none.
	EvidenceKey    string
	IdempotencyKey string
	RequestHash    string

	// Outcome, set by the store from the Credit the rules decided.
	Status           ActionStatus
	CreditedQuantity Quantity
	CO2eGrams        int64
	Points           int64
	Cap              *CapOutcome
	LedgerEntryID    string // "" when the action moved nothing
	BalanceAfter     int64  // the citizen's balance right after recording
}

// DayUsage is what a citizen has already been credited on one Shanghai day.
type DayUsage struct {
	TypeQuantity Quantity // of this action's type
	TypePoints   int64    // of this action's type
	TotalPoints  int64    // of all types
}

// Credit is what the rules decided an action earns.
type Credit struct {
	Status           ActionStatus
	CreditedQuantity Quantity
	CO2eGrams        int64
	Points           int64
	Cap              *CapOutcome
}

// DuplicateRequestError reports that the citizen already sent a request with this
// idempotency key; Existing is the action it recorded.
type DuplicateRequestError struct{ Existing Action }

func (e *DuplicateRequestError) Error() string { return "duplicate idempotency key" }

// ErrEvidenceUsed is returned when the evidence was already credited to anyone.
var ErrEvidenceUsed = Errorf(KindConflict, "evidence_already_used", "this evidence has already been used for an action")

// ActionStore records actions and keeps the points ledger.
type ActionStore interface {
	// RecordAction records a (with its outcome fields empty) atomically with its
	// effects: it reads the citizen's usage for a.Day, calls decide with it, and if
	// decide returns a Credit, stores the action with that outcome, appends one
	// earn ledger entry (ID newEntryID) when points or CO2e are non-zero, adds the
	// points to the balance and lifetime points, the CO2e to the lifetime CO2e, and
	// the credited quantity and points to the day's usage. It returns the stored
	// action with BalanceAfter set. If decide returns an error nothing is written and
	// that error is returned.
	//
	// Returns *DuplicateRequestError if the citizen already used a.IdempotencyKey,
	// ErrEvidenceUsed if any action holds a.EvidenceKey, ErrNotFound if the citizen
	// does not exist or was erased. Concurrent calls for one citizen never both see
	// the same usage: caps hold under any concurrency.
	RecordAction(ctx context.Context, a Action, newEntryID string, decide func(DayUsage) (Credit, error)) (Action, error)
	// GetAction returns ErrNotFound if there is none (or it is still recording).
	GetAction(ctx context.Context, id string) (Action, error)
	// FindActionByIdempotencyKey returns the citizen's action recorded under key,
	// including one still recording; ErrNotFound if none.
	FindActionByIdempotencyKey(ctx context.Context, citizenID, key string) (Action, error)
	// ListActions returns up to limit of the citizen's actions with ID below
	// beforeID ("" = newest), newest first. Recording actions are left out.
	ListActions(ctx context.Context, citizenID, beforeID string, limit int) ([]Action, error)
	// ListLedgerEntries returns up to limit of the citizen's entries with ID below
	// beforeID ("" = newest), newest first.
	ListLedgerEntries(ctx context.Context, citizenID, beforeID string, limit int) ([]LedgerEntry, error)
	// AnonymiseActions removes the evidence references of the citizen's actions
	// (EvidenceKey stays, so the evidence can still never be credited twice).
	AnonymiseActions(ctx context.Context, citizenID string) error
	// CompleteInterruptedActions finishes or undoes recordings that started before
	// `before` and never finished (a crash mid-way): applied ones are completed,
	// others are removed as if never sent. A no-op for transactional stores.
	CompleteInterruptedActions(ctx context.Context, before time.Time) (completed, removed int, err error)
	// CheckBalances compares, for up to limit citizens with ID above afterID in ID
	// order, their balance and lifetime totals with the sums of their ledger.
	CheckBalances(ctx context.Context, afterID string, limit int) ([]BalanceCheck, error)
}

// BalanceCheck holds a citizen's kept totals next to what their ledger adds up to.
type BalanceCheck struct {
	CitizenID                       string
	Balance, LedgerPoints           int64
	CO2eGramsTotal, LedgerCO2eGrams int64
	PointsEarnedTotal, LedgerEarned int64 // LedgerEarned: sum of positive earn points
}

// Consistent reports whether the kept totals equal the ledger's sums.
func (b BalanceCheck) Consistent() bool {
	return b.Balance == b.LedgerPoints && b.CO2eGramsTotal == b.LedgerCO2eGrams &&
		b.PointsEarnedTotal == b.LedgerEarned && b.Balance >= 0
}
