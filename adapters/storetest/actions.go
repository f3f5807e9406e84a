package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// testDay is the Shanghai day most action tests record on.
const testDay = "2025-03-14"

// seedAccount creates a citizen with zero totals, as signing in does.
func seedAccount(t *testing.T, s domain.Store) domain.Citizen {
	t.Helper()
	d := newDraft("account-" + domain.RandomToken(9))
	d.Balance, d.CO2eGramsTotal, d.PointsEarnedTotal = 0, 0, 0
	return seedCitizen(t, s, d)
}

// newAction returns the draft of an action as the service hands it to RecordAction:
// every input field set, outcome fields empty, keys unique. It happened at 10:00
// (with a sub-millisecond part) Shanghai time on day.
func newAction(citizenID, typeCode, day string) domain.Action {
	id := domain.NewID(time.Now())
	d, err := time.ParseInLocation(time.DateOnly, day, shanghai)
	if err != nil {
		panic(err)
	}
	occurred := d.Add(10*time.Hour + 123_456_789*time.Nanosecond)
	return domain.Action{
		ID:             id,
		CitizenID:      citizenID,
		TypeCode:       typeCode,
		RuleVersion:    3,
		Quantity:       domain.Units(2) + 500,
		OccurredAt:     occurred,
		RecordedAt:     occurred.Add(90 * time.Minute),
		Day:            day,
		Evidence:       domain.Evidence{Source: "transit_card", Reference: "ride-" + id},
		EvidenceKey:    "sha256:" + id,
		IdempotencyKey: "key-" + id,
		RequestHash:    "hash-" + id,
	}
}

// earn is a plain credited outcome.
func earn(q domain.Quantity, co2e, points int64) domain.Credit {
	return domain.Credit{Status: domain.ActionCredited, CreditedQuantity: q, CO2eGrams: co2e, Points: points}
}

// grant is a decide func that always returns c.
func grant(c domain.Credit) func(domain.DayUsage) (domain.Credit, error) {
	return func(domain.DayUsage) (domain.Credit, error) { return c, nil }
}

// withOutcome is a with the outcome the store must record for c.
func withOutcome(a domain.Action, c domain.Credit, entryID string, balanceAfter int64) domain.Action {
	a.Status, a.CreditedQuantity, a.CO2eGrams, a.Points = c.Status, c.CreditedQuantity, c.CO2eGrams, c.Points
	if c.Cap != nil {
		capCopy := *c.Cap
		a.Cap = &capCopy
	}
	if c.Points != 0 || c.CO2eGrams != 0 {
		a.LedgerEntryID = entryID
	}
	a.BalanceAfter = balanceAfter
	return a
}

func diffAction(want, got domain.Action) fieldDiffs {
	var d fieldDiffs
	d.eq("ID", want.ID, got.ID)
	d.eq("CitizenID", want.CitizenID, got.CitizenID)
	d.eq("TypeCode", want.TypeCode, got.TypeCode)
	d.eq("RuleVersion", want.RuleVersion, got.RuleVersion)
	d.eq("Quantity", want.Quantity, got.Quantity)
	d.time("OccurredAt", want.OccurredAt, got.OccurredAt)
	d.time("RecordedAt", want.RecordedAt, got.RecordedAt)
	d.eq("Day", want.Day, got.Day)
	d.eq("Evidence", want.Evidence, got.Evidence)
	d.eq("EvidenceKey", want.EvidenceKey, got.EvidenceKey)
	d.eq("IdempotencyKey", want.IdempotencyKey, got.IdempotencyKey)
	d.eq("RequestHash", want.RequestHash, got.RequestHash)
	d.eq("Status", want.Status, got.Status)
	d.eq("CreditedQuantity", want.CreditedQuantity, got.CreditedQuantity)
	d.eq("CO2eGrams", want.CO2eGrams, got.CO2eGrams)
	d.eq("Points", want.Points, got.Points)
	d.eq("Cap", fmtCap(want.Cap), fmtCap(got.Cap))
	d.eq("LedgerEntryID", want.LedgerEntryID, got.LedgerEntryID)
	d.eq("BalanceAfter", want.BalanceAfter, got.BalanceAfter)
	return d
}

func fmtCap(c *domain.CapOutcome) string {
	if c == nil {
		return "<nil>"
	}
	return fmt.Sprintf("%+v", *c)
}

func diffEntry(want, got domain.LedgerEntry) fieldDiffs {
	var d fieldDiffs
	d.eq("ID", want.ID, got.ID)
	d.eq("CitizenID", want.CitizenID, got.CitizenID)
	d.eq("Kind", want.Kind, got.Kind)
	d.eq("Points", want.Points, got.Points)
	d.eq("CO2eGrams", want.CO2eGrams, got.CO2eGrams)
	d.eq("BalanceAfter", want.BalanceAfter, got.BalanceAfter)
	d.eq("CauseType", want.CauseType, got.CauseType)
	d.eq("CauseID", want.CauseID, got.CauseID)
	d.time("CreatedAt", want.CreatedAt, got.CreatedAt)
	return d
}

