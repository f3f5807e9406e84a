package seeds

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func mustTypes(t *testing.T) ([]domain.ActivityType, []domain.Coefficients) {
	t.Helper()
	types, coefs, err := ActivityTypes()
	if err != nil {
		t.Fatalf("ActivityTypes: %v", err)
	}
	if len(types) != len(coefs) {
		t.Fatalf("%d types but %d coefficient sets", len(types), len(coefs))
	}
	return types, coefs
}

func byCode(t *testing.T) map[string]struct {
	typ domain.ActivityType
	co  domain.Coefficients
} {
	t.Helper()
	types, coefs := mustTypes(t)
	m := make(map[string]struct {
		typ domain.ActivityType
		co  domain.Coefficients
	}, len(types))
	for i, typ := range types {
		m[typ.Code] = struct {
			typ domain.ActivityType
			co  domain.Coefficients
		}{typ, coefs[i]}
	}
	return m
}

func TestEverySeedValidates(t *testing.T) {
	types, coefs := mustTypes(t)
	if len(types) < 18 {
		t.Errorf("only %d activity types, want at least 18", len(types))
	}
	seen := map[string]bool{}
	categories := map[domain.Category]int{}
	for i, typ := range types {
		co := coefs[i]
		if err := typ.Validate(); err != nil {
			t.Errorf("%s: type: %v", typ.Code, describe(err))
		}
		if err := co.Validate(); err != nil {
			t.Errorf("%s: coefficients: %v", typ.Code, describe(err))
		}
		if seen[typ.Code] {
			t.Errorf("%s: duplicate code", typ.Code)
		}
		seen[typ.Code] = true
		categories[typ.Category]++
		if strings.TrimSpace(co.Methodology) == "" {
			t.Errorf("%s: no methodology", typ.Code)
		}
		if !slices.Contains([]string{"A", "B", "C"}, co.Confidence) {
			t.Errorf("%s: confidence %q", typ.Code, co.Confidence)
		}
		if !co.Enabled {
			t.Errorf("%s: seeded disabled", typ.Code)
		}
		if co.PointsPerKg != 1000 {
			t.Errorf("%s: points_per_kg %d, want 1000 (1 point per gram)", typ.Code, co.PointsPerKg)
		}
		// Every seeded type needs evidence, since evidence is what de-duplication
		// works on; and a type in review still needs something to review.
		if !co.Evidence.Required || len(co.Evidence.Sources) == 0 {
			t.Errorf("%s: evidence must be required with named sources", typ.Code)
		}
		// A day's step record may exceed the walking cap: it is credited up to the
		// cap. Elsewhere one action should fit in a day.
		if co.DailyMaxQuantity != 0 && co.DailyMaxQuantity < co.MaxQuantity && typ.Code != "travel.walking" {
			t.Errorf("%s: daily cap %s below the per-action maximum %s", typ.Code, co.DailyMaxQuantity, co.MaxQuantity)
		}
		if co.DailyMaxQuantity == 0 && co.DailyMaxPoints == 0 {
			t.Errorf("%s: no daily cap at all", typ.Code)
		}
		if co.MaxQuantity%domain.Units(1) != 0 && co.QuantityDecimals == 0 {
			t.Errorf("%s: fractional maximum for a whole-unit type", typ.Code)
		}
		// A decimal claimed for a whole-number unit would let citizens split items.
		switch typ.Unit {
		case "trip", "step", "item", "invoice", "bill", "payment", "use", "bag", "order", "meal", "refill":
			if co.QuantityDecimals != 0 {
				t.Errorf("%s: %s counted with %d decimals", typ.Code, typ.Unit, co.QuantityDecimals)
			}
		case "km", "kg", "kWh":
			if co.QuantityDecimals < 1 {
				t.Errorf("%s: %s needs decimals", typ.Code, typ.Unit)
			}
		default:
			t.Errorf("%s: unexpected unit %q", typ.Code, typ.Unit)
		}
	}
	for _, c := range domain.Categories {
		if categories[c] == 0 {
			t.Errorf("no activity type in category %s", c)
		}
	}
}

