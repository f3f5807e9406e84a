// Package seeds holds the default activity types, their first coefficient
// versions and the default carbon grades, as embedded JSON data files, and loads
// them into a catalog store. The file format and the sources of every factor are
// described in README.md beside this file.
package seeds

import (
	"bytes"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

//go:embed activity_types.json levels.json banks.json
var files embed.FS

const (
	// CreatedBy is the actor recorded on seeded types and versions.
	CreatedBy = "seed"
	// Note is the reason recorded on seeded coefficient versions.
	Note = "seed default"
)

// EffectiveFrom is when every seeded first version takes effect:
// 2026-01-01T00:00:00+08:00. It lies in the past, so actions recorded up to the
// allowed age (30 days by default) after the service first starts are covered.
func EffectiveFrom() time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, domain.Shanghai) }

// ActivityTypes returns the seeded activity types and, at the same index, the
// coefficients of their first version, in file order. Every entry is decoded
// strictly (unknown or missing fields, fractional integers and malformed
// quantities are errors) and validated with the domain's own rules.
func ActivityTypes() ([]domain.ActivityType, []domain.Coefficients, error) {
	data, err := files.ReadFile("activity_types.json")
	if err != nil {
		return nil, nil, fmt.Errorf("seeds: %w", err)
	}
	return parseActivityTypes(data)
}

// Levels returns the default carbon grades sorted by threshold. The embedded file
// is checked by the package tests, so a bad file is a build defect: Levels panics
// on it rather than starting a service with wrong grades.
func Levels() []domain.Level {
	data, err := files.ReadFile("levels.json")
	if err != nil {
		panic(fmt.Sprintf("seeds: %v", err))
	}
	levels, err := parseLevels(data)
	if err != nil {
		panic(err.Error())
	}
	return levels
}

// Load creates every seeded activity type that the store does not have yet, with
// version 1 of its coefficients in force from EffectiveFrom, and returns how many
// it created. It never changes a type that exists, whatever its coefficients:
// after seeding, operators own the types and change them through new versions.
// Running it again, or on several replicas at once, is safe: a type another
// replica created first (domain.ErrConflict) is skipped.
func Load(ctx context.Context, store domain.CatalogStore, now time.Time) (created int, err error) {
	types, coefficients, err := ActivityTypes()
	if err != nil {
		return 0, err
	}
	existing, err := store.ListActivityTypes(ctx)
	if err != nil {
		return 0, fmt.Errorf("seeds: list activity types: %w", err)
	}
	have := make(map[string]bool, len(existing))
	for _, t := range existing {
		have[t.Code] = true
	}
	now = now.UTC()
	from := EffectiveFrom().UTC()
	for i, t := range types {
		if have[t.Code] {
			continue
		}
		t.CreatedAt, t.CreatedBy = now, CreatedBy
		v := domain.CoefficientVersion{
			TypeCode: t.Code, Version: 1, EffectiveFrom: from, Coefficients: coefficients[i],
			CreatedAt: now, CreatedBy: CreatedBy, Note: Note,
		}
		switch err := store.CreateActivityType(ctx, t, v); {
		case errors.Is(err, domain.ErrConflict):
			// Created meanwhile by another replica or an operator: theirs stands.
		case err != nil:
			return created, fmt.Errorf("seeds: create activity type %s: %w", t.Code, err)
		default:
			created++
		}
	}
	return created, nil
}

// The file format. Numbers that must be exact are JSON integers decoded into
// int64 (a fraction is a decode error); quantities are decimal strings read by
// domain.ParseQuantity; required fields are pointers so that a missing one is
// an error rather than a silent zero.
type activityTypeFile struct {
	Code         string          `json:"code"`
	Category     domain.Category `json:"category"`
	Unit         string          `json:"unit"`
	Name         string          `json:"name"`
	NameEn       string          `json:"name_en"`
	Factor       *factorFile     `json:"factor"`
	Coefficients *coefficients   `json:"coefficients"`
}

// factorFile ties an entry to its row in shared/reference/emission-factors.md.
// KgPerUnit is the row's value as written there; the loader checks that
// co2e_mg_per_unit is exactly KgPerUnit × 1,000,000, so no transcription slip
// (46800 vs 468000) gets through.
type factorFile struct {
	Ref       string `json:"ref"`
	KgPerUnit string `json:"kg_per_unit"`
}

