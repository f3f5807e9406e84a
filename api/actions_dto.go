package api

import (
	"encoding/json"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// quantityLiteral keeps a JSON number exactly as sent, so it is parsed without
// floating point; anything else (a string, an object) is refused with a field error
// by the handler rather than as malformed JSON.
type quantityLiteral []byte

func (q quantityLiteral) MarshalJSON() ([]byte, error) { return q, nil }

func (q *quantityLiteral) UnmarshalJSON(b []byte) error {
	*q = append((*q)[:0], b...)
	return nil
}

// parse reads the literal as a quantity with at most `decimals` decimals.
func (q quantityLiteral) parse(field string, decimals int) (domain.Quantity, *domain.FieldError) {
	if len(q) == 0 || q[0] == '"' || q[0] == '{' || q[0] == '[' || string(q) == "null" || string(q) == "true" || string(q) == "false" {
		return 0, &domain.FieldError{Field: field, Code: "wrong_type", Message: "must be a JSON number"}
	}
	v, err := domain.ParseQuantity(string(q), decimals)
	if err != nil {
		return 0, &domain.FieldError{Field: field, Code: "invalid_quantity", Message: "must be a positive decimal number: " + err.Error()}
	}
	return v, nil
}

// parseTime reads an RFC 3339 time field, naming the field when it is not one.
func parseTime(field, s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, domain.Invalid(domain.FieldError{Field: field, Code: "invalid_time", Message: "must be an RFC 3339 time such as 2026-11-27T08:30:00+08:00"})
	}
	return t, nil
}

type evidenceBody struct {
	Source    string `json:"source"`
	Reference string `json:"reference"`
}

type recordActionRequest struct {
	Type       string          `json:"type" validate:"required,max=64"`
	Quantity   quantityLiteral `json:"quantity" validate:"required,max=32"`
	OccurredAt string          `json:"occurred_at" validate:"required,max=64"`
	Evidence   *evidenceBody   `json:"evidence"`
}

type capBody struct {
	Limit             domain.CapLimit `json:"limit"`
	RequestedQuantity json.Number     `json:"requested_quantity"`
	CreditedQuantity  json.Number     `json:"credited_quantity"`
	PointsWithheld    int64           `json:"points_withheld"`
}

type actionBody struct {
	ID               string              `json:"id"`
	Type             string              `json:"type"`
	RuleVersion      int                 `json:"rule_version"`
	Quantity         json.Number         `json:"quantity"`
	CreditedQuantity json.Number         `json:"credited_quantity"`
	OccurredAt       time.Time           `json:"occurred_at"`
	RecordedAt       time.Time           `json:"recorded_at"`
	Status           domain.ActionStatus `json:"status"`
	CO2eGrams        int64               `json:"co2e_g"`
	Points           int64               `json:"points"`
	Balance          int64               `json:"balance"`
	Capped           bool                `json:"capped"`
	Cap              *capBody            `json:"cap"`
	Evidence         *evidenceBody       `json:"evidence"`
}

func quantityJSON(q domain.Quantity) json.Number { return json.Number(q.String()) }

func actionOf(a domain.Action) actionBody {
	b := actionBody{
		ID: a.ID, Type: a.TypeCode, RuleVersion: a.RuleVersion,
		Quantity: quantityJSON(a.Quantity), CreditedQuantity: quantityJSON(a.CreditedQuantity),
		OccurredAt: a.OccurredAt.UTC(), RecordedAt: a.RecordedAt.UTC(), Status: a.Status,
		CO2eGrams: a.CO2eGrams, Points: a.Points, Balance: a.BalanceAfter, Capped: a.Cap != nil,
	}
	if a.Cap != nil {
		b.Cap = &capBody{Limit: a.Cap.Limit, RequestedQuantity: quantityJSON(a.Cap.RequestedQuantity),
			CreditedQuantity: quantityJSON(a.Cap.CreditedQuantity), PointsWithheld: a.Cap.PointsWithheld}
	}
	if a.Evidence != (domain.Evidence{}) {
		b.Evidence = &evidenceBody{Source: a.Evidence.Source, Reference: a.Evidence.Reference}
	}
	return b
}

type ledgerCause struct {
	Type string `json:"type"`
	ID   string `json:"id"`
}

type ledgerEntryBody struct {
	ID           string            `json:"id"`
	Kind         domain.LedgerKind `json:"kind"`
	Points       int64             `json:"points"`
	CO2eGrams    int64             `json:"co2e_g"`
	BalanceAfter int64             `json:"balance_after"`
	Cause        ledgerCause       `json:"cause"`
	CreatedAt    time.Time         `json:"created_at"`
}

func ledgerEntryOf(e domain.LedgerEntry) ledgerEntryBody {
	return ledgerEntryBody{ID: e.ID, Kind: e.Kind, Points: e.Points, CO2eGrams: e.CO2eGrams, BalanceAfter: e.BalanceAfter,
		Cause: ledgerCause{Type: e.CauseType, ID: e.CauseID}, CreatedAt: e.CreatedAt.UTC()}
}

type evidenceRuleBody struct {
	Required bool     `json:"required"`
	Sources  []string `json:"sources"`
	Review   bool     `json:"review"`
}