// earnEntry is the ledger entry recording stored action a must append.
func earnEntry(a domain.Action) domain.LedgerEntry {
	return domain.LedgerEntry{
		ID: a.LedgerEntryID, CitizenID: a.CitizenID, Kind: domain.LedgerEarn,
		Points: a.Points, CO2eGrams: a.CO2eGrams, BalanceAfter: a.BalanceAfter,
		CauseType: "action", CauseID: a.ID, CreatedAt: a.RecordedAt,
	}
}

// record stores a with credit c and returns the stored action.
func record(t *testing.T, s domain.Store, a domain.Action, c domain.Credit) domain.Action {
	t.Helper()
	got, err := s.RecordAction(t.Context(), a, domain.NewID(time.Now()), grant(c))
	mustNoErr(t, "RecordAction", err)
	return got
}

var errProbe = errors.New("storetest: probe declines to record")

// probeUsage returns the usage RecordAction hands decide for an action of the type
// on day, recording nothing.
func probeUsage(t *testing.T, s domain.Store, citizenID, typeCode, day string) domain.DayUsage {
	t.Helper()
	var seen domain.DayUsage
	_, err := s.RecordAction(t.Context(), newAction(citizenID, typeCode, day), domain.NewID(time.Now()),
		func(u domain.DayUsage) (domain.Credit, error) { seen = u; return domain.Credit{}, errProbe })
	if !errors.Is(err, errProbe) {
		t.Fatalf("RecordAction with a declining decide: want decide's error back, got %v", err)
	}
	return seen
}

func wantUsage(t *testing.T, s domain.Store, citizenID, typeCode, day string, want domain.DayUsage) {
	t.Helper()
	if got := probeUsage(t, s, citizenID, typeCode, day); got != want {
		t.Errorf("usage of %s on %s: decide saw %+v, want %+v", typeCode, day, got, want)
	}
}

func listActions(t *testing.T, s domain.Store, citizenID string) []domain.Action {
	t.Helper()
	as, err := s.ListActions(t.Context(), citizenID, "", 1000)
	mustNoErr(t, "ListActions", err)
	return as
}

func listLedger(t *testing.T, s domain.Store, citizenID string) []domain.LedgerEntry {
	t.Helper()
	es, err := s.ListLedgerEntries(t.Context(), citizenID, "", 1000)
	mustNoErr(t, "ListLedgerEntries", err)
	return es
}

func getCitizen(t *testing.T, s domain.Store, id string) domain.Citizen {
	t.Helper()
	c, err := s.GetCitizen(t.Context(), id)
	mustNoErr(t, "GetCitizen", err)
	return c
}

// account is what an operation that must write nothing may not change.
type account struct {
	Balance, CO2eGramsTotal, PointsEarnedTotal int64
	Actions, Ledger                            string
}

func snapshot(t *testing.T, s domain.Store, citizenID string) account {
	t.Helper()
	c := getCitizen(t, s, citizenID)
	acc := account{Balance: c.Balance, CO2eGramsTotal: c.CO2eGramsTotal, PointsEarnedTotal: c.PointsEarnedTotal}
	for _, a := range listActions(t, s, citizenID) {
		acc.Actions += fmt.Sprintf("%s:%s:%d:%s ", a.ID, a.Status, a.Points, a.Evidence.Reference)
	}
	for _, e := range listLedger(t, s, citizenID) {
		acc.Ledger += fmt.Sprintf("%s:%d ", e.ID, e.Points)
	}
	return acc
}

func wantUnchanged(t *testing.T, s domain.Store, what, citizenID string, before account) {
	t.Helper()
	if after := snapshot(t, s, citizenID); after != before {
		t.Errorf("%s changed citizen %s:\n before %+v\n after  %+v", what, citizenID, before, after)
	}
}

func wantTotals(t *testing.T, s domain.Store, citizenID string, balance, co2e, earned int64) {
	t.Helper()
	c := getCitizen(t, s, citizenID)
	if c.Balance != balance || c.CO2eGramsTotal != co2e || c.PointsEarnedTotal != earned {
		t.Errorf("citizen %s totals (balance, co2e, earned) = (%d, %d, %d), want (%d, %d, %d)",
			citizenID, c.Balance, c.CO2eGramsTotal, c.PointsEarnedTotal, balance, co2e, earned)
	}
}

func idsOf[T any](items []T, id func(T) string) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = id(it)
	}
	return out
}

func actionID(a domain.Action) string      { return a.ID }
func entryID(e domain.LedgerEntry) string  { return e.ID }
func checkID(c domain.BalanceCheck) string { return c.CitizenID }

// newestFirst sorts ids the way listings return them.
func newestFirst(ids []string) []string {
	out := slices.Clone(ids)
	slices.SortFunc(out, func(a, b string) int { return cmp.Compare(b, a) })
	return out
}