func TestMetroAndBusPerTripWithDailyCaps(t *testing.T) {
	seeds := byCode(t)
	for code, wantCap := range map[string]int64{"travel.metro": 5, "travel.bus": 6} {
		s, ok := seeds[code]
		if !ok {
			t.Fatalf("%s is not seeded", code)
		}
		if s.typ.Unit != "trip" || s.typ.Category != domain.CategoryGreenTravel {
			t.Errorf("%s: unit %q category %q, want trip in green_travel", code, s.typ.Unit, s.typ.Category)
		}
		if s.co.QuantityDecimals != 0 || s.co.MaxQuantity != domain.Units(1) {
			t.Errorf("%s: one trip per action expected, got max %s with %d decimals", code, s.co.MaxQuantity, s.co.QuantityDecimals)
		}
		if s.co.DailyMaxQuantity != domain.Units(wantCap) {
			t.Errorf("%s: daily cap %s trips, want %d", code, s.co.DailyMaxQuantity, wantCap)
		}
		if !s.co.Evidence.Required || s.co.Evidence.Review ||
			!slices.Equal(s.co.Evidence.Sources, []string{"transit_card", "transit_qr"}) {
			t.Errorf("%s: evidence %+v, want required transit_card/transit_qr without review", code, s.co.Evidence)
		}
	}
}

// The reference table, transcribed independently of activity_types.json:
// code → row, kg CO2e per unit as printed, confidence, the source cited.
var reference = map[string]struct {
	ref, kg, confidence, source string // source: text the methodology must cite
}{
	"travel.metro":                        {"TRAVEL_METRO_TRIP", "0.5155", "B", "Huang Ying"},
	"travel.metro_km":                     {"TRAVEL_METRO_PKM", "0.0468", "A", "http://cnfanrong.com/c/121S43c92021.html"},
	"travel.bus":                          {"TRAVEL_BUS_TRIP", "0.080", "B", "Ant Forest"},
	"travel.ebus_km":                      {"TRAVEL_EBUS_PKM", "0.0269", "A", "http://cnfanrong.com/c/121S43c92021.html"},
	"travel.cycling":                      {"TRAVEL_BIKE_KM", "0.040", "B", "武碳江湖"},
	"travel.walking":                      {"TRAVEL_WALK_STEP", "0.00002", "B", "Ant Forest"},
	"travel.ev_instead_of_car":            {"TRAVEL_EV_VS_ICE_KM", "0.0785", "C", "T/CSAE 235-2021"}, // ≈0.08: 0.161 − 0.0825
	"waste.paper":                         {"RECYCLE_PAPER_MIXED", "3.91", "C", "EPA WARM v16"},      // B/C in the table
	"waste.cardboard":                     {"RECYCLE_CARDBOARD", "3.46", "C", "EPA WARM v16"},
	"waste.pet_bottles":                   {"RECYCLE_PET", "1.15", "C", "EPA WARM v16"},
	"waste.aluminium_cans":                {"RECYCLE_ALU_CAN", "10.06", "C", "EPA WARM v16"},
	"waste.steel_cans":                    {"RECYCLE_STEEL_CAN", "2.02", "C", "EPA WARM v16"},
	"waste.glass":                         {"RECYCLE_GLASS", "0.31", "C", "EPA WARM v16"},
	"waste.mixed_recyclables":             {"RECYCLE_MIXED_LOCAL", "1.34", "B", "零废生活"},
	"waste.kitchen":                       {"KITCHEN_WASTE_SORTED", "0", "B", "http://www.hjkx.ac.cn/hjkx/ch/html/20230556.htm"}, // incineration baseline
	"waste.old_clothes":                   {"OLD_CLOTHES_KG", "1.28", "B", "绿普惠"},
	"consumption.e_invoice":               {"E_INVOICE", "0.005", "B", "Ant Forest"},
	"consumption.paperless_bill":          {"E_BILL_PAPERLESS", "0.0063", "B", "https://two217.pixnet.net/blog/post/18628102"},
	"consumption.online_utility_payment":  {"ONLINE_UTILITY_PAY", "0.262", "B", "Ant Forest"},
	"consumption.second_hand_phone":       {"SECOND_HAND_PHONE", "25", "B", "http://china360online.com/plus/view-58674-1.html"},
	"consumption.reusable_cup":            {"REUSABLE_CUP", "0.0507", "C", "4942817199"},
	"consumption.reusable_bag":            {"REUSABLE_BAG", "0.016", "C", "4942817199"},
	"consumption.no_disposable_cutlery":   {"NO_DISPOSABLE_CUTLERY", "0.020", "C", "http://m.hg-news.cn/dongtai/202203/999938747.html"},
	"consumption.clean_plate":             {"CLEAN_PLATE", "0.144", "B", "绿普惠"},
	"consumption.refill":                  {"REFILL_STATION", "0.112", "C", "4942817199"},
	"consumption.efficient_appliance_kwh": {"GRID_KWH_SAVED", "0.5500", "A", "MEE/NBS"}, // East China 2023
}