type coefficients struct {
	Enabled          *bool         `json:"enabled"`
	CO2eMgPerUnit    *int64        `json:"co2e_mg_per_unit"`
	PointsPerKg      *int64        `json:"points_per_kg"`
	PointsPerUnit    *int64        `json:"points_per_unit"`
	QuantityDecimals *int          `json:"quantity_decimals"`
	MaxQuantity      string        `json:"max_quantity"`
	DailyMaxQuantity string        `json:"daily_max_quantity"`
	DailyMaxPoints   *int64        `json:"daily_max_points"`
	Evidence         *evidenceFile `json:"evidence"`
	Methodology      string        `json:"methodology"`
	Confidence       string        `json:"confidence"`
}

type evidenceFile struct {
	Required *bool    `json:"required"`
	Sources  []string `json:"sources"`
	Review   *bool    `json:"review"`
}

// categoryPrefix is the code prefix each category's types use.
var categoryPrefix = map[domain.Category]string{
	domain.CategoryGreenTravel:      "travel.",
	domain.CategoryWasteSorting:     "waste.",
	domain.CategoryGreenConsumption: "consumption.",
}

func parseActivityTypes(data []byte) ([]domain.ActivityType, []domain.Coefficients, error) {
	var entries []activityTypeFile
	if err := decodeStrict(data, &entries); err != nil {
		return nil, nil, fmt.Errorf("seeds: activity_types.json: %w", err)
	}
	if len(entries) == 0 {
		return nil, nil, errors.New("seeds: activity_types.json: no activity types")
	}
	types := make([]domain.ActivityType, 0, len(entries))
	coefs := make([]domain.Coefficients, 0, len(entries))
	seen := make(map[string]bool, len(entries))
	for i, e := range entries {
		t, co, err := e.convert()
		if err == nil && seen[t.Code] {
			err = errors.New("duplicate code")
		}
		if err != nil {
			return nil, nil, fmt.Errorf("seeds: activity_types.json entry %d (%q): %w", i, e.Code, err)
		}
		seen[t.Code] = true
		types, coefs = append(types, t), append(coefs, co)
	}
	return types, coefs, nil
}

