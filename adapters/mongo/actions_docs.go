package mongo

import (
	"strings"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// actionDoc is an action as stored in `actions`. While it is being recorded its
// status is "recording" and the outcome fields are zero (see RecordAction).
type actionDoc struct {
	ID             string      `bson:"_id"`
	CitizenID      string      `bson:"citizen_id"`
	TypeCode       string      `bson:"type_code"`
	RuleVersion    int         `bson:"rule_version"`
	Quantity       int64       `bson:"quantity"`
	OccurredAt     time.Time   `bson:"occurred_at"`
	RecordedAt     time.Time   `bson:"recorded_at"`
	Day            string      `bson:"day"`
	Evidence       evidenceDoc `bson:"evidence"`
	EvidenceKey    string      `bson:"evidence_key"`
	IdempotencyKey string      `bson:"idempotency_key"`
	RequestHash    string      `bson:"request_hash"`

	Status           string  `bson:"status"`
	CreditedQuantity int64   `bson:"credited_quantity"`
	CO2eGrams        int64   `bson:"co2e_g"`
	Points           int64   `bson:"points"`
	Cap              *capDoc `bson:"cap,omitempty"`
	LedgerEntryID    string  `bson:"ledger_entry_id"`
	BalanceAfter     int64   `bson:"balance_after"`
}

type evidenceDoc struct {
	Source    string `bson:"source"`
	Reference string `bson:"reference"`
}

type capDoc struct {
	Limit             string `bson:"limit"`
	RequestedQuantity int64  `bson:"requested_quantity"`
	CreditedQuantity  int64  `bson:"credited_quantity"`
	PointsWithheld    int64  `bson:"points_withheld"`
}

func capToDoc(c *domain.CapOutcome) *capDoc {
	if c == nil {
		return nil
	}
	return &capDoc{
		Limit:             string(c.Limit),
		RequestedQuantity: int64(c.RequestedQuantity),
		CreditedQuantity:  int64(c.CreditedQuantity),
		PointsWithheld:    c.PointsWithheld,
	}
}

func (d *capDoc) toDomain() *domain.CapOutcome {
	if d == nil {
		return nil
	}
	return &domain.CapOutcome{
		Limit:             domain.CapLimit(d.Limit),
		RequestedQuantity: domain.Quantity(d.RequestedQuantity),
		CreditedQuantity:  domain.Quantity(d.CreditedQuantity),
		PointsWithheld:    d.PointsWithheld,
	}
}

func actionToDoc(a domain.Action) actionDoc {
	return actionDoc{
		ID:               a.ID,
		CitizenID:        a.CitizenID,
		TypeCode:         a.TypeCode,
		RuleVersion:      a.RuleVersion,
		Quantity:         int64(a.Quantity),
		OccurredAt:       toDate(a.OccurredAt),
		RecordedAt:       toDate(a.RecordedAt),
		Day:              a.Day,
		Evidence:         evidenceDoc{Source: a.Evidence.Source, Reference: a.Evidence.Reference},
		EvidenceKey:      a.EvidenceKey,
		IdempotencyKey:   a.IdempotencyKey,
		RequestHash:      a.RequestHash,
		Status:           string(a.Status),
		CreditedQuantity: int64(a.CreditedQuantity),
		CO2eGrams:        a.CO2eGrams,
		Points:           a.Points,
		Cap:              capToDoc(a.Cap),
		LedgerEntryID:    a.LedgerEntryID,
		BalanceAfter:     a.BalanceAfter,
	}
}

func (d actionDoc) toDomain() domain.Action {
	return domain.Action{
		ID:               d.ID,
		CitizenID:        d.CitizenID,
		TypeCode:         d.TypeCode,
		RuleVersion:      d.RuleVersion,
		Quantity:         domain.Quantity(d.Quantity),
		OccurredAt:       fromDate(d.OccurredAt),
		RecordedAt:       fromDate(d.RecordedAt),
		Day:              d.Day,
		Evidence:         domain.Evidence{Source: d.Evidence.Source, Reference: d.Evidence.Reference},
		EvidenceKey:      d.EvidenceKey,
		IdempotencyKey:   d.IdempotencyKey,
		RequestHash:      d.RequestHash,
		Status:           domain.ActionStatus(d.Status),
		CreditedQuantity: domain.Quantity(d.CreditedQuantity),
		CO2eGrams:        d.CO2eGrams,
		Points:           d.Points,
		Cap:              d.Cap.toDomain(),
		LedgerEntryID:    d.LedgerEntryID,
		BalanceAfter:     d.BalanceAfter,
	}
}

// ledgerEntryDoc is one entry of `ledger_entries`; append-only.
type ledgerEntryDoc struct {
	ID           string    `bson:"_id"`
	CitizenID    string    `bson:"citizen_id"`
	Kind         string    `bson:"kind"`
	Points       int64     `bson:"points"`
	CO2eGrams    int64     `bson:"co2e_g"`
	BalanceAfter int64     `bson:"balance_after"`
	CauseType    string    `bson:"cause_type"`
	CauseID      string    `bson:"cause_id"`
	CreatedAt    time.Time `bson:"created_at"`
}

func (d ledgerEntryDoc) toDomain() domain.LedgerEntry {
	return domain.LedgerEntry{
		ID:           d.ID,
		CitizenID:    d.CitizenID,
		Kind:         domain.LedgerKind(d.Kind),
		Points:       d.Points,
		CO2eGrams:    d.CO2eGrams,
		BalanceAfter: d.BalanceAfter,
		CauseType:    d.CauseType,
		CauseID:      d.CauseID,
		CreatedAt:    fromDate(d.CreatedAt),
	}
}

// outcomeDoc is what finishing a recording writes into its action document.
// Its zero value (no status) is left out of a pending item (see pendingDoc).
type outcomeDoc struct {
	Status           string  `bson:"status"`
	CreditedQuantity int64   `bson:"credited_quantity"`
	CO2eGrams        int64   `bson:"co2e_g"`
	Points           int64   `bson:"points"`
	Cap              *capDoc `bson:"cap,omitempty"`
	LedgerEntryID    string  `bson:"ledger_entry_id"`
	BalanceAfter     int64   `bson:"balance_after"`
}

// IsZero lets `omitempty` leave the outcome out of pending items that are not
// actions' (a recorded outcome always has a status).
func (o outcomeDoc) IsZero() bool { return o.Status == "" }

// pendingDoc is a change whose effects are applied to the citizen document but
// whose ledger entry and final state may not be written yet; it carries everything
// needed to write them, so finishing is idempotent and needs no further decision.
// It sits in the citizen's `pending` array from the moment the balance moves until
// both are written. Exactly one of the ids says what it is:
//
//   - action_id: a credited action (actions.go); Outcome is its outcome.
//   - claim_voucher_id: a claimed benefit (vouchers.go); Issue is what the voucher
//     becomes when issued.
//   - refund_voucher_id: an expired voucher's refund (vouchers_expire.go).
//
// Items stored before claims existed have action_id only and decode unchanged;
// an action's item marshals to the same bytes as before (the new fields are
// omitted), which matters because $pull matches the stored bytes.
type pendingDoc struct {
	ActionID        string           `bson:"action_id,omitempty"`
	ClaimVoucherID  string           `bson:"claim_voucher_id,omitempty"`
	RefundVoucherID string           `bson:"refund_voucher_id,omitempty"`
	At              time.Time        `bson:"at"` // the action's recorded_at, the claim's or the refund's time
	Entry           *ledgerEntryDoc  `bson:"entry,omitempty"`
	Outcome         outcomeDoc       `bson:"outcome,omitempty"`
	Issue           *voucherIssueDoc `bson:"issue,omitempty"`
}

// pendingKind says which of the three a pending item is.
type pendingKind int

const (
	pendingAction pendingKind = iota
	pendingClaim
	pendingRefund
)

func (p pendingDoc) kind() pendingKind {
	switch {
	case p.ClaimVoucherID != "":
		return pendingClaim
	case p.RefundVoucherID != "":
		return pendingRefund
	default:
		return pendingAction
	}
}

// dayUsageDoc is what a citizen was credited on one Shanghai day, kept in the
// citizen document under usage.<YYYY-MM-DD>. Type codes contain a dot, which a
// field name must not (it would be read as a path), so Quantity and Points are
// keyed by usageKey(code).
type dayUsageDoc struct {
	TotalPoints int64            `bson:"total_points"`
	Quantity    map[string]int64 `bson:"quantity,omitempty"`
	Points      map[string]int64 `bson:"points,omitempty"`
}

// usageKey maps an activity code (lower-case letters, digits, '_' and one '.') to
// a field name: the dot becomes ':', which codes never contain.
func usageKey(code string) string { return strings.ReplaceAll(code, ".", ":") }

func (d dayUsageDoc) usage(code string) domain.DayUsage {
	k := usageKey(code)
	return domain.DayUsage{
		TypeQuantity: domain.Quantity(d.Quantity[k]),
		TypePoints:   d.Points[k],
		TotalPoints:  d.TotalPoints,
	}
}

// add returns the day with a credit of the type added.
func (d dayUsageDoc) add(code string, quantity, points int64) dayUsageDoc {
	k := usageKey(code)
	out := dayUsageDoc{TotalPoints: d.TotalPoints + points, Quantity: map[string]int64{}, Points: map[string]int64{}}
	for key, v := range d.Quantity {
		out.Quantity[key] = v
	}
	for key, v := range d.Points {
		out.Points[key] = v
	}
	out.Quantity[k] += quantity
	out.Points[k] += points
	return out
}