func TestFactorsMatchReferenceTable(t *testing.T) {
	seeds := byCode(t)
	for code, want := range reference {
		s, ok := seeds[code]
		if !ok {
			t.Errorf("%s: not seeded", code)
			continue
		}
		mg, err := parseKgAsMg(want.kg)
		if err != nil {
			t.Fatalf("%s: %v", code, err)
		}
		if s.co.CO2eMgPerUnit != mg {
			t.Errorf("%s: %d mg per %s, reference %s says %s kg = %d mg", code, s.co.CO2eMgPerUnit, s.typ.Unit, want.ref, want.kg, mg)
		}
		if s.co.Confidence != want.confidence {
			t.Errorf("%s: confidence %s, want %s", code, s.co.Confidence, want.confidence)
		}
		if !strings.Contains(s.co.Methodology, want.source) {
			t.Errorf("%s: methodology does not cite %q", code, want.source)
		}
	}
	for code := range seeds {
		if _, ok := reference[code]; !ok {
			t.Errorf("%s: seeded but not in the reference table of this test", code)
		}
	}
}

// credit is domain/credit.go's arithmetic, restated: floor, in this order.
func credit(q domain.Quantity, co domain.Coefficients) (co2eG, points int64) {
	co2eG = int64(q) * co.CO2eMgPerUnit / 1_000_000
	points = co2eG*co.PointsPerKg/1000 + int64(q)*co.PointsPerUnit/1000
	return co2eG, points
}

func TestArithmeticOfKnownCases(t *testing.T) {
	seeds := byCode(t)
	for _, c := range []struct {
		code       string
		quantity   string
		co2eG, pts int64
	}{
		{"travel.metro", "1", 515, 515},
		{"travel.bus", "1", 80, 80},
		{"travel.metro_km", "10", 468, 468},
		{"travel.metro_km", "12.5", 585, 585},
		{"travel.ebus_km", "7.3", 196, 196}, // 196.37 g, floored
		{"travel.cycling", "3.2", 128, 128},
		{"travel.walking", "10000", 200, 200},
		{"travel.walking", "14800", 296, 296}, // Ant Forest's daily walking cap
		{"travel.walking", "49", 0, 0},        // 0.98 g floors to 0
		{"travel.ev_instead_of_car", "20", 1570, 1570},
		{"waste.aluminium_cans", "1", 10060, 10060},
		{"waste.paper", "2.5", 9775, 9775},
		{"waste.glass", "0.003", 0, 0}, // 0.93 g
		{"waste.mixed_recyclables", "1", 1340, 1340},
		{"waste.kitchen", "1", 0, 100},
		{"waste.kitchen", "0.755", 0, 75}, // points_per_unit floors too
		{"consumption.e_invoice", "1", 5, 5},
		{"consumption.paperless_bill", "1", 6, 6}, // 6.3 g
		{"consumption.online_utility_payment", "1", 262, 262},
		{"consumption.second_hand_phone", "1", 25000, 25000},
		{"consumption.efficient_appliance_kwh", "10", 5500, 5500},
	} {
		s, ok := seeds[c.code]
		if !ok {
			t.Errorf("%s: not seeded", c.code)
			continue
		}
		q, err := domain.ParseQuantity(c.quantity, s.co.QuantityDecimals)
		if err != nil {
			t.Errorf("%s %s: %v", c.code, c.quantity, err)
			continue
		}
		if q > s.co.MaxQuantity {
			t.Errorf("%s %s: above the per-action maximum %s", c.code, c.quantity, s.co.MaxQuantity)
		}
		g, p := credit(q, s.co)
		if g != c.co2eG || p != c.pts {
			t.Errorf("%s × %s: %d g, %d points; want %d g, %d points", c.code, c.quantity, g, p, c.co2eG, c.pts)
		}
	}
	// The walking cap is worth exactly 296 g a day.
	w := seeds["travel.walking"].co
	if g, _ := credit(w.DailyMaxQuantity, w); w.DailyMaxQuantity != domain.Units(14_800) || g != 296 {
		t.Errorf("walking daily cap %s steps = %d g, want 14800 steps = 296 g", w.DailyMaxQuantity, g)
	}
	// Every per-action maximum and daily cap stays far inside int64 arithmetic.
	for code, s := range seeds {
		for _, q := range []domain.Quantity{s.co.MaxQuantity, s.co.DailyMaxQuantity} {
			if g, _ := credit(q, s.co); g < 0 || g > 1_000_000 {
				t.Errorf("%s: %s %s would credit %d g", code, q, s.typ.Unit, g)
			}
		}
	}
}

