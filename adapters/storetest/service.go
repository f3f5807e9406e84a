package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// This file runs domain.ActionService over the store: the rules of recording an
// action hold end to end whichever adapter keeps the data.

// allowAll is a RateLimiter that never limits; rate limits are not the store's job.
type allowAll struct{}

func (allowAll) Allow(context.Context, string, int, time.Duration) (domain.RateDecision, error) {
	return domain.RateDecision{Allowed: true, Remaining: 1}, nil
}

// stepClock moves one millisecond every time it is read, so ids made from it sort
// in the order they were made and every reading is at the stores' precision.
type stepClock struct {
	base time.Time
	n    atomic.Int64
}

func newStepClock(base time.Time) *stepClock {
	return &stepClock{base: base.UTC().Truncate(time.Millisecond)}
}

func (c *stepClock) Now() time.Time { return c.base.Add(time.Duration(c.n.Add(1)) * time.Millisecond) }

// svcBase is "now" for the service tests: 15:00 on testDay in Shanghai.
var svcBase = time.Date(2025, 3, 14, 15, 0, 0, 0, shanghai)

// longAgo is when the seeded first versions take effect.
var longAgo = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

type seedType struct {
	typ domain.ActivityType
	co  domain.Coefficients
}

func coefficients(mg, perKg, perUnit int64, decimals int, maxQ, dailyQ domain.Quantity, dailyPoints int64, ev domain.EvidenceRule) domain.Coefficients {
	return domain.Coefficients{
		Enabled: true, CO2eMgPerUnit: mg, PointsPerKg: perKg, PointsPerUnit: perUnit,
		QuantityDecimals: decimals, MaxQuantity: maxQ, DailyMaxQuantity: dailyQ, DailyMaxPoints: dailyPoints,
		Evidence: ev, Methodology: "storetest", Confidence: "B",
	}
}

func seedTypeOf(code string, cat domain.Category, unit string, co domain.Coefficients) seedType {
	return seedType{domain.ActivityType{Code: code, Category: cat, Unit: unit, Name: code, NameEn: code, CreatedAt: longAgo, CreatedBy: "seed"}, co}
}

// serviceTypes are the activity types of the service tests. Per unit:
//
//	travel.metro            trip  250 g, 25 points; at most 10 a time, 4 a day; transit_card or metro_qr evidence
//	travel.bus              trip  200 g, 20 points; at most 10 a time, 20 a day; transit_card evidence
//	travel.walk             km    100 g, 10 points; one decimal; at most 50 a time, 30 points a day; evidence optional
//	waste.kitchen           kg    no CO2e, 5 points; one decimal; at most 20 a time, 20 points a day; smart_bin evidence
//	consumption.second_hand item  1 kg, 10 points, but every action waits for review
//	waste.battery           item  disabled
var serviceTypes = []seedType{
	seedTypeOf("travel.metro", domain.CategoryGreenTravel, "trip",
		coefficients(250_000, 100, 0, 0, domain.Units(10), domain.Units(4), 0, domain.EvidenceRule{Required: true, Sources: []string{"transit_card", "metro_qr"}})),
	seedTypeOf("travel.bus", domain.CategoryGreenTravel, "trip",
		coefficients(200_000, 100, 0, 0, domain.Units(10), domain.Units(20), 0, domain.EvidenceRule{Required: true, Sources: []string{"transit_card"}})),
	seedTypeOf("travel.walk", domain.CategoryGreenTravel, "km",
		coefficients(100_000, 100, 0, 1, domain.Units(50), 0, 30, domain.EvidenceRule{})),
	seedTypeOf("waste.kitchen", domain.CategoryWasteSorting, "kg",
		coefficients(0, 0, 5, 1, domain.Units(20), 0, 20, domain.EvidenceRule{Required: true, Sources: []string{"smart_bin"}})),
	seedTypeOf("consumption.second_hand", domain.CategoryGreenConsumption, "item",
		coefficients(1_000_000, 10, 0, 0, domain.Units(5), 0, 0, domain.EvidenceRule{Review: true})),
	func() seedType {
		st := seedTypeOf("waste.battery", domain.CategoryWasteSorting, "item",
			coefficients(50_000, 100, 0, 0, domain.Units(10), 0, 0, domain.EvidenceRule{}))
		st.co.Enabled = false
		return st
	}(),
}

// evidenceSource is the source the tests send for a type ("" = send no evidence).
var evidenceSource = map[string]string{
	"travel.metro": "transit_card", "travel.bus": "transit_card", "waste.kitchen": "smart_bin",
}

// svcEnv is an ActionService over a fresh store seeded with types.
type svcEnv struct {
	store domain.Store
	clock *stepClock
	cat   *domain.Catalog
	svc   *domain.ActionService

	mu       sync.Mutex // guards citizens
	citizens []string   // every citizen made by citizen(), in order
}

