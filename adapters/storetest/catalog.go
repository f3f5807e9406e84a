package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// newActivityType returns a type with every field set, and its first version with
// every coefficient set to a distinct non-zero value.
func newActivityType(code string) (domain.ActivityType, domain.CoefficientVersion) {
	typ := domain.ActivityType{
		Code:      code,
		Category:  domain.CategoryGreenTravel,
		Unit:      "km",
		Name:      "地铁出行",
		NameEn:    "Metro ride",
		CreatedAt: at(0),
		CreatedBy: "seed",
	}
	return typ, newVersion(code, 1)
}

// newVersion returns version n of code's coefficients, each field depending on n so
// that versions are told apart.
func newVersion(code string, n int) domain.CoefficientVersion {
	k := int64(n)
	return domain.CoefficientVersion{
		TypeCode:      code,
		Version:       n,
		EffectiveFrom: at(time.Duration(n) * day),
		Coefficients: domain.Coefficients{
			Enabled:          n%2 == 1,
			CO2eMgPerUnit:    46_800 + k,
			PointsPerKg:      10 + k,
			PointsPerUnit:    2 + k,
			QuantityDecimals: 1 + n%3,
			MaxQuantity:      domain.Quantity(50_500 + k),
			DailyMaxQuantity: domain.Quantity(200_250 + k),
			DailyMaxPoints:   300 + k,
			Evidence: domain.EvidenceRule{
				Required: n%2 == 1,
				Sources:  []string{"transit_card", fmt.Sprintf("metro_qr_v%d", n)},
				Review:   n%2 == 0,
			},
			Methodology: fmt.Sprintf("CCER-14-002-V01 城市轨道交通, version %d", n),
			Confidence:  "B",
		},
		CreatedAt: at(time.Duration(n) * time.Hour),
		CreatedBy: domain.NewID(time.Now()),
		Note:      fmt.Sprintf("版本 %d", n),
	}
}

func diffActivityType(want, got domain.ActivityType) fieldDiffs {
	var d fieldDiffs
	d.eq("Code", want.Code, got.Code)
	d.eq("Category", want.Category, got.Category)
	d.eq("Unit", want.Unit, got.Unit)
	d.eq("Name", want.Name, got.Name)
	d.eq("NameEn", want.NameEn, got.NameEn)
	d.time("CreatedAt", want.CreatedAt, got.CreatedAt)
	d.eq("CreatedBy", want.CreatedBy, got.CreatedBy)
	return d
}

func diffVersion(want, got domain.CoefficientVersion) fieldDiffs {
	var d fieldDiffs
	d.eq("TypeCode", want.TypeCode, got.TypeCode)
	d.eq("Version", want.Version, got.Version)
	d.time("EffectiveFrom", want.EffectiveFrom, got.EffectiveFrom)
	w, g := want.Coefficients, got.Coefficients
	d.eq("Enabled", w.Enabled, g.Enabled)
	d.eq("CO2eMgPerUnit", w.CO2eMgPerUnit, g.CO2eMgPerUnit)
	d.eq("PointsPerKg", w.PointsPerKg, g.PointsPerKg)
	d.eq("PointsPerUnit", w.PointsPerUnit, g.PointsPerUnit)
	d.eq("QuantityDecimals", w.QuantityDecimals, g.QuantityDecimals)
	d.eq("MaxQuantity", w.MaxQuantity, g.MaxQuantity)
	d.eq("DailyMaxQuantity", w.DailyMaxQuantity, g.DailyMaxQuantity)
	d.eq("DailyMaxPoints", w.DailyMaxPoints, g.DailyMaxPoints)
	d.eq("Evidence.Required", w.Evidence.Required, g.Evidence.Required)
	// nil and empty are the same list of sources.
	if !slices.Equal(w.Evidence.Sources, g.Evidence.Sources) {
		d = append(d, fmt.Sprintf("Evidence.Sources: want %q, got %q", w.Evidence.Sources, g.Evidence.Sources))
	}
	d.eq("Evidence.Review", w.Evidence.Review, g.Evidence.Review)
	d.eq("Methodology", w.Methodology, g.Methodology)
	d.eq("Confidence", w.Confidence, g.Confidence)
	d.time("CreatedAt", want.CreatedAt, got.CreatedAt)
	d.eq("CreatedBy", want.CreatedBy, got.CreatedBy)
	d.eq("Note", want.Note, got.Note)
	return d
}