// memStore is an in-memory domain.CatalogStore. With staleList set, listing
// returns nothing, as when replicas list before any of them has created a type.
type memStore struct {
	mu        sync.Mutex
	types     map[string]domain.ActivityType
	versions  map[string][]domain.CoefficientVersion
	staleList bool
	createErr error
	creates   int
}

func newMemStore() *memStore {
	return &memStore{types: map[string]domain.ActivityType{}, versions: map[string][]domain.CoefficientVersion{}}
}

func (s *memStore) CreateActivityType(_ context.Context, t domain.ActivityType, first domain.CoefficientVersion) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creates++
	if s.createErr != nil {
		return s.createErr
	}
	if _, ok := s.types[t.Code]; ok {
		return domain.ErrConflict
	}
	if first.Version != 1 || first.TypeCode != t.Code {
		return errors.New("bad first version")
	}
	s.types[t.Code] = t
	s.versions[t.Code] = []domain.CoefficientVersion{first}
	return nil
}

func (s *memStore) AddCoefficientVersion(_ context.Context, v domain.CoefficientVersion) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	vs, ok := s.versions[v.TypeCode]
	if !ok {
		return domain.ErrNotFound
	}
	if v.Version != vs[len(vs)-1].Version+1 {
		return domain.ErrConflict
	}
	s.versions[v.TypeCode] = append(vs, v)
	return nil
}

func (s *memStore) ListActivityTypes(context.Context) ([]domain.ActivityType, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.staleList {
		return nil, nil
	}
	out := make([]domain.ActivityType, 0, len(s.types))
	for _, t := range s.types {
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Code < out[j].Code })
	return out, nil
}