func newSvcEnv(t *testing.T, open func(t *testing.T) domain.Store, types []seedType, dailyPoints int64) *svcEnv {
	t.Helper()
	e := &svcEnv{store: open(t), clock: newStepClock(svcBase)}
	for _, st := range types {
		v := domain.CoefficientVersion{TypeCode: st.typ.Code, Version: 1, EffectiveFrom: longAgo, Coefficients: st.co, CreatedAt: longAgo, CreatedBy: "seed"}
		mustNoErr(t, "CreateActivityType "+st.typ.Code, e.store.CreateActivityType(t.Context(), st.typ, v))
	}
	e.cat = &domain.Catalog{Store: e.store, Now: e.clock.Now, Lead: time.Hour}
	mustNoErr(t, "Catalog.Reload", e.cat.Reload(t.Context()))
	e.svc = e.service(dailyPoints)
	return e
}

// service is an ActionService on the env's store and catalog with the given
// overall daily points cap.
func (e *svcEnv) service(dailyPoints int64) *domain.ActionService {
	rules := domain.DefaultActionRules
	rules.DailyPoints = dailyPoints
	rules.ReplayWaitStep = 2 * time.Millisecond
	return &domain.ActionService{Actions: e.store, Catalog: e.cat, Limiter: allowAll{}, Rules: rules, Now: e.clock.Now}
}

// addVersion stores the next version of a type directly and reloads the catalog.
func (e *svcEnv) addVersion(t *testing.T, code string, version int, from time.Time, co domain.Coefficients) {
	t.Helper()
	v := domain.CoefficientVersion{TypeCode: code, Version: version, EffectiveFrom: from, Coefficients: co, CreatedAt: e.clock.Now(), CreatedBy: "storetest"}
	mustNoErr(t, "AddCoefficientVersion", e.store.AddCoefficientVersion(t.Context(), v))
	mustNoErr(t, "Catalog.Reload", e.cat.Reload(t.Context()))
}

func (e *svcEnv) citizen(t *testing.T) domain.Citizen {
	t.Helper()
	c := seedAccount(t, e.store)
	e.mu.Lock()
	e.citizens = append(e.citizens, c.ID)
	e.mu.Unlock()
	return c
}

// input is a valid request of citizenID for quantity of typeCode, an hour before
// now, with fresh evidence (if the type takes any) and a fresh idempotency key.
func (e *svcEnv) input(citizenID, typeCode, quantity string) domain.RecordActionInput {
	in := domain.RecordActionInput{
		CitizenID: citizenID, IdempotencyKey: "key-" + domain.RandomToken(12), TypeCode: typeCode,
		Quantity: quantity, OccurredAt: svcBase.Add(-time.Hour),
	}
	if src := evidenceSource[typeCode]; src != "" {
		in.Evidence = &domain.Evidence{Source: src, Reference: "ref-" + domain.RandomToken(12)}
	}
	return in
}

func (e *svcEnv) record(t *testing.T, in domain.RecordActionInput) domain.RecordedAction {
	t.Helper()
	r, err := e.svc.Record(t.Context(), in)
	mustNoErr(t, fmt.Sprintf("Record(%s %s)", in.TypeCode, in.Quantity), err)
	return r
}

// snapshots captures every citizen of the env.
func (e *svcEnv) snapshots(t *testing.T) map[string]account { return e.snapshotsFrom(t, 0) }

// snapshotsFrom captures the citizens made from the start-th on.
func (e *svcEnv) snapshotsFrom(t *testing.T, start int) map[string]account {
	t.Helper()
	e.mu.Lock()
	ids := slices.Clone(e.citizens[start:])
	e.mu.Unlock()
	out := map[string]account{}
	for _, id := range ids {
		out[id] = snapshot(t, e.store, id)
	}
	return out
}

func (e *svcEnv) wantNothingWritten(t *testing.T, what string, before map[string]account) {
	t.Helper()
	for id, acc := range before {
		wantUnchanged(t, e.store, what, id, acc)
	}
	checkConsistent(t, e.store)
}

// wantDomainError checks that err is a *domain.Error of kind and code, and, when
// field is set, a validation error naming field with fieldCode.
func wantDomainError(t *testing.T, what string, err error, kind domain.ErrorKind, code, field, fieldCode string) {
	t.Helper()
	var de *domain.Error
	if !errors.As(err, &de) {
		t.Errorf("%s: want a *domain.Error %s/%s, got %v", what, kind, code, err)
		return
	}
	if de.Kind != kind || domain.ErrorCodeOf(err) != code {
		t.Errorf("%s: got %s/%s (%v), want %s/%s", what, de.Kind, de.Code, err, kind, code)
	}
	if field == "" {
		return
	}
	for _, f := range de.Fields {
		if f.Field == field && f.Code == fieldCode {
			return
		}
	}
	t.Errorf("%s: fields %+v, want %s: %s", what, de.Fields, field, fieldCode)
}