// coefficientsBody is how coefficients travel in both directions. Quantities are
// JSON numbers read exactly; CO2e is integer milligrams per unit.
type coefficientsBody struct {
	Enabled          *bool            `json:"enabled" validate:"required"`
	CO2eMgPerUnit    *int64           `json:"co2e_mg_per_unit" validate:"required"`
	PointsPerKg      *int64           `json:"points_per_kg" validate:"required"`
	PointsPerUnit    int64            `json:"points_per_unit"`
	QuantityDecimals int              `json:"quantity_decimals"`
	MaxQuantity      quantityLiteral  `json:"max_quantity" validate:"required"`
	DailyMaxQuantity quantityLiteral  `json:"daily_max_quantity"`
	DailyMaxPoints   int64            `json:"daily_max_points"`
	Evidence         evidenceRuleBody `json:"evidence"`
	Methodology      string           `json:"methodology" validate:"required"`
	Confidence       string           `json:"confidence" validate:"required"`
}

func coefficientsOf(c domain.Coefficients) coefficientsBody {
	enabled, mg, ppk := c.Enabled, c.CO2eMgPerUnit, c.PointsPerKg
	sources := c.Evidence.Sources
	if sources == nil {
		sources = []string{}
	}
	return coefficientsBody{
		Enabled: &enabled, CO2eMgPerUnit: &mg, PointsPerKg: &ppk, PointsPerUnit: c.PointsPerUnit,
		QuantityDecimals: c.QuantityDecimals, MaxQuantity: quantityLiteral(c.MaxQuantity.String()),
		DailyMaxQuantity: quantityLiteral(c.DailyMaxQuantity.String()), DailyMaxPoints: c.DailyMaxPoints,
		Evidence:    evidenceRuleBody{Required: c.Evidence.Required, Sources: sources, Review: c.Evidence.Review},
		Methodology: c.Methodology, Confidence: c.Confidence,
	}
}

// toDomain reads quantities exactly (3 decimals at most) and names bad fields.
func (b coefficientsBody) toDomain() (domain.Coefficients, error) {
	var fields []domain.FieldError
	quantity := func(field string, n quantityLiteral, optional bool) domain.Quantity {
		if (len(n) == 0 || string(n) == "0") && optional {
			return 0
		}
		q, fe := n.parse(field, 3)
		if fe != nil {
			fields = append(fields, *fe)
		}
		return q
	}
	c := domain.Coefficients{
		Enabled: *b.Enabled, CO2eMgPerUnit: *b.CO2eMgPerUnit, PointsPerKg: *b.PointsPerKg, PointsPerUnit: b.PointsPerUnit,
		QuantityDecimals: b.QuantityDecimals,
		MaxQuantity:      quantity("coefficients.max_quantity", b.MaxQuantity, false),
		DailyMaxQuantity: quantity("coefficients.daily_max_quantity", b.DailyMaxQuantity, true),
		DailyMaxPoints:   b.DailyMaxPoints,
		Evidence:         domain.EvidenceRule{Required: b.Evidence.Required, Sources: b.Evidence.Sources, Review: b.Evidence.Review},
		Methodology:      b.Methodology, Confidence: b.Confidence,
	}
	if len(fields) > 0 {
		return c, domain.Invalid(fields...)
	}
	return c, nil
}

type versionBody struct {
	RuleVersion   int              `json:"rule_version"`
	EffectiveFrom time.Time        `json:"effective_from"`
	Coefficients  coefficientsBody `json:"coefficients"`
	Note          string           `json:"note"`
	CreatedAt     time.Time        `json:"created_at"`
	CreatedBy     string           `json:"created_by"`
}

func versionOf(v domain.CoefficientVersion) versionBody {
	return versionBody{RuleVersion: v.Version, EffectiveFrom: v.EffectiveFrom.UTC(), Coefficients: coefficientsOf(v.Coefficients),
		Note: v.Note, CreatedAt: v.CreatedAt.UTC(), CreatedBy: v.CreatedBy}
}

type upcomingBody struct {
	RuleVersion   int       `json:"rule_version"`
	EffectiveFrom time.Time `json:"effective_from"`
}

// activityTypeBody is a type with the coefficients in force now.
type activityTypeBody struct {
	Code         string           `json:"code"`
	Category     domain.Category  `json:"category"`
	Unit         string           `json:"unit"`
	Name         string           `json:"name"`
	NameEn       string           `json:"name_en"`
	RuleVersion  int              `json:"rule_version"`
	EffectiveAt  time.Time        `json:"effective_from"`
	Coefficients coefficientsBody `json:"coefficients"`
	Upcoming     *upcomingBody    `json:"upcoming"`
}

func activityTypeOf(t domain.TypeInForce) activityTypeBody {
	b := activityTypeBody{Code: t.Type.Code, Category: t.Type.Category, Unit: t.Type.Unit, Name: t.Type.Name, NameEn: t.Type.NameEn,
		RuleVersion: t.Current.Version, EffectiveAt: t.Current.EffectiveFrom.UTC(), Coefficients: coefficientsOf(t.Current.Coefficients)}
	if t.Upcoming != nil {
		b.Upcoming = &upcomingBody{RuleVersion: t.Upcoming.Version, EffectiveFrom: t.Upcoming.EffectiveFrom.UTC()}
	}
	return b
}

type createActivityTypeRequest struct {
	Code          string           `json:"code" validate:"required,max=64"`
	Category      domain.Category  `json:"category" validate:"required"`
	Unit          string           `json:"unit" validate:"required,max=32"`
	Name          string           `json:"name" validate:"required"`
	NameEn        string           `json:"name_en" validate:"required"`
	Coefficients  coefficientsBody `json:"coefficients"`
	EffectiveFrom string           `json:"effective_from" validate:"required,max=64"`
	Note          string           `json:"note" validate:"max=500"`
}

type newVersionRequest struct {
	Coefficients  coefficientsBody `json:"coefficients"`
	EffectiveFrom string           `json:"effective_from" validate:"required,max=64"`
	Note          string           `json:"note" validate:"required,max=500"`
}