func listTypes(t *testing.T, s domain.Store) []domain.ActivityType {
	t.Helper()
	types, err := s.ListActivityTypes(t.Context())
	mustNoErr(t, "ListActivityTypes", err)
	return types
}

func listVersions(t *testing.T, s domain.Store) []domain.CoefficientVersion {
	t.Helper()
	vs, err := s.ListCoefficientVersions(t.Context())
	mustNoErr(t, "ListCoefficientVersions", err)
	return vs
}

// checkVersions compares a whole version listing, in order.
func checkVersions(t *testing.T, what string, want, got []domain.CoefficientVersion) {
	t.Helper()
	if len(got) != len(want) {
		var ids []string
		for _, v := range got {
			ids = append(ids, fmt.Sprintf("%s@%d", v.TypeCode, v.Version))
		}
		t.Fatalf("%s: %d versions %v, want %d", what, len(got), ids, len(want))
	}
	for i := range want {
		diffVersion(want[i], got[i]).report(t, fmt.Sprintf("%s[%d] (%s@%d)", what, i, want[i].TypeCode, want[i].Version))
	}
}

func runCatalog(t *testing.T, open func(t *testing.T) domain.Store) {
	t.Run("an empty store lists no types and no versions", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		if types := listTypes(t, s); len(types) != 0 {
			t.Errorf("ListActivityTypes = %d types, want 0", len(types))
		}
		if vs := listVersions(t, s); len(vs) != 0 {
			t.Errorf("ListCoefficientVersions = %d versions, want 0", len(vs))
		}
	})

	t.Run("CreateActivityType stores the type and its first version with every field", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		typ, first := newActivityType("travel.metro")
		mustNoErr(t, "CreateActivityType", s.CreateActivityType(t.Context(), typ, first))
		types := listTypes(t, s)
		if len(types) != 1 {
			t.Fatalf("ListActivityTypes = %d types, want 1", len(types))
		}
		diffActivityType(typ, types[0]).report(t, "ListActivityTypes[0]")
		checkVersions(t, "ListCoefficientVersions", []domain.CoefficientVersion{first}, listVersions(t, s))

		// The zero values of every optional field survive too.
		bare, v := newActivityType("waste.kitchen")
		bare.Category, bare.Unit, bare.NameEn, bare.CreatedBy = domain.CategoryWasteSorting, "kg", "", ""
		v.TypeCode = bare.Code
		v.Coefficients = domain.Coefficients{MaxQuantity: 1, Methodology: "x", Confidence: "C"}
		v.Note, v.CreatedBy = "", ""
		mustNoErr(t, "CreateActivityType(bare)", s.CreateActivityType(t.Context(), bare, v))
		types = listTypes(t, s)
		if len(types) != 2 {
			t.Fatalf("ListActivityTypes = %d types, want 2", len(types))
		}
		diffActivityType(bare, types[1]).report(t, "bare type")
		checkVersions(t, "ListCoefficientVersions", []domain.CoefficientVersion{first, v}, listVersions(t, s))
	})

	t.Run("CreateActivityType refuses a taken code with ErrConflict and changes nothing", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		typ, first := newActivityType("travel.bus")
		mustNoErr(t, "CreateActivityType", s.CreateActivityType(t.Context(), typ, first))
		again, second := newActivityType("travel.bus")
		again.Name, again.Unit = "公交", "trip"
		second.CO2eMgPerUnit = 1
		wantErr(t, "CreateActivityType(same code)", s.CreateActivityType(t.Context(), again, second), domain.ErrConflict)
		types := listTypes(t, s)
		if len(types) != 1 {
			t.Fatalf("ListActivityTypes = %d types, want 1", len(types))
		}
		diffActivityType(typ, types[0]).report(t, "type after refused create")
		checkVersions(t, "versions after refused create", []domain.CoefficientVersion{first}, listVersions(t, s))
	})

	t.Run("AddCoefficientVersion accepts exactly the next version number", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		typ, first := newActivityType("travel.metro")
		mustNoErr(t, "CreateActivityType", s.CreateActivityType(t.Context(), typ, first))
		v2 := newVersion(typ.Code, 2)
		v2.Evidence.Sources = nil
		mustNoErr(t, "AddCoefficientVersion(2)", s.AddCoefficientVersion(t.Context(), v2))

		again := newVersion(typ.Code, 2)
		again.Note = "冲突"
		wantErr(t, "AddCoefficientVersion(2 again)", s.AddCoefficientVersion(t.Context(), again), domain.ErrConflict)
		wantErr(t, "AddCoefficientVersion(1 again)", s.AddCoefficientVersion(t.Context(), newVersion(typ.Code, 1)), domain.ErrConflict)
		wantErr(t, "AddCoefficientVersion(4, skipping 3)", s.AddCoefficientVersion(t.Context(), newVersion(typ.Code, 4)), domain.ErrConflict)
		wantErr(t, "AddCoefficientVersion(0)", s.AddCoefficientVersion(t.Context(), newVersion(typ.Code, 0)), domain.ErrConflict)
		wantErr(t, "AddCoefficientVersion(unknown type)", s.AddCoefficientVersion(t.Context(), newVersion("travel.unknown", 2)), domain.ErrNotFound)
		wantErr(t, "AddCoefficientVersion(unknown type, version 1)", s.AddCoefficientVersion(t.Context(), newVersion("travel.unknown", 1)), domain.ErrNotFound)

		v3 := newVersion(typ.Code, 3)
		mustNoErr(t, "AddCoefficientVersion(3)", s.AddCoefficientVersion(t.Context(), v3))
		checkVersions(t, "ListCoefficientVersions", []domain.CoefficientVersion{first, v2, v3}, listVersions(t, s))
		if types := listTypes(t, s); len(types) != 1 {
			t.Errorf("ListActivityTypes = %d types, want 1 (versions are not types)", len(types))
		}
	})

	t.Run("AddCoefficientVersion racing for the same next version lets exactly one win", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		typ, first := newActivityType("travel.metro")
		mustNoErr(t, "CreateActivityType", s.CreateActivityType(t.Context(), typ, first))
		want := []domain.CoefficientVersion{first}
		const rounds, n = 5, 4
		for round := range rounds {
			next := round + 2
			candidates := make([]domain.CoefficientVersion, n)
			for i := range candidates {
				candidates[i] = newVersion(typ.Code, next)
				candidates[i].Note = fmt.Sprintf("racer %d", i)
			}
			errs := race(n, func(i int) error { return s.AddCoefficientVersion(t.Context(), candidates[i]) })
			checkExactlyOneWinner(t, fmt.Sprintf("round %d", round), errs, domain.ErrConflict)
			for i, err := range errs {
				if err == nil {
					want = append(want, candidates[i])
				}
			}
			if len(want) != next {
				t.Fatalf("round %d: no winner to continue from", round)
			}
		}
		checkVersions(t, "ListCoefficientVersions", want, listVersions(t, s))
	})

	t.Run("ListActivityTypes orders by code and ListCoefficientVersions by code then version", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		codes := []string{"waste.recyclables", "travel.metro", "consumption.e_invoice", "travel.bus", "travel.bus_night"}
		versions := map[string][]domain.CoefficientVersion{}
		for _, code := range codes {
			typ, first := newActivityType(code)
			mustNoErr(t, "CreateActivityType "+code, s.CreateActivityType(t.Context(), typ, first))
			versions[code] = []domain.CoefficientVersion{first}
		}
		// Interleave new versions across types; travel.metro gets past version 10, so
		// an order by the text of the number ("10" < "2") shows.
		for n := 2; n <= 11; n++ {
			for _, code := range []string{"travel.metro", "consumption.e_invoice"} {
				if code == "consumption.e_invoice" && n > 3 {
					continue
				}
				v := newVersion(code, n)
				mustNoErr(t, fmt.Sprintf("AddCoefficientVersion %s@%d", code, n), s.AddCoefficientVersion(t.Context(), v))
				versions[code] = append(versions[code], v)
			}
		}
		sorted := slices.Sorted(slices.Values(codes))
		types := listTypes(t, s)
		var got []string
		for _, typ := range types {
			got = append(got, typ.Code)
		}
		if !slices.Equal(got, sorted) {
			t.Errorf("ListActivityTypes codes = %v, want %v", got, sorted)
		}
		var want []domain.CoefficientVersion
		for _, code := range sorted {
			want = append(want, versions[code]...)
		}
		checkVersions(t, "ListCoefficientVersions", want, listVersions(t, s))
	})
}