func wantCap(t *testing.T, what string, got *domain.CapOutcome, want domain.CapOutcome) {
	t.Helper()
	if got == nil || *got != want {
		t.Errorf("%s: Cap = %s, want %+v", what, fmtCap(got), want)
	}
}

func wantCredit(t *testing.T, what string, r domain.RecordedAction, status domain.ActionStatus, q domain.Quantity, co2e, points int64) {
	t.Helper()
	if r.Status != status || r.CreditedQuantity != q || r.CO2eGrams != co2e || r.Points != points {
		t.Errorf("%s: outcome (%s, %s, %d g, %d points), want (%s, %s, %d g, %d points)",
			what, r.Status, r.CreditedQuantity, r.CO2eGrams, r.Points, status, q, co2e, points)
	}
	if hasEntry := r.LedgerEntryID != ""; hasEntry != (co2e != 0 || points != 0) {
		t.Errorf("%s: LedgerEntryID = %q for %d g and %d points", what, r.LedgerEntryID, co2e, points)
	}
}

func runActionService(t *testing.T, open func(t *testing.T) domain.Store) {
	t.Run("every rejection names its reason and writes nothing", func(t *testing.T) {
		t.Parallel()
		e := newSvcEnv(t, open, serviceTypes, 0)
		longRef := strings.Repeat("r", 257)
		type build func(t *testing.T, c domain.Citizen) domain.RecordActionInput
		metro := func(mutate func(in *domain.RecordActionInput)) build {
			return func(t *testing.T, c domain.Citizen) domain.RecordActionInput {
				in := e.input(c.ID, "travel.metro", "1")
				mutate(&in)
				return in
			}
		}
		cases := []struct {
			name             string
			build            build
			kind             domain.ErrorKind
			code             string
			field, fieldCode string
		}{
			{"unknown type", metro(func(in *domain.RecordActionInput) { in.TypeCode = "travel.teleport" }),
				domain.KindInvalid, "validation_failed", "type", "unknown_activity_type"},
			{"disabled type", func(t *testing.T, c domain.Citizen) domain.RecordActionInput {
				return e.input(c.ID, "waste.battery", "1")
			}, domain.KindUnprocessable, "activity_type_disabled", "", ""},
			{"zero quantity", metro(func(in *domain.RecordActionInput) { in.Quantity = "0" }),
				domain.KindInvalid, "validation_failed", "quantity", "not_positive"},
			{"negative quantity", metro(func(in *domain.RecordActionInput) { in.Quantity = "-1" }),
				domain.KindInvalid, "validation_failed", "quantity", "invalid_quantity"},
			{"empty quantity", metro(func(in *domain.RecordActionInput) { in.Quantity = "" }),
				domain.KindInvalid, "validation_failed", "quantity", "invalid_quantity"},
			{"decimals on a whole unit", metro(func(in *domain.RecordActionInput) { in.Quantity = "1.5" }),
				domain.KindInvalid, "validation_failed", "quantity", "invalid_quantity"},
			{"too many decimals", func(t *testing.T, c domain.Citizen) domain.RecordActionInput {
				return e.input(c.ID, "travel.walk", "1.25")
			}, domain.KindInvalid, "validation_failed", "quantity", "invalid_quantity"},
			{"exponent", metro(func(in *domain.RecordActionInput) { in.Quantity = "1e3" }),
				domain.KindInvalid, "validation_failed", "quantity", "invalid_quantity"},
			{"above the per-action maximum", metro(func(in *domain.RecordActionInput) { in.Quantity = "11" }),
				domain.KindInvalid, "validation_failed", "quantity", "above_maximum"},
			{"above the maximum by a decimal", func(t *testing.T, c domain.Citizen) domain.RecordActionInput {
				return e.input(c.ID, "travel.walk", "50.1")
			}, domain.KindInvalid, "validation_failed", "quantity", "above_maximum"},
			{"occurred in the future", metro(func(in *domain.RecordActionInput) { in.OccurredAt = svcBase.Add(10 * time.Minute) }),
				domain.KindInvalid, "validation_failed", "occurred_at", "in_future"},
			{"occurred too long ago", metro(func(in *domain.RecordActionInput) { in.OccurredAt = svcBase.Add(-31 * day) }),
				domain.KindInvalid, "validation_failed", "occurred_at", "too_old"},
			{"no occurred_at", metro(func(in *domain.RecordActionInput) { in.OccurredAt = time.Time{} }),
				domain.KindInvalid, "validation_failed", "occurred_at", "required"},
			{"missing evidence", metro(func(in *domain.RecordActionInput) { in.Evidence = nil }),
				domain.KindInvalid, "validation_failed", "evidence", "evidence_required"},
			{"blank evidence", metro(func(in *domain.RecordActionInput) { in.Evidence = &domain.Evidence{Source: " ", Reference: "\t"} }),
				domain.KindInvalid, "validation_failed", "evidence", "evidence_required"},
			{"evidence without reference", metro(func(in *domain.RecordActionInput) { in.Evidence.Reference = "" }),
				domain.KindInvalid, "validation_failed", "evidence", "incomplete_evidence"},
			{"evidence without source", metro(func(in *domain.RecordActionInput) { in.Evidence.Source = "" }),
				domain.KindInvalid, "validation_failed", "evidence", "incomplete_evidence"},
			{"evidence too long", metro(func(in *domain.RecordActionInput) { in.Evidence.Reference = longRef }),
				domain.KindInvalid, "validation_failed", "evidence", "too_long"},
			{"evidence source not accepted", metro(func(in *domain.RecordActionInput) { in.Evidence.Source = "bike_card" }),
				domain.KindInvalid, "validation_failed", "evidence.source", "source_not_accepted"},
			{"evidence already used by another citizen", func(t *testing.T, c domain.Citizen) domain.RecordActionInput {
				first := e.record(t, e.input(e.citizen(t).ID, "travel.metro", "1"))
				in := e.input(c.ID, "travel.metro", "1")
				in.Evidence = &domain.Evidence{Source: first.Evidence.Source, Reference: first.Evidence.Reference}
				return in
			}, domain.KindConflict, "evidence_already_used", "", ""},
			{"evidence already used by the same citizen", func(t *testing.T, c domain.Citizen) domain.RecordActionInput {
				first := e.input(c.ID, "travel.metro", "1")
				e.record(t, first)
				in := e.input(c.ID, "travel.bus", "2")
				in.Evidence = first.Evidence
				return in
			}, domain.KindConflict, "evidence_already_used", "", ""},
			{"evidence already used, source in other case", func(t *testing.T, c domain.Citizen) domain.RecordActionInput {
				first := e.input(c.ID, "travel.walk", "1")
				first.Evidence = &domain.Evidence{Source: "Transit_Card", Reference: "ride-" + domain.RandomToken(8)}
				e.record(t, first)
				in := e.input(c.ID, "travel.metro", "1")
				in.Evidence.Reference = first.Evidence.Reference
				return in
			}, domain.KindConflict, "evidence_already_used", "", ""},
			{"daily quantity cap fully used", func(t *testing.T, c domain.Citizen) domain.RecordActionInput {
				e.record(t, e.input(c.ID, "travel.metro", "4"))
				return e.input(c.ID, "travel.metro", "1")
			}, domain.KindUnprocessable, "daily_cap_reached", "", ""},
			{"daily points cap fully used by a type without CO2e", func(t *testing.T, c domain.Citizen) domain.RecordActionInput {
				e.record(t, e.input(c.ID, "waste.kitchen", "4"))
				return e.input(c.ID, "waste.kitchen", "0.5")
			}, domain.KindUnprocessable, "daily_cap_reached", "", ""},
			{"missing idempotency key", metro(func(in *domain.RecordActionInput) { in.IdempotencyKey = "" }),
				domain.KindInvalid, "idempotency_key_required", "", ""},
			{"idempotency key too long", metro(func(in *domain.RecordActionInput) { in.IdempotencyKey = strings.Repeat("k", 129) }),
				domain.KindInvalid, "idempotency_key_required", "", ""},
			{"idempotency key starting with a space", metro(func(in *domain.RecordActionInput) { in.IdempotencyKey = " key-1" }),
				domain.KindInvalid, "idempotency_key_required", "", ""},
			{"idempotency key with a control character", metro(func(in *domain.RecordActionInput) { in.IdempotencyKey = "key\t1" }),
				domain.KindInvalid, "idempotency_key_required", "", ""},
			{"idempotency key not ASCII", metro(func(in *domain.RecordActionInput) { in.IdempotencyKey = "幂等键" }),
				domain.KindInvalid, "idempotency_key_required", "", ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				e.mu.Lock()
				start := len(e.citizens)
				e.mu.Unlock()
				c := e.citizen(t)
				in := tc.build(t, c)
				before := e.snapshotsFrom(t, start) // the cases run one by one: nobody else writes meanwhile
				r, err := e.svc.Record(t.Context(), in)
				if err == nil {
					t.Fatalf("Record succeeded (action %s, %d points), want %s", r.ID, r.Points, tc.code)
				}
				wantDomainError(t, "Record", err, tc.kind, tc.code, tc.field, tc.fieldCode)
				e.wantNothingWritten(t, "a rejected Record", before)
			})
		}
	})

	t.Run("credits an action by the coefficients and records its outcome", func(t *testing.T) {
		t.Parallel()
		e := newSvcEnv(t, open, serviceTypes, 0)
		c := e.citizen(t)
		metro := e.record(t, e.input(c.ID, "travel.metro", "2"))
		wantCredit(t, "metro 2 trips", metro, domain.ActionCredited, domain.Units(2), 500, 50)
		if metro.Replayed || metro.RuleVersion != 1 || metro.Day != testDay || metro.BalanceAfter != 50 || metro.Cap != nil {
			t.Errorf("metro: Replayed=%v RuleVersion=%d Day=%s BalanceAfter=%d Cap=%s; want false, 1, %s, 50, nil",
				metro.Replayed, metro.RuleVersion, metro.Day, metro.BalanceAfter, fmtCap(metro.Cap), testDay)
		}
		walk := e.record(t, e.input(c.ID, "travel.walk", "2.5"))
		wantCredit(t, "walk 2.5 km", walk, domain.ActionCredited, 2500, 250, 25)
		kitchen := e.record(t, e.input(c.ID, "waste.kitchen", "1.5"))
		wantCredit(t, "kitchen 1.5 kg (7.5 points, floored)", kitchen, domain.ActionCredited, 1500, 0, 7)
		review := e.record(t, e.input(c.ID, "consumption.second_hand", "1"))
		wantCredit(t, "second-hand item", review, domain.ActionPendingReview, 0, 0, 0)
		if review.BalanceAfter != 82 {
			t.Errorf("BalanceAfter of the pending action = %d, want 82", review.BalanceAfter)
		}
		wantTotals(t, e.store, c.ID, 82, 750, 82)

		for _, r := range []domain.RecordedAction{metro, walk, kitchen, review} {
			got, err := e.svc.Get(t.Context(), c.ID, r.ID)
			mustNoErr(t, "ActionService.Get", err)
			diffAction(r.Action, got).report(t, "stored "+r.TypeCode)
			_, err = e.svc.Get(t.Context(), e.citizen(t).ID, r.ID)
			wantDomainError(t, "another citizen's Get", err, domain.KindNotFound, "action_not_found", "", "")
		}
		entries, err := e.svc.Ledger(t.Context(), c.ID, "", 10)
		mustNoErr(t, "ActionService.Ledger", err)
		if got, want := idsOf(entries, entryID), newestFirst([]string{metro.LedgerEntryID, walk.LedgerEntryID, kitchen.LedgerEntryID}); !slices.Equal(got, want) {
			t.Errorf("ledger = %v, want %v", got, want)
		}
		list, err := e.svc.List(t.Context(), c.ID, "", 10)
		mustNoErr(t, "ActionService.List", err)
		if got, want := idsOf(list, actionID), []string{review.ID, kitchen.ID, walk.ID, metro.ID}; !slices.Equal(got, want) {
			t.Errorf("actions = %v, want newest first %v", got, want)
		}
	})

	t.Run("a capped action is credited up to the cap and says which cap withheld what", func(t *testing.T) {
		t.Parallel()
		e := newSvcEnv(t, open, serviceTypes, 0)

		c := e.citizen(t)
		e.record(t, e.input(c.ID, "travel.metro", "3"))
		r := e.record(t, e.input(c.ID, "travel.metro", "3"))
		wantCredit(t, "metro over the daily trips", r, domain.ActionCredited, domain.Units(1), 250, 25)
		wantCap(t, "metro over the daily trips", r.Cap, domain.CapOutcome{Limit: domain.CapTypeDailyQuantity, RequestedQuantity: domain.Units(3), CreditedQuantity: domain.Units(1)})
		stored, err := e.store.GetAction(t.Context(), r.ID)
		mustNoErr(t, "GetAction", err)
		diffAction(r.Action, stored).report(t, "stored capped action")
		// The cap is per Shanghai day: the day before is still open.
		yesterday := e.input(c.ID, "travel.metro", "4")
		yesterday.OccurredAt = svcBase.Add(-15*time.Hour - time.Millisecond) // 23:59:59.999 the day before
		y := e.record(t, yesterday)
		wantCredit(t, "metro the day before", y, domain.ActionCredited, domain.Units(4), 1000, 100)
		if y.Day != "2025-03-13" || y.Cap != nil {
			t.Errorf("metro the day before: Day %s, Cap %s; want 2025-03-13, nil", y.Day, fmtCap(y.Cap))
		}
		wantTotals(t, e.store, c.ID, 75+25+100, 750+250+1000, 200)

		w := e.citizen(t)
		e.record(t, e.input(w.ID, "travel.walk", "2"))
		r = e.record(t, e.input(w.ID, "travel.walk", "2"))
		wantCredit(t, "walk over the type's daily points", r, domain.ActionCredited, domain.Units(2), 200, 10)
		wantCap(t, "walk over the type's daily points", r.Cap, domain.CapOutcome{Limit: domain.CapTypeDailyPoints, RequestedQuantity: domain.Units(2), CreditedQuantity: domain.Units(2), PointsWithheld: 10})
		r = e.record(t, e.input(w.ID, "travel.walk", "1"))
		wantCredit(t, "walk with no points left (the carbon still counts)", r, domain.ActionCredited, domain.Units(1), 100, 0)
		wantCap(t, "walk with no points left", r.Cap, domain.CapOutcome{Limit: domain.CapTypeDailyPoints, RequestedQuantity: domain.Units(1), CreditedQuantity: domain.Units(1), PointsWithheld: 10})
		wantTotals(t, e.store, w.ID, 30, 500, 30)

		// The citizen's cap over all types.
		svc := e.service(60)
		d := e.citizen(t)
		rec := func(typ, q string) domain.RecordedAction {
			t.Helper()
			r, err := svc.Record(t.Context(), e.input(d.ID, typ, q))
			mustNoErr(t, "Record "+typ, err)
			return r
		}
		rec("travel.metro", "2")
		r = rec("travel.bus", "1")
		wantCredit(t, "bus over the daily points", r, domain.ActionCredited, domain.Units(1), 200, 10)
		wantCap(t, "bus over the daily points", r.Cap, domain.CapOutcome{Limit: domain.CapDailyPoints, RequestedQuantity: domain.Units(1), CreditedQuantity: domain.Units(1), PointsWithheld: 10})
		r = rec("travel.walk", "1")
		wantCredit(t, "walk with no daily points left", r, domain.ActionCredited, domain.Units(1), 100, 0)
		wantCap(t, "walk with no daily points left", r.Cap, domain.CapOutcome{Limit: domain.CapDailyPoints, RequestedQuantity: domain.Units(1), CreditedQuantity: domain.Units(1), PointsWithheld: 10})
		before := e.snapshots(t)
		_, err = svc.Record(t.Context(), e.input(d.ID, "waste.kitchen", "1"))
		wantDomainError(t, "kitchen (points only) with no daily points left", err, domain.KindUnprocessable, "daily_cap_reached", "", "")
		e.wantNothingWritten(t, "a refused kitchen action", before)
		wantTotals(t, e.store, d.ID, 60, 800, 60)
	})

	t.Run("the coefficient version in force when the action happened is used and recorded", func(t *testing.T) {
		t.Parallel()
		e := newSvcEnv(t, open, serviceTypes, 0)
		bus := serviceTypes[1].co
		bus.CO2eMgPerUnit = 300_000 // 30 points a trip from version 2
		switchAt := svcBase.Add(-2 * time.Hour)
		e.addVersion(t, "travel.bus", 2, switchAt, bus)
		c := e.citizen(t)
		for _, tc := range []struct {
			at       time.Time
			version  int
			co2e, pt int64
		}{
			{switchAt.Add(-time.Hour), 1, 200, 20},
			{switchAt.Add(-time.Millisecond), 1, 200, 20},
			{switchAt, 2, 300, 30},
			{switchAt.Add(time.Hour), 2, 300, 30},
		} {
			in := e.input(c.ID, "travel.bus", "1")
			in.OccurredAt = tc.at
			r := e.record(t, in)
			what := "bus at " + tc.at.Format(time.RFC3339Nano)
			wantCredit(t, what, r, domain.ActionCredited, domain.Units(1), tc.co2e, tc.pt)
			stored, err := e.store.GetAction(t.Context(), r.ID)
			mustNoErr(t, "GetAction", err)
			if r.RuleVersion != tc.version || stored.RuleVersion != tc.version {
				t.Errorf("%s: RuleVersion returned %d, stored %d; want %d", what, r.RuleVersion, stored.RuleVersion, tc.version)
			}
		}
		wantTotals(t, e.store, c.ID, 100, 1000, 100)
	})

	t.Run("a repeated request replays the first outcome; a different one under the same key is refused", func(t *testing.T) {
		t.Parallel()
		e := newSvcEnv(t, open, serviceTypes, 0)
		c := e.citizen(t)
		in := e.input(c.ID, "travel.metro", "1")
		first := e.record(t, in)
		e.record(t, e.input(c.ID, "travel.walk", "1")) // the balance moves on
		again := e.record(t, in)
		if !again.Replayed || first.Replayed {
			t.Errorf("Replayed: first %v, repeat %v; want false, true", first.Replayed, again.Replayed)
		}
		diffAction(first.Action, again.Action).report(t, "replayed action")
		pendingIn := e.input(c.ID, "consumption.second_hand", "1")
		pending := e.record(t, pendingIn)
		if replay := e.record(t, pendingIn); !replay.Replayed || replay.ID != pending.ID || replay.Status != domain.ActionPendingReview {
			t.Errorf("replay of a pending action: Replayed %v, ID %s, Status %s; want true, %s, pending_review", replay.Replayed, replay.ID, replay.Status, pending.ID)
		}
		wantTotals(t, e.store, c.ID, 35, 350, 35)
		if n := len(listActions(t, e.store, c.ID)); n != 3 {
			t.Errorf("%d actions stored, want 3", n)
		}
		if n := len(listLedger(t, e.store, c.ID)); n != 2 {
			t.Errorf("%d ledger entries, want 2", n)
		}

		before := e.snapshots(t)
		for _, change := range []struct {
			what   string
			mutate func(in *domain.RecordActionInput)
		}{
			{"another quantity", func(in *domain.RecordActionInput) { in.Quantity = "2" }},
			{"another type", func(in *domain.RecordActionInput) { in.TypeCode = "travel.bus" }},
			{"another time", func(in *domain.RecordActionInput) { in.OccurredAt = in.OccurredAt.Add(time.Second) }},
			{"another reference", func(in *domain.RecordActionInput) {
				in.Evidence = &domain.Evidence{Source: in.Evidence.Source, Reference: "other-" + domain.RandomToken(8)}
			}},
		} {
			other := in
			change.mutate(&other)
			_, err := e.svc.Record(t.Context(), other)
			wantDomainError(t, "same key, "+change.what, err, domain.KindUnprocessable, "idempotency_key_reused", "", "")
		}
		e.wantNothingWritten(t, "a reused key", before)

		// The key is the citizen's own: someone else may send it.
		d := e.citizen(t)
		theirs := e.input(d.ID, "travel.metro", "1")
		theirs.IdempotencyKey = in.IdempotencyKey
		if r := e.record(t, theirs); r.Replayed || r.ID == first.ID {
			t.Errorf("another citizen's request under the same key: Replayed %v, ID %s; want a new action", r.Replayed, r.ID)
		}
	})

	t.Run("a refused action leaves its idempotency key and evidence free", func(t *testing.T) {
		t.Parallel()
		e := newSvcEnv(t, open, serviceTypes, 0)
		c := e.citizen(t)
		e.record(t, e.input(c.ID, "travel.metro", "4"))
		refused := e.input(c.ID, "travel.metro", "1")
		_, err := e.svc.Record(t.Context(), refused)
		wantDomainError(t, "metro over the cap", err, domain.KindUnprocessable, "daily_cap_reached", "", "")
		// The evidence can still be credited, to anyone...
		other := e.input(e.citizen(t).ID, "travel.metro", "1")
		other.Evidence = refused.Evidence
		e.record(t, other)
		// ...and the key still records a new request rather than replaying or refusing.
		retry := e.input(c.ID, "travel.walk", "1")
		retry.IdempotencyKey = refused.IdempotencyKey
		if r := e.record(t, retry); r.Replayed || r.Points != 10 {
			t.Errorf("new request under a refused request's key: Replayed %v, %d points; want a new credit of 10", r.Replayed, r.Points)
		}
	})

	t.Run("an erased citizen can record nothing, their evidence stays used, and export lists everything", func(t *testing.T) {
		t.Parallel()
		e := newSvcEnv(t, open, serviceTypes, 0)
		c := e.citizen(t)
		metroIn := e.input(c.ID, "travel.metro", "1")
		var recorded []string
		recorded = append(recorded, e.record(t, metroIn).ID)
		recorded = append(recorded, e.record(t, e.input(c.ID, "travel.walk", "3")).ID)
		recorded = append(recorded, e.record(t, e.input(c.ID, "consumption.second_hand", "1")).ID)
		citizens := &domain.CitizenService{Citizens: e.store, Sessions: e.store, Actions: e.store, Now: e.clock.Now}
		export, err := citizens.Export(t.Context(), c.ID)
		mustNoErr(t, "Export", err)
		if got := idsOf(export.Actions, actionID); !slices.Equal(got, newestFirst(recorded)) {
			t.Errorf("export actions = %v, want %v", got, newestFirst(recorded))
		}
		if len(export.Ledger) != 2 || export.Citizen.Balance != 55 {
			t.Errorf("export: %d ledger entries, balance %d; want 2, 55", len(export.Ledger), export.Citizen.Balance)
		}

		mustNoErr(t, "Erase", citizens.Erase(t.Context(), c.ID))
		before := e.snapshots(t)
		_, err = e.svc.Record(t.Context(), e.input(c.ID, "travel.walk", "1"))
		wantDomainError(t, "Record by an erased citizen", err, domain.KindUnauthorized, "account_erased", "", "")
		e.wantNothingWritten(t, "Record by an erased citizen", before)
		for _, id := range recorded {
			a, err := e.store.GetAction(t.Context(), id)
			mustNoErr(t, "GetAction(erased citizen's)", err)
			if a.Evidence != (domain.Evidence{}) {
				t.Errorf("erased citizen's action %s keeps evidence %+v", id, a.Evidence)
			}
		}
		reuse := e.input(e.citizen(t).ID, "travel.metro", "1")
		reuse.Evidence = metroIn.Evidence
		_, err = e.svc.Record(t.Context(), reuse)
		wantDomainError(t, "an erased citizen's evidence", err, domain.KindConflict, "evidence_already_used", "", "")
		checks := checkConsistent(t, e.store)
		if !slices.Contains(idsOf(checks, checkID), c.ID) {
			t.Errorf("CheckBalances leaves out the erased citizen %s", c.ID)
		}
	})

	t.Run("parallel records never exceed a cap", func(t *testing.T) {
		t.Parallel()
		e := newSvcEnv(t, open, serviceTypes, 0)
		const n = 50
		c := e.citizen(t)
		e.record(t, e.input(c.ID, "travel.bus", "10"))
		e.record(t, e.input(c.ID, "travel.bus", "5")) // 5 of the 20 daily trips left
		results := make([]domain.RecordedAction, n)
		errs := race(n, func(i int) error {
			var err error
			results[i], err = e.svc.Record(t.Context(), e.input(c.ID, "travel.bus", fmt.Sprint(i%2+1)))
			return err
		})
		var trips domain.Quantity
		for i, err := range errs {
			if err != nil {
				wantDomainError(t, fmt.Sprintf("racer %d", i), err, domain.KindUnprocessable, "daily_cap_reached", "", "")
				continue
			}
			trips += results[i].CreditedQuantity
		}
		if trips != domain.Units(5) {
			t.Errorf("racers were credited %s trips, want exactly the 5 left", trips)
		}
		wantTotals(t, e.store, c.ID, 400, 4000, 400)

		// The citizen's cap over all types holds while two types race.
		svc := e.service(100)
		d := e.citizen(t)
		errs = race(n, func(i int) error {
			typ, q := "travel.metro", "1"
			if i%2 == 1 {
				typ = "travel.walk"
			}
			var err error
			results[i], err = svc.Record(t.Context(), e.input(d.ID, typ, q))
			return err
		})
		var points int64
		var metroTrips domain.Quantity
		for i, err := range errs {
			if err != nil {
				wantDomainError(t, fmt.Sprintf("racer %d", i), err, domain.KindUnprocessable, "daily_cap_reached", "", "")
				continue
			}
			points += results[i].Points
			if results[i].TypeCode == "travel.metro" {
				metroTrips += results[i].CreditedQuantity
			}
		}
		if points != 100 || metroTrips > domain.Units(4) {
			t.Errorf("racers over two types earned %d points with %s metro trips; want exactly the 100 daily points and at most 4 trips", points, metroTrips)
		}
		if got := getCitizen(t, e.store, d.ID).Balance; got != 100 {
			t.Errorf("balance = %d, want 100", got)
		}
		checkConsistent(t, e.store)
	})

	t.Run("the same evidence sent by two citizens at once is credited once", func(t *testing.T) {
		t.Parallel()
		e := newSvcEnv(t, open, serviceTypes, 0)
		a, b := e.citizen(t), e.citizen(t)
		const rounds = 5 // bus: 20 trips a day, so one citizen winning every round stays under the cap
		for round := range rounds {
			ev := &domain.Evidence{Source: "transit_card", Reference: fmt.Sprintf("ride-%d-%s", round, domain.RandomToken(8))}
			errs := race(2, func(i int) error {
				in := e.input([]string{a.ID, b.ID}[i], "travel.bus", "1")
				in.Evidence = ev
				_, err := e.svc.Record(t.Context(), in)
				return err
			})
			checkExactlyOneWinner(t, fmt.Sprintf("round %d", round), errs, domain.ErrEvidenceUsed)
			for _, err := range errs {
				if err != nil {
					wantDomainError(t, "loser", err, domain.KindConflict, "evidence_already_used", "", "")
				}
			}
		}
		if sum := getCitizen(t, e.store, a.ID).Balance + getCitizen(t, e.store, b.ID).Balance; sum != 20*rounds {
			t.Errorf("balances add up to %d, want %d", sum, 20*rounds)
		}
		checkConsistent(t, e.store)
	})

	t.Run("the same idempotency key sent 20 times at once has one effect and one answer", func(t *testing.T) {
		t.Parallel()
		e := newSvcEnv(t, open, serviceTypes, 0)
		c := e.citizen(t)
		const n, rounds = 20, 2
		for round := range rounds {
			in := e.input(c.ID, "travel.metro", "1")
			if round == 1 {
				in = e.input(c.ID, "travel.walk", "1") // no evidence: a new evidence key every attempt
			}
			results := make([]domain.RecordedAction, n)
			errs := race(n, func(i int) error {
				var err error
				results[i], err = e.svc.Record(t.Context(), in)
				return err
			})
			fresh := 0
			for i, err := range errs {
				mustNoErr(t, fmt.Sprintf("round %d, racer %d", round, i), err)
				if !results[i].Replayed {
					fresh++
				}
				if results[i].ID != results[0].ID || results[i].BalanceAfter != results[0].BalanceAfter || results[i].Points != results[0].Points {
					t.Errorf("round %d: racer %d got action %s (balance %d), racer 0 got %s (balance %d)", round, i,
						results[i].ID, results[i].BalanceAfter, results[0].ID, results[0].BalanceAfter)
				}
			}
			if fresh != 1 {
				t.Errorf("round %d: %d answers were not replays, want 1", round, fresh)
			}
		}
		wantTotals(t, e.store, c.ID, 35, 350, 35)
		if n := len(listActions(t, e.store, c.ID)); n != rounds {
			t.Errorf("%d actions stored, want %d", n, rounds)
		}
		if n := len(listLedger(t, e.store, c.ID)); n != rounds {
			t.Errorf("%d ledger entries, want %d", n, rounds)
		}
	})
}
