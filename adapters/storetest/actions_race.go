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

var errCapped = errors.New("storetest: cap reached")

// capQuantity is a decide func that credits up to limit units of the type a day,
// worth 10 points and 100 g a unit, and refuses once nothing is left.
func capQuantity(limit, requested domain.Quantity) func(domain.DayUsage) (domain.Credit, error) {
	return func(u domain.DayUsage) (domain.Credit, error) {
		left := limit - u.TypeQuantity
		if left <= 0 {
			return domain.Credit{}, errCapped
		}
		q := min(requested, left)
		return earn(q, int64(q)/10, int64(q)/100), nil
	}
}

// capTotalPoints credits one unit worth 10 points as long as the day's points over
// all types stay within limit.
func capTotalPoints(limit int64) func(domain.DayUsage) (domain.Credit, error) {
	return func(u domain.DayUsage) (domain.Credit, error) {
		if u.TotalPoints+10 > limit {
			return domain.Credit{}, errCapped
		}
		return earn(domain.Units(1), 100, 10), nil
	}
}

// checkSerialBalances asserts that the successful records of one citizen can be put
// in an order where each BalanceAfter is the previous one plus its points, starting
// from start: what they would be had they run one after another.
func checkSerialBalances(t *testing.T, what string, start int64, recorded []domain.Action) int64 {
	t.Helper()
	sorted := slices.Clone(recorded)
	slices.SortFunc(sorted, func(a, b domain.Action) int { return cmp.Compare(a.BalanceAfter, b.BalanceAfter) })
	balance := start
	for _, a := range sorted {
		balance += a.Points
		if a.BalanceAfter != balance {
			t.Errorf("%s: BalanceAfter values %v do not follow from the points %v one after another",
				what, fieldOf(sorted, func(a domain.Action) int64 { return a.BalanceAfter }), fieldOf(sorted, func(a domain.Action) int64 { return a.Points }))
			break
		}
	}
	return balance
}

func fieldOf[T, V any](items []T, f func(T) V) []V {
	out := make([]V, len(items))
	for i, it := range items {
		out[i] = f(it)
	}
	return out
}

