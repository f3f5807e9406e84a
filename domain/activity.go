package domain

import (
	"context"
	"regexp"
	"time"
)

// Category groups activity types as the product presents them.
type Category string

const (
	CategoryWasteSorting     Category = "waste_sorting"
	CategoryGreenTravel      Category = "green_travel"
	CategoryGreenConsumption Category = "green_consumption"
)

// Categories lists every category.
var Categories = []Category{CategoryGreenTravel, CategoryWasteSorting, CategoryGreenConsumption}

// ActivityType is a kind of low-carbon action, such as a metro ride. What it is
// worth lives in its coefficient versions.
type ActivityType struct {
	Code      string // e.g. "travel.metro"; stable, used by clients
	Category  Category
	Unit      string // e.g. "trip", "km", "kg", "item"
	Name      string // Chinese display name
	NameEn    string
	CreatedAt time.Time
	CreatedBy string
}

// EvidenceRule says what proof an action of a type must carry.
type EvidenceRule struct {
	Required bool     // an evidence source and reference must be given
	Sources  []string // accepted evidence sources (e.g. "transit_card"); empty accepts any
	Review   bool     // actions wait for an operator's review before earning points
}

// Coefficients are what one version of an activity type says an action is worth,
// and the limits it is recorded under. All amounts are integers.
type Coefficients struct {
	Enabled bool
	// CO2eMgPerUnit is milligrams of CO2e avoided per unit, so fractional grams
	// (46.8 g per km) stay exact.
	CO2eMgPerUnit int64
	// PointsPerKg is carbon points awarded per kilogram of CO2e avoided.
	PointsPerKg int64
	// PointsPerUnit is points awarded per whole unit on top of the CO2e-based ones,
	// for actions worth encouraging without a carbon claim (kitchen waste where the
	// baseline is incineration).
	PointsPerUnit int64
	// QuantityDecimals is how many decimals a quantity may have (0 for trips).
	QuantityDecimals int
	// MaxQuantity is the most one action may declare.
	MaxQuantity Quantity
	// DailyMaxQuantity caps the units credited per citizen per Shanghai day; 0 = no cap.
	DailyMaxQuantity Quantity
	// DailyMaxPoints caps the points credited per citizen per day for this type; 0 = no cap.
	DailyMaxPoints int64
	Evidence       EvidenceRule
	// Methodology names the method and source of the factor; Confidence grades it
	// (A: methodology or official; B: operating programme or study; C: proxy).
	Methodology string
	Confidence  string
}

// CoefficientVersion is one immutable version of an activity type's coefficients.
type CoefficientVersion struct {
	TypeCode      string
	Version       int // 1, 2, ...
	EffectiveFrom time.Time
	Coefficients
	CreatedAt time.Time
	CreatedBy string // operator id, or "seed"
	Note      string // why this version was made
}

var activityCodePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*\.[a-z][a-z0-9_]*$`)

// Validate checks an activity type's identity fields.
func (t ActivityType) Validate() error {
	var fields []FieldError
	if !activityCodePattern.MatchString(t.Code) || len(t.Code) > 64 {
		fields = append(fields, FieldError{Field: "code", Code: "invalid_format", Message: "must look like category.name in lower case, e.g. travel.metro"})
	}
	switch t.Category {
	case CategoryWasteSorting, CategoryGreenTravel, CategoryGreenConsumption:
	default:
		fields = append(fields, FieldError{Field: "category", Code: "unknown_category", Message: "must be waste_sorting, green_travel or green_consumption"})
	}
	if t.Unit == "" || len(t.Unit) > 32 {
		fields = append(fields, FieldError{Field: "unit", Code: "invalid_length", Message: "must be 1-32 characters"})
	}
	for field, text := range map[string]string{"name": t.Name, "name_en": t.NameEn} {
		if fe := validateText(field, text, 60); fe != nil {
			fields = append(fields, *fe)
		}
	}
	if len(fields) > 0 {
		return Invalid(fields...)
	}
	return nil
}

// maxCO2eMgPerUnit bounds factors so that quantity × factor cannot overflow int64
// (1e12 milli-units × 1e6 is far inside it) and no typo credits a tonne per step.
const (
	maxCO2eMgPerUnit = 1_000_000_000 // 1 t per unit
	maxPointsPerKg   = 100_000
	maxQuantityLimit = Quantity(1_000_000 * QuantityScale)
)

// Validate checks coefficients for internal consistency.
func (c Coefficients) Validate() error {
	var fields []FieldError
	bad := func(field, code, msg string) {
		fields = append(fields, FieldError{Field: field, Code: code, Message: msg})
	}
	if c.CO2eMgPerUnit < 0 || c.CO2eMgPerUnit > maxCO2eMgPerUnit {
		bad("co2e_mg_per_unit", "out_of_range", "must be between 0 and 1000000000")
	}
	if c.PointsPerKg < 0 || c.PointsPerKg > maxPointsPerKg {
		bad("points_per_kg", "out_of_range", "must be between 0 and 100000")
	}
	if c.PointsPerUnit < 0 || c.PointsPerUnit > maxPointsPerKg {
		bad("points_per_unit", "out_of_range", "must be between 0 and 100000")
	}
	if c.QuantityDecimals < 0 || c.QuantityDecimals > maxQuantityDecimals {
		bad("quantity_decimals", "out_of_range", "must be between 0 and 3")
	}
	if c.MaxQuantity <= 0 || c.MaxQuantity > maxQuantityLimit {
		bad("max_quantity", "out_of_range", "must be above 0 and at most 1000000")
	}
	if c.DailyMaxQuantity < 0 || c.DailyMaxQuantity > maxQuantityLimit {
		bad("daily_max_quantity", "out_of_range", "must be between 0 (no cap) and 1000000")
	}
	if c.DailyMaxPoints < 0 {
		bad("daily_max_points", "out_of_range", "must be 0 (no cap) or more")
	}
	switch c.Confidence {
	case "A", "B", "C":
	default:
		bad("confidence", "invalid", "must be A, B or C")
	}
	if c.Methodology == "" || len(c.Methodology) > 2000 {
		bad("methodology", "invalid_length", "must name the method and source (1-2000 characters)")
	}
	for _, s := range c.Evidence.Sources {
		if s == "" || len(s) > 64 {
			bad("evidence.sources", "invalid", "sources must be 1-64 characters each")
			break
		}
	}
	if len(fields) > 0 {
		return Invalid(fields...)
	}
	return nil
}

// CatalogStore keeps activity types and their coefficient versions.
type CatalogStore interface {
	// CreateActivityType stores a new type with its first version (Version 1).
	// Returns ErrConflict if the code exists.
	CreateActivityType(ctx context.Context, t ActivityType, first CoefficientVersion) error
	// AddCoefficientVersion stores v, whose Version must be exactly one more than
	// the type's latest; returns ErrConflict otherwise (someone else added one) and
	// ErrNotFound if the type does not exist.
	AddCoefficientVersion(ctx context.Context, v CoefficientVersion) error
	// ListActivityTypes returns every type, ordered by code.
	ListActivityTypes(ctx context.Context) ([]ActivityType, error)
	// ListCoefficientVersions returns every version of every type, ordered by type
	// code then version.
	ListCoefficientVersions(ctx context.Context) ([]CoefficientVersion, error)
}