func (s *memStore) ListCoefficientVersions(context.Context) ([]domain.CoefficientVersion, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.CoefficientVersion
	for _, vs := range s.versions {
		out = append(out, vs...)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].TypeCode != out[j].TypeCode {
			return out[i].TypeCode < out[j].TypeCode
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}

var seedNow = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

func TestLoadIsIdempotent(t *testing.T) {
	ctx := context.Background()
	types, coefs := mustTypes(t)
	store := newMemStore()

	created, err := Load(ctx, store, seedNow)
	if err != nil || created != len(types) {
		t.Fatalf("first Load = %d, %v; want %d, nil", created, err, len(types))
	}
	for i, want := range types {
		got, ok := store.types[want.Code]
		if !ok {
			t.Fatalf("%s not stored", want.Code)
		}
		if got.CreatedBy != "seed" || !got.CreatedAt.Equal(seedNow) || got.Name != want.Name || got.Unit != want.Unit {
			t.Errorf("%s stored as %+v", want.Code, got)
		}
		vs := store.versions[want.Code]
		if len(vs) != 1 {
			t.Fatalf("%s: %d versions", want.Code, len(vs))
		}
		v := vs[0]
		if v.Version != 1 || v.CreatedBy != "seed" || v.Note != "seed default" || !v.CreatedAt.Equal(seedNow) {
			t.Errorf("%s: version %+v", want.Code, v)
		}
		if !v.EffectiveFrom.Equal(time.Date(2025, 12, 31, 16, 0, 0, 0, time.UTC)) {
			t.Errorf("%s: effective from %s, want 2026-01-01T00:00:00+08:00", want.Code, v.EffectiveFrom)
		}
		if !reflect.DeepEqual(v.Coefficients, coefs[i]) {
			t.Errorf("%s: stored coefficients %+v, want %+v", want.Code, v.Coefficients, coefs[i])
		}
	}

	creates := store.creates
	created, err = Load(ctx, store, seedNow.Add(time.Hour))
	if err != nil || created != 0 {
		t.Fatalf("second Load = %d, %v; want 0, nil", created, err)
	}
	if store.creates != creates {
		t.Errorf("second Load attempted %d creates; existing types should be skipped without writing", store.creates-creates)
	}
	if len(store.types) != len(types) {
		t.Errorf("%d types stored, want %d", len(store.types), len(types))
	}
}

func TestLoadNeverChangesOperatorTypes(t *testing.T) {
	ctx := context.Background()
	types, coefs := mustTypes(t)
	store := newMemStore()
	var metro domain.Coefficients
	for i, typ := range types {
		if typ.Code == "travel.metro" {
			metro = coefs[i]
		}
	}
	metro.CO2eMgPerUnit, metro.DailyMaxQuantity = 170_000, domain.Units(3) // an operator's choice (Wuhan)
	operator := domain.ActivityType{Code: "travel.metro", Category: domain.CategoryGreenTravel, Unit: "trip",
		Name: "地铁", NameEn: "Metro", CreatedBy: "op-1", CreatedAt: seedNow}
	if err := store.CreateActivityType(ctx, operator, domain.CoefficientVersion{TypeCode: "travel.metro", Version: 1,
		EffectiveFrom: seedNow, Coefficients: metro, CreatedBy: "op-1", Note: "ours"}); err != nil {
		t.Fatal(err)
	}

	created, err := Load(ctx, store, seedNow)
	if err != nil || created != len(types)-1 {
		t.Fatalf("Load = %d, %v; want %d, nil", created, err, len(types)-1)
	}
	if got := store.types["travel.metro"]; got != operator {
		t.Errorf("operator's type changed to %+v", got)
	}
	if vs := store.versions["travel.metro"]; len(vs) != 1 || vs[0].CO2eMgPerUnit != 170_000 || vs[0].CreatedBy != "op-1" {
		t.Errorf("operator's versions changed: %+v", vs)
	}
}

func TestLoadConcurrentReplicas(t *testing.T) {
	ctx := context.Background()
	types, _ := mustTypes(t)
	store := newMemStore()
	store.staleList = true // every replica believes the catalog is empty

	const replicas = 4
	var wg sync.WaitGroup
	results := make([]int, replicas)
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = Load(ctx, store, seedNow)
		}()
	}
	wg.Wait()
	total := 0
	for i := range replicas {
		if errs[i] != nil {
			t.Errorf("replica %d: %v", i, errs[i])
		}
		total += results[i]
	}
	if total != len(types) || len(store.types) != len(types) {
		t.Errorf("replicas created %d in total, %d stored; want %d once each", total, len(store.types), len(types))
	}
}

func TestLoadReportsStoreErrors(t *testing.T) {
	store := newMemStore()
	boom := errors.New("disk full")
	store.createErr = boom
	created, err := Load(context.Background(), store, seedNow)
	if !errors.Is(err, boom) || created != 0 {
		t.Errorf("Load = %d, %v; want 0 and the store's error", created, err)
	}
}