// checkPaging walks a newest-first listing page by page and compares it with want.
func checkPaging(t *testing.T, what string, want []string, page func(before string, limit int) []string) {
	t.Helper()
	if got := page("", len(want)+5); !slices.Equal(got, want) {
		t.Errorf("%s: all = %v, want %v", what, got, want)
	}
	for _, limit := range []int{1, 2, 3} {
		var got []string
		before := ""
		for range len(want) + 2 {
			p := page(before, limit)
			if len(p) > limit {
				t.Errorf("%s: limit %d returned %d items", what, limit, len(p))
			}
			got = append(got, p...)
			if len(p) < limit {
				break
			}
			before = p[len(p)-1]
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: pages of %d = %v, want %v", what, limit, got, want)
		}
	}
	for i, id := range want {
		if got := page(id, 100); !slices.Equal(got, want[i+1:]) {
			t.Errorf("%s: before %s = %v, want %v", what, id, got, want[i+1:])
		}
	}
}

func runActions(t *testing.T, open func(t *testing.T) domain.Store) {
	t.Run("RecordAction stores the action with its credit and ledger entry and moves the totals", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := seedAccount(t, s)
		a := newAction(c.ID, "travel.metro", testDay)
		credit := earn(domain.Units(2), 625, 62)
		credit.Cap = &domain.CapOutcome{Limit: domain.CapTypeDailyQuantity, RequestedQuantity: a.Quantity, CreditedQuantity: domain.Units(2), PointsWithheld: 15}
		entry := domain.NewID(time.Now())
		got, err := s.RecordAction(t.Context(), a, entry, grant(credit))
		mustNoErr(t, "RecordAction", err)
		want := withOutcome(a, credit, entry, 62)
		diffAction(want, got).report(t, "returned action")
		stored, err := s.GetAction(t.Context(), a.ID)
		mustNoErr(t, "GetAction", err)
		diffAction(want, stored).report(t, "GetAction")
		byKey, err := s.FindActionByIdempotencyKey(t.Context(), c.ID, a.IdempotencyKey)
		mustNoErr(t, "FindActionByIdempotencyKey", err)
		diffAction(want, byKey).report(t, "FindActionByIdempotencyKey")
		if list := listActions(t, s, c.ID); len(list) != 1 {
			t.Errorf("ListActions = %d actions, want 1", len(list))
		} else {
			diffAction(want, list[0]).report(t, "ListActions[0]")
		}
		entries := listLedger(t, s, c.ID)
		if len(entries) != 1 {
			t.Fatalf("ListLedgerEntries = %d entries, want 1", len(entries))
		}
		diffEntry(earnEntry(want), entries[0]).report(t, "ledger entry")
		wantTotals(t, s, c.ID, 62, 625, 62)
		profile := getCitizen(t, s, c.ID)
		profile.Balance, profile.CO2eGramsTotal, profile.PointsEarnedTotal = c.Balance, c.CO2eGramsTotal, c.PointsEarnedTotal
		profile.Version = c.Version
		diffCitizen(c, profile).report(t, "citizen profile after RecordAction (only totals may change)")

		// A second credit adds to the totals; its entry and BalanceAfter show the new balance.
		b := newAction(c.ID, "travel.bus", testDay)
		b.Evidence = domain.Evidence{} // types without evidence have a key of their own
		b.EvidenceKey = "none:" + b.ID
		entry2 := domain.NewID(time.Now())
		got2, err := s.RecordAction(t.Context(), b, entry2, grant(earn(domain.Units(1), 1200, 30)))
		mustNoErr(t, "RecordAction(second)", err)
		want2 := withOutcome(b, earn(domain.Units(1), 1200, 30), entry2, 92)
		diffAction(want2, got2).report(t, "second returned action")
		stored2, err := s.GetAction(t.Context(), b.ID)
		mustNoErr(t, "GetAction(second)", err)
		diffAction(want2, stored2).report(t, "second GetAction")
		entries = listLedger(t, s, c.ID)
		if len(entries) != 2 {
			t.Fatalf("ListLedgerEntries = %d entries, want 2", len(entries))
		}
		for _, e := range entries {
			if e.ID == entry2 {
				diffEntry(earnEntry(want2), e).report(t, "second ledger entry")
			}
		}
		wantTotals(t, s, c.ID, 92, 1825, 92)
	})

	t.Run("RecordAction writes no ledger entry for a credit that moves nothing, and one for CO2e without points", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := seedAccount(t, s)
		record(t, s, newAction(c.ID, "travel.metro", testDay), earn(domain.Units(1), 250, 25))

		pending := newAction(c.ID, "consumption.second_hand", testDay)
		got, err := s.RecordAction(t.Context(), pending, domain.NewID(time.Now()), grant(domain.Credit{Status: domain.ActionPendingReview}))
		mustNoErr(t, "RecordAction(pending_review)", err)
		want := withOutcome(pending, domain.Credit{Status: domain.ActionPendingReview}, "", 25)
		diffAction(want, got).report(t, "pending action")
		stored, err := s.GetAction(t.Context(), pending.ID)
		mustNoErr(t, "GetAction(pending)", err)
		diffAction(want, stored).report(t, "GetAction(pending)")
		if n := len(listLedger(t, s, c.ID)); n != 1 {
			t.Errorf("ledger has %d entries after a zero credit, want 1", n)
		}
		wantTotals(t, s, c.ID, 25, 250, 25)

		// Points capped to zero while the carbon still counts: an entry of 0 points.
		co2eOnly := domain.Credit{Status: domain.ActionCredited, CreditedQuantity: domain.Units(2), CO2eGrams: 500,
			Cap: &domain.CapOutcome{Limit: domain.CapDailyPoints, RequestedQuantity: domain.Units(2), CreditedQuantity: domain.Units(2), PointsWithheld: 50}}
		a := newAction(c.ID, "travel.metro", testDay)
		entry := domain.NewID(time.Now())
		got, err = s.RecordAction(t.Context(), a, entry, grant(co2eOnly))
		mustNoErr(t, "RecordAction(CO2e only)", err)
		want = withOutcome(a, co2eOnly, entry, 25)
		diffAction(want, got).report(t, "CO2e-only action")
		var found bool
		for _, e := range listLedger(t, s, c.ID) {
			if e.ID == entry {
				found = true
				diffEntry(earnEntry(want), e).report(t, "CO2e-only entry")
			}
		}
		if !found {
			t.Errorf("no ledger entry %s for a credit of 0 points and 500 g CO2e", entry)
		}
		wantTotals(t, s, c.ID, 25, 750, 25)
	})

	t.Run("RecordAction hands decide the day's usage per type and in total", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := seedAccount(t, s)
		other := seedAccount(t, s)
		const nextDay = "2025-03-15"
		wantUsage(t, s, c.ID, "travel.metro", testDay, domain.DayUsage{})

		var seen []domain.DayUsage
		rec := func(typ, day string, credit domain.Credit) {
			t.Helper()
			a := newAction(c.ID, typ, day)
			_, err := s.RecordAction(t.Context(), a, domain.NewID(time.Now()), func(u domain.DayUsage) (domain.Credit, error) {
				seen = append(seen, u)
				return credit, nil
			})
			mustNoErr(t, "RecordAction "+typ+" "+day, err)
		}
		lastSeen := func() domain.DayUsage { return seen[len(seen)-1] }

		rec("travel.metro", testDay, earn(domain.Units(2), 500, 50))
		if got := lastSeen(); got != (domain.DayUsage{}) {
			t.Errorf("first action of the day: decide saw %+v, want zero usage", got)
		}
		rec("travel.metro", testDay, earn(domain.Units(1)+500, 375, 37))
		if got, want := lastSeen(), (domain.DayUsage{TypeQuantity: domain.Units(2), TypePoints: 50, TotalPoints: 50}); got != want {
			t.Errorf("second metro action: decide saw %+v, want %+v", got, want)
		}
		wantUsage(t, s, c.ID, "travel.metro", testDay, domain.DayUsage{TypeQuantity: domain.Units(3) + 500, TypePoints: 87, TotalPoints: 87})

		// Another type has its own quantity and points but shares the day's total.
		wantUsage(t, s, c.ID, "travel.bus", testDay, domain.DayUsage{TotalPoints: 87})
		rec("travel.bus", testDay, earn(domain.Units(4), 800, 20))
		wantUsage(t, s, c.ID, "travel.bus", testDay, domain.DayUsage{TypeQuantity: domain.Units(4), TypePoints: 20, TotalPoints: 107})
		wantUsage(t, s, c.ID, "travel.metro", testDay, domain.DayUsage{TypeQuantity: domain.Units(3) + 500, TypePoints: 87, TotalPoints: 107})

		// Another day, and another citizen, start at zero.
		wantUsage(t, s, c.ID, "travel.metro", nextDay, domain.DayUsage{})
		wantUsage(t, s, other.ID, "travel.metro", testDay, domain.DayUsage{})
		rec("travel.metro", nextDay, earn(domain.Units(1), 250, 25))
		wantUsage(t, s, c.ID, "travel.metro", nextDay, domain.DayUsage{TypeQuantity: domain.Units(1), TypePoints: 25, TotalPoints: 25})
		wantUsage(t, s, c.ID, "travel.metro", testDay, domain.DayUsage{TypeQuantity: domain.Units(3) + 500, TypePoints: 87, TotalPoints: 107})

		// Usage counts what was credited, not what was asked for; zero credits add nothing.
		capped := earn(domain.Units(1), 250, 10)
		capped.Cap = &domain.CapOutcome{Limit: domain.CapTypeDailyQuantity, RequestedQuantity: domain.Units(5), CreditedQuantity: domain.Units(1), PointsWithheld: 15}
		a := newAction(c.ID, "travel.metro", "2025-03-16")
		a.Quantity = domain.Units(5)
		record(t, s, a, capped)
		record(t, s, newAction(c.ID, "travel.metro", "2025-03-16"), domain.Credit{Status: domain.ActionPendingReview})
		wantUsage(t, s, c.ID, "travel.metro", "2025-03-16", domain.DayUsage{TypeQuantity: domain.Units(1), TypePoints: 10, TotalPoints: 10})
		wantTotals(t, s, c.ID, 50+37+20+25+10, 500+375+800+250+250, 50+37+20+25+10)
	})

	t.Run("RecordAction writes nothing when decide returns an error", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := seedAccount(t, s)
		record(t, s, newAction(c.ID, "travel.metro", testDay), earn(domain.Units(1), 250, 25))
		usage := probeUsage(t, s, c.ID, "travel.metro", testDay)
		before := snapshot(t, s, c.ID)

		refused := newAction(c.ID, "travel.metro", testDay)
		boom := domain.Errorf(domain.KindUnprocessable, "daily_cap_reached", "no")
		_, err := s.RecordAction(t.Context(), refused, domain.NewID(time.Now()), func(domain.DayUsage) (domain.Credit, error) {
			return earn(domain.Units(1), 250, 25), boom // a credit next to an error counts for nothing
		})
		if !errors.Is(err, boom) {
			t.Fatalf("RecordAction: want decide's error %v, got %v", boom, err)
		}
		wantUnchanged(t, s, "a refused RecordAction", c.ID, before)
		if got := probeUsage(t, s, c.ID, "travel.metro", testDay); got != usage {
			t.Errorf("usage after a refused action = %+v, want unchanged %+v", got, usage)
		}
		_, err = s.GetAction(t.Context(), refused.ID)
		wantErr(t, "GetAction(refused)", err, domain.ErrNotFound)
		_, err = s.FindActionByIdempotencyKey(t.Context(), c.ID, refused.IdempotencyKey)
		wantErr(t, "FindActionByIdempotencyKey(refused)", err, domain.ErrNotFound)

		// Neither the idempotency key nor the evidence was taken: a retry records.
		retry := newAction(c.ID, "travel.metro", testDay)
		retry.IdempotencyKey, retry.EvidenceKey, retry.Evidence = refused.IdempotencyKey, refused.EvidenceKey, refused.Evidence
		got := record(t, s, retry, earn(domain.Units(1), 250, 25))
		if got.BalanceAfter != 50 {
			t.Errorf("retry BalanceAfter = %d, want 50", got.BalanceAfter)
		}
	})

	t.Run("RecordAction refuses a reused idempotency key with DuplicateRequestError, per citizen", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := seedAccount(t, s)
		other := seedAccount(t, s)
		first := record(t, s, newAction(c.ID, "travel.metro", testDay), earn(domain.Units(2), 500, 50))
		before := snapshot(t, s, c.ID)

		check := func(what string, a domain.Action) {
			t.Helper()
			called := false
			_, err := s.RecordAction(t.Context(), a, domain.NewID(time.Now()), func(domain.DayUsage) (domain.Credit, error) {
				called = true
				return earn(domain.Units(9), 9, 9), nil
			})
			var dup *domain.DuplicateRequestError
			if !errors.As(err, &dup) {
				t.Fatalf("%s: want *DuplicateRequestError, got %v", what, err)
			}
			diffAction(first, dup.Existing).report(t, what+": Existing")
			if called {
				t.Logf("%s: decide was called for a duplicate request (allowed, but nothing may be written)", what)
			}
			wantUnchanged(t, s, what, c.ID, before)
			_, err = s.GetAction(t.Context(), a.ID)
			wantErr(t, what+": GetAction(duplicate)", err, domain.ErrNotFound)
		}
		// A different request reusing the key.
		reuse := newAction(c.ID, "travel.bus", "2025-03-15")
		reuse.IdempotencyKey = first.IdempotencyKey
		check("different request, same key", reuse)
		// A retry of the same request: same key and same evidence. The key decides, so
		// the service can replay the first outcome instead of reporting used evidence.
		retry := newAction(c.ID, "travel.metro", testDay)
		retry.IdempotencyKey, retry.Evidence, retry.EvidenceKey, retry.RequestHash = first.IdempotencyKey, first.Evidence, first.EvidenceKey, first.RequestHash
		check("retry with the same evidence", retry)

		// The evidence of the refused different request was not taken.
		free := newAction(other.ID, "travel.bus", testDay)
		free.EvidenceKey = reuse.EvidenceKey
		record(t, s, free, earn(domain.Units(1), 1, 1))

		// Keys are scoped to the citizen.
		theirs := newAction(other.ID, "travel.metro", testDay)
		theirs.IdempotencyKey = first.IdempotencyKey
		got := record(t, s, theirs, earn(domain.Units(1), 250, 25))
		if got.BalanceAfter != 26 {
			t.Errorf("other citizen's BalanceAfter = %d, want 26", got.BalanceAfter)
		}
		byKey, err := s.FindActionByIdempotencyKey(t.Context(), other.ID, first.IdempotencyKey)
		mustNoErr(t, "FindActionByIdempotencyKey(other citizen)", err)
		if byKey.ID != theirs.ID {
			t.Errorf("FindActionByIdempotencyKey(other, key) = %s, want the other citizen's %s", byKey.ID, theirs.ID)
		}
		byKey, err = s.FindActionByIdempotencyKey(t.Context(), c.ID, first.IdempotencyKey)
		mustNoErr(t, "FindActionByIdempotencyKey(first citizen)", err)
		if byKey.ID != first.ID {
			t.Errorf("FindActionByIdempotencyKey(c, key) = %s, want %s", byKey.ID, first.ID)
		}
	})

	t.Run("RecordAction refuses used evidence with ErrEvidenceUsed, across citizens", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := seedAccount(t, s)
		other := seedAccount(t, s)
		first := record(t, s, newAction(c.ID, "travel.metro", testDay), earn(domain.Units(1), 250, 25))
		pending := record(t, s, newAction(c.ID, "consumption.second_hand", testDay), domain.Credit{Status: domain.ActionPendingReview})
		beforeC, beforeOther := snapshot(t, s, c.ID), snapshot(t, s, other.ID)

		for _, tc := range []struct {
			what    string
			citizen string
			key     string
		}{
			{"same citizen, credited evidence", c.ID, first.EvidenceKey},
			{"other citizen, credited evidence", other.ID, first.EvidenceKey},
			{"other citizen, evidence of an action pending review", other.ID, pending.EvidenceKey},
		} {
			a := newAction(tc.citizen, "travel.metro", "2025-03-20")
			a.EvidenceKey = tc.key
			_, err := s.RecordAction(t.Context(), a, domain.NewID(time.Now()), grant(earn(domain.Units(1), 250, 25)))
			wantErr(t, tc.what, err, domain.ErrEvidenceUsed)
			_, err = s.GetAction(t.Context(), a.ID)
			wantErr(t, tc.what+": GetAction", err, domain.ErrNotFound)
			// The refused request did not take its idempotency key either.
			_, err = s.FindActionByIdempotencyKey(t.Context(), tc.citizen, a.IdempotencyKey)
			wantErr(t, tc.what+": FindActionByIdempotencyKey", err, domain.ErrNotFound)
		}
		wantUnchanged(t, s, "refused evidence", c.ID, beforeC)
		wantUnchanged(t, s, "refused evidence", other.ID, beforeOther)
		wantUsage(t, s, other.ID, "travel.metro", "2025-03-20", domain.DayUsage{})
	})

	t.Run("RecordAction returns ErrNotFound for an unknown or erased citizen and writes nothing", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := seedAccount(t, s)
		gone := seedAccount(t, s)
		record(t, s, newAction(gone.ID, "travel.metro", testDay), earn(domain.Units(1), 250, 25))
		gone = getCitizen(t, s, gone.ID)
		_, err := s.SaveCitizenProfile(t.Context(), erase(gone, at(time.Hour)))
		mustNoErr(t, "SaveCitizenProfile(erase)", err)
		before := snapshot(t, s, gone.ID)

		ghost := newAction(domain.NewID(time.Now()), "travel.metro", testDay)
		_, err = s.RecordAction(t.Context(), ghost, domain.NewID(time.Now()), grant(earn(domain.Units(1), 250, 25)))
		wantErr(t, "RecordAction(unknown citizen)", err, domain.ErrNotFound)
		erased := newAction(gone.ID, "travel.metro", testDay)
		_, err = s.RecordAction(t.Context(), erased, domain.NewID(time.Now()), grant(earn(domain.Units(1), 250, 25)))
		wantErr(t, "RecordAction(erased citizen)", err, domain.ErrNotFound)
		wantUnchanged(t, s, "RecordAction(erased citizen)", gone.ID, before)
		if n := len(listActions(t, s, ghost.CitizenID)); n != 0 {
			t.Errorf("ListActions(unknown citizen) = %d actions, want 0", n)
		}

		for _, a := range []domain.Action{ghost, erased} {
			_, err = s.GetAction(t.Context(), a.ID)
			wantErr(t, "GetAction(refused)", err, domain.ErrNotFound)
			_, err = s.FindActionByIdempotencyKey(t.Context(), a.CitizenID, a.IdempotencyKey)
			wantErr(t, "FindActionByIdempotencyKey(refused)", err, domain.ErrNotFound)
			// The evidence stays free for a real citizen.
			reuse := newAction(c.ID, "travel.metro", testDay)
			reuse.EvidenceKey = a.EvidenceKey
			record(t, s, reuse, earn(domain.Units(1), 250, 25))
		}
		wantTotals(t, s, c.ID, 50, 500, 50)
	})

	t.Run("GetAction and FindActionByIdempotencyKey return ErrNotFound for unknown keys", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := seedAccount(t, s)
		a := record(t, s, newAction(c.ID, "travel.metro", testDay), earn(domain.Units(1), 250, 25))
		_, err := s.GetAction(t.Context(), domain.NewID(time.Now()))
		wantErr(t, "GetAction(unknown)", err, domain.ErrNotFound)
		_, err = s.GetAction(t.Context(), a.LedgerEntryID)
		wantErr(t, "GetAction(a ledger entry id)", err, domain.ErrNotFound)
		_, err = s.FindActionByIdempotencyKey(t.Context(), c.ID, "never-sent")
		wantErr(t, "FindActionByIdempotencyKey(unknown key)", err, domain.ErrNotFound)
		_, err = s.FindActionByIdempotencyKey(t.Context(), domain.NewID(time.Now()), a.IdempotencyKey)
		wantErr(t, "FindActionByIdempotencyKey(another citizen)", err, domain.ErrNotFound)
	})

	t.Run("ListActions and ListLedgerEntries page newest first through one citizen's items", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := seedAccount(t, s)
		other := seedAccount(t, s)
		empty := seedAccount(t, s)
		var actions, entries []string
		for i := range 6 {
			credit := earn(domain.Units(1), int64(100+i), int64(10+i))
			if i == 2 {
				credit = domain.Credit{Status: domain.ActionPendingReview} // listed, without a ledger entry
			}
			a := record(t, s, newAction(c.ID, "travel.metro", testDay), credit)
			actions = append(actions, a.ID)
			if a.LedgerEntryID != "" {
				entries = append(entries, a.LedgerEntryID)
			}
			record(t, s, newAction(other.ID, "travel.metro", testDay), earn(domain.Units(1), 1, 1))
		}
		// A refused action is not listed.
		_ = probeUsage(t, s, c.ID, "travel.metro", testDay)

		wantActions, wantEntries := newestFirst(actions), newestFirst(entries)
		checkPaging(t, "ListActions", wantActions, func(before string, limit int) []string {
			got, err := s.ListActions(t.Context(), c.ID, before, limit)
			mustNoErr(t, "ListActions", err)
			for _, a := range got {
				if a.CitizenID != c.ID {
					t.Errorf("ListActions(%s) returned %s's action %s", c.ID, a.CitizenID, a.ID)
				}
			}
			return idsOf(got, actionID)
		})
		checkPaging(t, "ListLedgerEntries", wantEntries, func(before string, limit int) []string {
			got, err := s.ListLedgerEntries(t.Context(), c.ID, before, limit)
			mustNoErr(t, "ListLedgerEntries", err)
			for _, e := range got {
				if e.CitizenID != c.ID {
					t.Errorf("ListLedgerEntries(%s) returned %s's entry %s", c.ID, e.CitizenID, e.ID)
				}
			}
			return idsOf(got, entryID)
		})
		// Every listed item is complete.
		for _, a := range listActions(t, s, c.ID) {
			stored, err := s.GetAction(t.Context(), a.ID)
			mustNoErr(t, "GetAction", err)
			diffAction(stored, a).report(t, "ListActions item "+a.ID)
		}
		if n := len(listActions(t, s, empty.ID)); n != 0 {
			t.Errorf("ListActions(citizen without actions) = %d, want 0", n)
		}
		if n := len(listLedger(t, s, empty.ID)); n != 0 {
			t.Errorf("ListLedgerEntries(citizen without entries) = %d, want 0", n)
		}
	})

	t.Run("AnonymiseActions removes evidence references but keeps the evidence used", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := seedAccount(t, s)
		other := seedAccount(t, s)
		mine := []domain.Action{
			record(t, s, newAction(c.ID, "travel.metro", testDay), earn(domain.Units(1), 250, 25)),
			record(t, s, newAction(c.ID, "consumption.second_hand", testDay), domain.Credit{Status: domain.ActionPendingReview}),
		}
		theirs := record(t, s, newAction(other.ID, "travel.metro", testDay), earn(domain.Units(1), 250, 25))

		mustNoErr(t, "AnonymiseActions", s.AnonymiseActions(t.Context(), c.ID))
		mustNoErr(t, "AnonymiseActions(again)", s.AnonymiseActions(t.Context(), c.ID))
		mustNoErr(t, "AnonymiseActions(citizen without actions)", s.AnonymiseActions(t.Context(), seedAccount(t, s).ID))
		for _, a := range mine {
			want := a
			want.Evidence = domain.Evidence{}
			got, err := s.GetAction(t.Context(), a.ID)
			mustNoErr(t, "GetAction", err)
			diffAction(want, got).report(t, "GetAction after anonymising")
			got, err = s.FindActionByIdempotencyKey(t.Context(), c.ID, a.IdempotencyKey)
			mustNoErr(t, "FindActionByIdempotencyKey", err)
			diffAction(want, got).report(t, "FindActionByIdempotencyKey after anonymising")

			reuse := newAction(other.ID, "travel.metro", "2025-03-20")
			reuse.EvidenceKey = a.EvidenceKey
			_, err = s.RecordAction(t.Context(), reuse, domain.NewID(time.Now()), grant(earn(domain.Units(1), 250, 25)))
			wantErr(t, "RecordAction(anonymised evidence)", err, domain.ErrEvidenceUsed)
		}
		for _, a := range listActions(t, s, c.ID) {
			if a.Evidence != (domain.Evidence{}) {
				t.Errorf("ListActions after anonymising: action %s still has evidence %+v", a.ID, a.Evidence)
			}
		}
		got, err := s.GetAction(t.Context(), theirs.ID)
		mustNoErr(t, "GetAction(other citizen)", err)
		diffAction(theirs, got).report(t, "other citizen's action after anonymising c")
		wantTotals(t, s, c.ID, 25, 250, 25)
	})

	t.Run("CheckBalances reports kept totals next to ledger sums, paged by citizen id", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		citizens := make([]domain.Citizen, 5)
		for i := range citizens {
			citizens[i] = seedAccount(t, s)
		}
		slices.SortFunc(citizens, func(a, b domain.Citizen) int { return cmp.Compare(a.ID, b.ID) })
		want := make([]domain.BalanceCheck, len(citizens))
		credit := func(i int, c domain.Credit) {
			record(t, s, newAction(citizens[i].ID, "travel.metro", testDay), c)
			w := &want[i]
			w.Balance += c.Points
			w.LedgerPoints += c.Points
			w.CO2eGramsTotal += c.CO2eGrams
			w.LedgerCO2eGrams += c.CO2eGrams
			w.PointsEarnedTotal += c.Points
			w.LedgerEarned += c.Points
		}
		credit(0, earn(domain.Units(1), 250, 25))
		credit(0, earn(domain.Units(3), 900, 90))
		credit(2, domain.Credit{Status: domain.ActionCredited, CreditedQuantity: domain.Units(1), CO2eGrams: 300})
		credit(3, domain.Credit{Status: domain.ActionPendingReview})
		credit(4, earn(domain.Units(2), 40, 4))
		erased := getCitizen(t, s, citizens[4].ID)
		_, err := s.SaveCitizenProfile(t.Context(), erase(erased, at(time.Hour))) // erased citizens are still checked
		mustNoErr(t, "SaveCitizenProfile(erase)", err)
		for i := range want {
			want[i].CitizenID = citizens[i].ID
		}

		checks, err := s.CheckBalances(t.Context(), "", 100)
		mustNoErr(t, "CheckBalances", err)
		if len(checks) != len(want) {
			t.Fatalf("CheckBalances = %d checks %v, want %d", len(checks), idsOf(checks, checkID), len(want))
		}
		for i := range want {
			if checks[i] != want[i] {
				t.Errorf("CheckBalances[%d] = %+v, want %+v", i, checks[i], want[i])
			}
			if !checks[i].Consistent() {
				t.Errorf("CheckBalances[%d] not consistent: %+v", i, checks[i])
			}
		}
		var paged []string
		after := ""
		for range len(want) + 1 {
			page, err := s.CheckBalances(t.Context(), after, 2)
			mustNoErr(t, "CheckBalances(page)", err)
			if len(page) > 2 {
				t.Fatalf("CheckBalances(limit 2) returned %d", len(page))
			}
			paged = append(paged, idsOf(page, checkID)...)
			if len(page) < 2 {
				break
			}
			after = page[len(page)-1].CitizenID
		}
		if wantIDs := idsOf(want, checkID); !slices.Equal(paged, wantIDs) {
			t.Errorf("CheckBalances pages = %v, want %v", paged, wantIDs)
		}
		page, err := s.CheckBalances(t.Context(), citizens[len(citizens)-1].ID, 10)
		mustNoErr(t, "CheckBalances(after the last)", err)
		if len(page) != 0 {
			t.Errorf("CheckBalances after the last citizen = %v, want none", idsOf(page, checkID))
		}
	})

	t.Run("CompleteInterruptedActions finds nothing to do on a healthy store", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		completed, removed, err := s.CompleteInterruptedActions(t.Context(), time.Now().Add(time.Hour))
		mustNoErr(t, "CompleteInterruptedActions(empty store)", err)
		if completed != 0 || removed != 0 {
			t.Errorf("CompleteInterruptedActions(empty store) = (%d, %d), want (0, 0)", completed, removed)
		}
		c := seedAccount(t, s)
		record(t, s, newAction(c.ID, "travel.metro", testDay), earn(domain.Units(1), 250, 25))
		record(t, s, newAction(c.ID, "consumption.second_hand", testDay), domain.Credit{Status: domain.ActionPendingReview})
		probeUsage(t, s, c.ID, "travel.metro", testDay) // a refused one
		dup := newAction(c.ID, "travel.metro", testDay)
		dup.EvidenceKey = listActions(t, s, c.ID)[0].EvidenceKey
		_, err = s.RecordAction(t.Context(), dup, domain.NewID(time.Now()), grant(earn(1, 1, 1)))
		wantErr(t, "RecordAction(used evidence)", err, domain.ErrEvidenceUsed)
		before := snapshot(t, s, c.ID)
		for _, cutoff := range []time.Time{time.Now().Add(time.Hour), time.Now().Add(365 * 24 * time.Hour)} {
			completed, removed, err = s.CompleteInterruptedActions(t.Context(), cutoff)
			mustNoErr(t, "CompleteInterruptedActions", err)
			if completed != 0 || removed != 0 {
				t.Errorf("CompleteInterruptedActions(%s) = (%d, %d), want (0, 0)", cutoff.Format(time.RFC3339), completed, removed)
			}
		}
		wantUnchanged(t, s, "CompleteInterruptedActions", c.ID, before)
		checks, err := s.CheckBalances(t.Context(), "", 10)
		mustNoErr(t, "CheckBalances", err)
		for _, ch := range checks {
			if !ch.Consistent() {
				t.Errorf("inconsistent after CompleteInterruptedActions: %+v", ch)
			}
		}
	})
}