func (e activityTypeFile) convert() (domain.ActivityType, domain.Coefficients, error) {
	t := domain.ActivityType{Code: e.Code, Category: e.Category, Unit: e.Unit, Name: e.Name, NameEn: e.NameEn}
	if err := t.Validate(); err != nil {
		return t, domain.Coefficients{}, describe(err)
	}
	if !strings.HasPrefix(t.Code, categoryPrefix[t.Category]) {
		return t, domain.Coefficients{}, fmt.Errorf("code of a %s type must start with %q", t.Category, categoryPrefix[t.Category])
	}
	c := e.Coefficients
	if c == nil {
		return t, domain.Coefficients{}, errors.New("missing coefficients")
	}
	var missing []string
	for name, absent := range map[string]bool{
		"enabled": c.Enabled == nil, "co2e_mg_per_unit": c.CO2eMgPerUnit == nil, "points_per_kg": c.PointsPerKg == nil,
		"points_per_unit": c.PointsPerUnit == nil, "quantity_decimals": c.QuantityDecimals == nil,
		"daily_max_points": c.DailyMaxPoints == nil, "evidence": c.Evidence == nil,
		"evidence.required": c.Evidence != nil && c.Evidence.Required == nil,
		"evidence.review":   c.Evidence != nil && c.Evidence.Review == nil,
		"factor":            e.Factor == nil,
	} {
		if absent {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return t, domain.Coefficients{}, fmt.Errorf("missing fields: %s", strings.Join(missing, ", "))
	}
	co := domain.Coefficients{
		Enabled:          *c.Enabled,
		CO2eMgPerUnit:    *c.CO2eMgPerUnit,
		PointsPerKg:      *c.PointsPerKg,
		PointsPerUnit:    *c.PointsPerUnit,
		QuantityDecimals: *c.QuantityDecimals,
		DailyMaxPoints:   *c.DailyMaxPoints,
		Evidence: domain.EvidenceRule{
			Required: *c.Evidence.Required,
			Sources:  append([]string(nil), c.Evidence.Sources...),
			Review:   *c.Evidence.Review,
		},
		Methodology: c.Methodology,
		Confidence:  c.Confidence,
	}
	if co.QuantityDecimals < 0 || co.QuantityDecimals > 3 {
		return t, co, fmt.Errorf("quantity_decimals %d: must be between 0 and 3", co.QuantityDecimals)
	}
	var err error
	if co.MaxQuantity, err = domain.ParseQuantity(c.MaxQuantity, co.QuantityDecimals); err != nil {
		return t, co, fmt.Errorf("max_quantity %q: %v", c.MaxQuantity, err)
	}
	if co.DailyMaxQuantity, err = domain.ParseQuantity(c.DailyMaxQuantity, co.QuantityDecimals); err != nil {
		return t, co, fmt.Errorf("daily_max_quantity %q (write \"0\" for no cap): %v", c.DailyMaxQuantity, err)
	}
	if err := co.Validate(); err != nil {
		return t, co, describe(err)
	}
	if e.Factor.Ref == "" {
		return t, co, errors.New("factor.ref must name the row of the reference table")
	}
	mg, err := parseKgAsMg(e.Factor.KgPerUnit)
	if err != nil {
		return t, co, fmt.Errorf("factor.kg_per_unit %q: %v", e.Factor.KgPerUnit, err)
	}
	if mg != co.CO2eMgPerUnit {
		return t, co, fmt.Errorf("co2e_mg_per_unit %d does not match factor.kg_per_unit %s (= %d mg)", co.CO2eMgPerUnit, e.Factor.KgPerUnit, mg)
	}
	if co.CO2eMgPerUnit == 0 && co.PointsPerUnit == 0 {
		return t, co, errors.New("earns nothing: give co2e_mg_per_unit or points_per_unit")
	}
	return t, co, nil
}

// parseKgAsMg reads a plain decimal number of kilograms with at most 6 decimals
// as an exact number of milligrams.
func parseKgAsMg(s string) (int64, error) {
	whole, frac, hasPoint := strings.Cut(s, ".")
	if whole == "" || (hasPoint && frac == "") || !digits(whole) || !digits(frac) || (len(whole) > 1 && whole[0] == '0') {
		return 0, errors.New("not a plain decimal number")
	}
	if len(frac) > 6 {
		return 0, errors.New("more than 6 decimals (finer than a milligram)")
	}
	if len(whole) > 7 {
		return 0, errors.New("too large")
	}
	mg, err := strconv.ParseInt(whole+frac+strings.Repeat("0", 6-len(frac)), 10, 64)
	if err != nil {
		return 0, err
	}
	return mg, nil
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func parseLevels(data []byte) ([]domain.Level, error) {
	var levels []domain.Level
	if err := decodeStrict(data, &levels); err != nil {
		return nil, fmt.Errorf("seeds: levels.json: %w", err)
	}
	if err := validateLevels(levels); err != nil {
		return nil, fmt.Errorf("seeds: levels.json: %w", err)
	}
	return levels, nil
}

// validateLevels sorts levels by threshold and checks them: at least one, the
// first from 0 g, thresholds strictly increasing, numbers 1, 2, 3... in that
// order, names present and distinct.
func validateLevels(levels []domain.Level) error {
	if len(levels) == 0 {
		return errors.New("no levels")
	}
	sort.SliceStable(levels, func(i, j int) bool { return levels[i].MinCO2e < levels[j].MinCO2e })
	if levels[0].MinCO2e != 0 {
		return fmt.Errorf("the first level must start at 0 g, not %d", levels[0].MinCO2e)
	}
	names := make(map[string]bool, len(levels))
	for i, l := range levels {
		if i > 0 && l.MinCO2e <= levels[i-1].MinCO2e {
			return fmt.Errorf("thresholds must be strictly increasing: %d g appears twice", l.MinCO2e)
		}
		if l.Number != i+1 {
			return fmt.Errorf("level at %d g has number %d, want %d (numbers follow the thresholds from 1)", l.MinCO2e, l.Number, i+1)
		}
		if strings.TrimSpace(l.Name) == "" || names[l.Name] {
			return fmt.Errorf("level %d needs a distinct name", l.Number)
		}
		names[l.Name] = true
	}
	return nil
}

// decodeStrict decodes exactly one JSON value into v, refusing unknown fields and
// anything after the value.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the top-level value")
	}
	return nil
}

// describe spells out a domain validation error's fields, which its message
// alone does not name.
func describe(err error) error {
	var de *domain.Error
	if !errors.As(err, &de) || len(de.Fields) == 0 {
		return err
	}
	parts := make([]string, len(de.Fields))
	for i, f := range de.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	sort.Strings(parts)
	return fmt.Errorf("%w (%s)", err, strings.Join(parts, "; "))
}