func TestEffectiveFromIsFixedInThePast(t *testing.T) {
	from := EffectiveFrom()
	if want := time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("", 8*3600)); !from.Equal(want) {
		t.Errorf("EffectiveFrom = %s, want %s", from, want)
	}
}

// entry is a valid activity_types.json entry; tests break it one way at a time.
const entry = `{
  "code": "travel.test",
  "category": "green_travel",
  "unit": "km",
  "name": "测试",
  "name_en": "Test",
  "factor": {"ref": "TEST", "kg_per_unit": "0.0468"},
  "coefficients": {
    "enabled": true,
    "co2e_mg_per_unit": 46800,
    "points_per_kg": 1000,
    "points_per_unit": 0,
    "quantity_decimals": 1,
    "max_quantity": "50",
    "daily_max_quantity": "0",
    "daily_max_points": 0,
    "evidence": {"required": true, "sources": ["x"], "review": false},
    "methodology": "m",
    "confidence": "A"
  }
}`

func TestStrictDecoding(t *testing.T) {
	if types, coefs, err := parseActivityTypes([]byte("[" + entry + "]")); err != nil {
		t.Fatalf("valid entry refused: %v", err)
	} else if coefs[0].MaxQuantity != domain.Units(50) || coefs[0].DailyMaxQuantity != 0 || types[0].Code != "travel.test" {
		t.Fatalf("parsed %+v %+v", types[0], coefs[0])
	}
	for name, doc := range map[string]string{
		"unknown field":          "[" + strings.Replace(entry, `"unit": "km",`, `"unit": "km", "colour": "green",`, 1) + "]",
		"unknown nested field":   "[" + strings.Replace(entry, `"review": false`, `"review": false, "auto": true`, 1) + "]",
		"fractional milligrams":  "[" + strings.Replace(entry, `46800,`, `46800.5,`, 1) + "]",
		"float factor":           "[" + strings.Replace(entry, `46800,`, `4.68e4,`, 1) + "]",
		"missing enabled":        "[" + strings.Replace(entry, `"enabled": true,`, ``, 1) + "]",
		"missing review":         "[" + strings.Replace(entry, `, "review": false`, ``, 1) + "]",
		"missing factor":         "[" + strings.Replace(entry, `"factor": {"ref": "TEST", "kg_per_unit": "0.0468"},`, ``, 1) + "]",
		"missing daily cap":      "[" + strings.Replace(entry, `"daily_max_quantity": "0",`, ``, 1) + "]",
		"factor mismatch":        "[" + strings.Replace(entry, `"0.0468"`, `"0.468"`, 1) + "]",
		"numeric quantity":       "[" + strings.Replace(entry, `"max_quantity": "50"`, `"max_quantity": 50`, 1) + "]",
		"too many decimals":      "[" + strings.Replace(entry, `"max_quantity": "50"`, `"max_quantity": "50.25"`, 1) + "]",
		"exponent quantity":      "[" + strings.Replace(entry, `"max_quantity": "50"`, `"max_quantity": "5e1"`, 1) + "]",
		"zero maximum":           "[" + strings.Replace(entry, `"max_quantity": "50"`, `"max_quantity": "0"`, 1) + "]",
		"bad confidence":         "[" + strings.Replace(entry, `"confidence": "A"`, `"confidence": "B/C"`, 1) + "]",
		"no methodology":         "[" + strings.Replace(entry, `"methodology": "m"`, `"methodology": ""`, 1) + "]",
		"wrong category prefix":  "[" + strings.Replace(entry, `"travel.test"`, `"waste.test"`, 1) + "]",
		"unknown category":       "[" + strings.Replace(entry, `"green_travel"`, `"green_living"`, 1) + "]",
		"earns nothing":          "[" + strings.NewReplacer(`46800,`, `0,`, `"0.0468"`, `"0"`).Replace(entry) + "]",
		"duplicate code":         "[" + entry + "," + entry + "]",
		"trailing data":          "[" + entry + "] []",
		"empty list":             "[]",
		"not a list":             entry,
		"decimals out of range":  "[" + strings.Replace(entry, `"quantity_decimals": 1`, `"quantity_decimals": 4`, 1) + "]",
		"negative points per kg": "[" + strings.Replace(entry, `"points_per_kg": 1000`, `"points_per_kg": -1`, 1) + "]",
	} {
		if _, _, err := parseActivityTypes([]byte(doc)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseKgAsMg(t *testing.T) {
	for in, want := range map[string]int64{"0": 0, "0.0468": 46_800, "0.00002": 20, "10.06": 10_060_000, "25": 25_000_000, "0.000001": 1} {
		if got, err := parseKgAsMg(in); err != nil || got != want {
			t.Errorf("parseKgAsMg(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".5", "5.", "-1", "+1", "1e3", "0.0000001", "01", "1,5", "12345678"} {
		if _, err := parseKgAsMg(in); err == nil {
			t.Errorf("parseKgAsMg(%q) accepted", in)
		}
	}
}

func TestLevels(t *testing.T) {
	levels := Levels()
	if len(levels) < 4 {
		t.Fatalf("%d levels, want light, mid and dark green plus a higher grade", len(levels))
	}
	if err := validateLevels(slices.Clone(levels)); err != nil {
		t.Fatalf("seeded levels invalid: %v", err)
	}
	want := []domain.Level{{Number: 1, Name: "浅绿", MinCO2e: 0}, {Number: 2, Name: "中绿", MinCO2e: 50_000}, {Number: 3, Name: "深绿", MinCO2e: 100_000}}
	if !reflect.DeepEqual(levels[:3], want) {
		t.Errorf("first grades %+v, want %+v (peers.md: 0–50 kg, 50–100 kg, >100 kg)", levels[:3], want)
	}
	if top := levels[len(levels)-1]; top.MinCO2e <= 100_000 {
		t.Errorf("top grade %+v is not above dark green", top)
	}
	levels[0].Name = "changed"
	if Levels()[0].Name != "浅绿" {
		t.Error("Levels shares its slice between callers")
	}
	if got := domain.LevelFor(Levels(), 50_000).Name; got != "中绿" {
		t.Errorf("50 kg is %s, want 中绿", got)
	}

	for name, doc := range map[string]string{
		"empty":             `[]`,
		"not from zero":     `[{"number":1,"name":"a","min_co2e_g":10}]`,
		"equal thresholds":  `[{"number":1,"name":"a","min_co2e_g":0},{"number":2,"name":"b","min_co2e_g":0}]`,
		"numbers skip":      `[{"number":1,"name":"a","min_co2e_g":0},{"number":3,"name":"b","min_co2e_g":5}]`,
		"numbers reversed":  `[{"number":2,"name":"a","min_co2e_g":0},{"number":1,"name":"b","min_co2e_g":5}]`,
		"duplicate name":    `[{"number":1,"name":"a","min_co2e_g":0},{"number":2,"name":"a","min_co2e_g":5}]`,
		"blank name":        `[{"number":1,"name":" ","min_co2e_g":0}]`,
		"unknown field":     `[{"number":1,"name":"a","min_co2e_g":0,"colour":"green"}]`,
		"fractional grams":  `[{"number":1,"name":"a","min_co2e_g":0.5}]`,
		"trailing data":     `[{"number":1,"name":"a","min_co2e_g":0}] x`,
		"negative baseline": `[{"number":1,"name":"a","min_co2e_g":-5},{"number":2,"name":"b","min_co2e_g":0}]`,
	} {
		if _, err := parseLevels([]byte(doc)); err == nil {
			t.Errorf("levels %s: accepted", name)
		}
	}
	// Out of order in the file is fine: they are sorted.
	got, err := parseLevels([]byte(`[{"number":2,"name":"b","min_co2e_g":5},{"number":1,"name":"a","min_co2e_g":0}]`))
	if err != nil || got[0].Name != "a" || got[1].Name != "b" {
		t.Errorf("unsorted levels: %+v, %v", got, err)
	}
}