func runActionRaces(t *testing.T, open func(t *testing.T) domain.Store) {
	t.Run("RecordAction racing for one citizen never exceeds a daily cap", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := seedAccount(t, s)
		// 50 racers for the plain cap, fewer for the variants: FerretDB in tests is slow.
		const n = 50
		limit := domain.Units(7)
		balance, stored := int64(0), 0
		rounds := []struct {
			name      string
			racers    int
			day       string
			typeOf    func(i int) string
			decide    func(i int) func(domain.DayUsage) (domain.Credit, error)
			requested func(i int) domain.Quantity
		}{
			{"one unit each", n, "2025-03-14",
				func(int) string { return "travel.metro" },
				func(int) func(domain.DayUsage) (domain.Credit, error) { return capQuantity(limit, domain.Units(1)) },
				func(int) domain.Quantity { return domain.Units(1) }},
			{"one to three units each", 25, "2025-03-15",
				func(int) string { return "travel.metro" },
				func(i int) func(domain.DayUsage) (domain.Credit, error) {
					return capQuantity(limit, domain.Units(int64(i%3+1)))
				},
				func(i int) domain.Quantity { return domain.Units(int64(i%3 + 1)) }},
			// Two types share the day's points: locking usage per type is not enough.
			{"a points cap over two types", 26, "2025-03-16",
				func(i int) string { return []string{"travel.metro", "travel.bus"}[i%2] },
				func(int) func(domain.DayUsage) (domain.Credit, error) { return capTotalPoints(70) },
				func(int) domain.Quantity { return domain.Units(1) }},
		}
		for _, round := range rounds {
			drafts := make([]domain.Action, round.racers)
			results := make([]domain.Action, round.racers)
			for i := range drafts {
				drafts[i] = newAction(c.ID, round.typeOf(i), round.day)
				drafts[i].Quantity = round.requested(i)
			}
			errs := race(round.racers, func(i int) error {
				var err error
				results[i], err = s.RecordAction(t.Context(), drafts[i], domain.NewID(time.Now()), round.decide(i))
				return err
			})
			var recorded []domain.Action
			var credited domain.Quantity
			var points int64
			for i, err := range errs {
				switch {
				case err == nil:
					recorded = append(recorded, results[i])
					credited += results[i].CreditedQuantity
					points += results[i].Points
				case !errors.Is(err, errCapped):
					t.Errorf("%s: goroutine %d: want nil or decide's error, got %v", round.name, i, err)
				}
			}
			switch round.name {
			case "one unit each":
				if len(recorded) != 7 || credited != limit {
					t.Errorf("%s: %d successes crediting %s units, want 7 crediting %s", round.name, len(recorded), credited, limit)
				}
				wantUsage(t, s, c.ID, "travel.metro", round.day, domain.DayUsage{TypeQuantity: limit, TypePoints: 70, TotalPoints: 70})
			case "one to three units each":
				if credited != limit {
					t.Errorf("%s: credited %s units in total, want exactly the cap %s", round.name, credited, limit)
				}
				wantUsage(t, s, c.ID, "travel.metro", round.day, domain.DayUsage{TypeQuantity: limit, TypePoints: 70, TotalPoints: 70})
			default:
				if len(recorded) != 7 || points != 70 {
					t.Errorf("%s: %d successes crediting %d points, want 7 crediting 70", round.name, len(recorded), points)
				}
				metro := probeUsage(t, s, c.ID, "travel.metro", round.day)
				bus := probeUsage(t, s, c.ID, "travel.bus", round.day)
				if metro.TotalPoints != 70 || bus.TotalPoints != 70 || metro.TypePoints+bus.TypePoints != 70 ||
					metro.TypeQuantity+bus.TypeQuantity != domain.Units(7) {
					t.Errorf("%s: usage metro %+v, bus %+v; want 70 points in total over both", round.name, metro, bus)
				}
			}
			balance = checkSerialBalances(t, round.name, balance, recorded)
			stored += len(recorded)
			if got := len(listActions(t, s, c.ID)); got != countAll(t, s, c.ID) {
				t.Errorf("%s: listing disagrees with itself", round.name)
			}
		}
		wantTotals(t, s, c.ID, 210, 2100, 210)
		if n := len(listActions(t, s, c.ID)); n != stored {
			t.Errorf("ListActions = %d actions, want the %d that succeeded", n, stored)
		}
		if n := len(listLedger(t, s, c.ID)); n != stored {
			t.Errorf("ListLedgerEntries = %d entries, want %d", n, stored)
		}
		checkConsistent(t, s)
	})

	t.Run("RecordAction racing with one evidence from several citizens credits it once", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		for _, n := range []int{2, 10} {
			citizens := make([]domain.Citizen, n)
			for i := range citizens {
				citizens[i] = seedAccount(t, s)
			}
			const rounds = 3
			for round := range rounds {
				evidence := fmt.Sprintf("sha256:shared-%d-%d-%s", n, round, domain.RandomToken(6))
				errs := race(n, func(i int) error {
					a := newAction(citizens[i].ID, "travel.metro", testDay)
					a.EvidenceKey = evidence
					_, err := s.RecordAction(t.Context(), a, domain.NewID(time.Now()), grant(earn(domain.Units(1), 250, 25)))
					return err
				})
				checkExactlyOneWinner(t, fmt.Sprintf("%d citizens, round %d", n, round), errs, domain.ErrEvidenceUsed)
			}
			var actions, entries int
			var points int64
			for _, c := range citizens {
				actions += len(listActions(t, s, c.ID))
				entries += len(listLedger(t, s, c.ID))
				points += getCitizen(t, s, c.ID).Balance
			}
			if actions != rounds || entries != rounds || points != 25*rounds {
				t.Errorf("%d citizens: %d actions, %d entries, %d points stored; want %d, %d, %d",
					n, actions, entries, points, rounds, rounds, 25*rounds)
			}
		}
		checkConsistent(t, s)
	})

	t.Run("RecordAction racing with one idempotency key records once", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := seedAccount(t, s)
		const n, rounds = 20, 3
		for round := range rounds {
			key := fmt.Sprintf("retry-%d-%s", round, domain.RandomToken(6))
			drafts := make([]domain.Action, n)
			for i := range drafts {
				drafts[i] = newAction(c.ID, "travel.metro", testDay)
				drafts[i].IdempotencyKey = key
				if round < 2 { // retries carry the same evidence; the last round has none
					drafts[i].Evidence = domain.Evidence{Source: "transit_card", Reference: key}
					drafts[i].EvidenceKey = "sha256:" + key
				} else {
					drafts[i].Evidence = domain.Evidence{}
					drafts[i].EvidenceKey = "none:" + drafts[i].ID
				}
			}
			dups := make([]*domain.DuplicateRequestError, n)
			errs := race(n, func(i int) error {
				_, err := s.RecordAction(t.Context(), drafts[i], domain.NewID(time.Now()), grant(earn(domain.Units(1), 250, 25)))
				errors.As(err, &dups[i])
				return err
			})
			winner := soleWinner(t, fmt.Sprintf("round %d", round), "recorded", errs, dups)
			for i, dup := range dups {
				// Existing may still be recording in stores that record in steps.
				if dup != nil && (dup.Existing.ID != drafts[winner].ID || dup.Existing.IdempotencyKey != key || dup.Existing.RequestHash != drafts[winner].RequestHash) {
					t.Errorf("round %d: goroutine %d: Existing = %s (key %q), want the winner's %s", round, i, dup.Existing.ID, dup.Existing.IdempotencyKey, drafts[winner].ID)
				}
			}
		}
		if n := len(listActions(t, s, c.ID)); n != rounds {
			t.Errorf("ListActions = %d actions, want %d", n, rounds)
		}
		if n := len(listLedger(t, s, c.ID)); n != rounds {
			t.Errorf("ListLedgerEntries = %d entries, want %d", n, rounds)
		}
		wantTotals(t, s, c.ID, 25*rounds, 250*rounds, 25*rounds)
		checkConsistent(t, s)
	})

	t.Run("RecordAction racing for several citizens keeps every balance equal to its ledger", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		const citizens, each = 3, 16
		cs := make([]domain.Citizen, citizens)
		for i := range cs {
			cs[i] = seedAccount(t, s)
		}
		results := make([]domain.Action, citizens*each)
		errs := race(citizens*each, func(i int) error {
			a := newAction(cs[i%citizens].ID, []string{"travel.metro", "travel.bus", "waste.kitchen"}[i%3], testDay)
			var err error
			results[i], err = s.RecordAction(t.Context(), a, domain.NewID(time.Now()), grant(earn(domain.Units(1), int64(100+i), int64(1+i%17))))
			return err
		})
		for i, err := range errs {
			mustNoErr(t, fmt.Sprintf("RecordAction %d", i), err)
		}
		for ci, c := range cs {
			var mine []domain.Action
			var points, co2e int64
			for i := ci; i < len(results); i += citizens {
				mine = append(mine, results[i])
				points += int64(1 + i%17)
				co2e += int64(100 + i)
			}
			checkSerialBalances(t, "citizen "+c.ID, 0, mine)
			wantTotals(t, s, c.ID, points, co2e, points)
			entries := listLedger(t, s, c.ID)
			if len(entries) != each {
				t.Errorf("citizen %s: %d ledger entries, want %d", c.ID, len(entries), each)
			}
			// Each entry carries its action's points and BalanceAfter.
			byID := map[string]domain.Action{}
			for _, a := range mine {
				byID[a.ID] = a
			}
			for _, e := range entries {
				a, ok := byID[e.CauseID]
				if !ok || e.Points != a.Points || e.BalanceAfter != a.BalanceAfter || e.ID != a.LedgerEntryID {
					t.Errorf("citizen %s: entry %+v does not match its action %+v", c.ID, e, a)
				}
			}
		}
		checks := checkConsistent(t, s)
		if len(checks) != citizens {
			t.Errorf("CheckBalances = %d checks, want %d", len(checks), citizens)
		}
	})
}

// countAll counts the citizen's actions by paging in small steps, as exports do.
func countAll(t *testing.T, s domain.Store, citizenID string) int {
	t.Helper()
	n, before := 0, ""
	for {
		page, err := s.ListActions(t.Context(), citizenID, before, 7)
		mustNoErr(t, "ListActions", err)
		n += len(page)
		if len(page) < 7 {
			return n
		}
		before = page[len(page)-1].ID
	}
}

// checkConsistent asserts that every citizen's totals equal their ledger's sums.
func checkConsistent(t *testing.T, s domain.Store) []domain.BalanceCheck {
	t.Helper()
	checks, err := s.CheckBalances(t.Context(), "", 1000)
	mustNoErr(t, "CheckBalances", err)
	for _, c := range checks {
		if !c.Consistent() {
			t.Errorf("CheckBalances: citizen %s inconsistent: %+v", c.CitizenID, c)
		}
	}
	return checks
}
