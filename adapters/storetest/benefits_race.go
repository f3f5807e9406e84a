package storetest

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// The claim races run domain.BenefitService.Claim with a fixed clock, so every
// racer sees the same instant and only the store decides who wins.

// raceClaims sends one claim per racer, citizenOf(i) claiming b with keyOf(i).
func (e *claimEnv) raceClaims(t *testing.T, n int, b domain.Benefit, citizenOf func(i int) string, keyOf func(i int) string) ([]domain.Voucher, []bool, []error) {
	t.Helper()
	vouchers, replayed := make([]domain.Voucher, n), make([]bool, n)
	errs := race(n, func(i int) error {
		var err error
		vouchers[i], replayed[i], err = e.svc.Claim(t.Context(), citizenOf(i), b.ID, keyOf(i))
		return err
	})
	return vouchers, replayed, errs
}

func freshKey(int) string { return claimKey() }

// checkSerialClaims asserts that one citizen's racing claims left balances as if
// they had run one after another from start, never below zero; it returns the
// balance after the last.
func checkSerialClaims(t *testing.T, what string, start int64, won []domain.Voucher) int64 {
	t.Helper()
	sorted := slices.Clone(won)
	slices.SortFunc(sorted, func(a, b domain.Voucher) int { return cmp.Compare(b.BalanceAfter, a.BalanceAfter) })
	balance := start
	for _, v := range sorted {
		balance -= v.PointsSpent
		if v.BalanceAfter != balance || v.BalanceAfter < 0 {
			t.Errorf("%s: BalanceAfter values %v do not follow from %d minus the costs %v one after another",
				what, fieldOf(sorted, func(v domain.Voucher) int64 { return v.BalanceAfter }), start,
				fieldOf(sorted, func(v domain.Voucher) int64 { return v.PointsSpent }))
			break
		}
	}
	return balance
}

// heldOf counts the citizen's listed vouchers of a benefit.
func heldOf(t *testing.T, s BenefitsStore, citizenID, benefitID string) int {
	t.Helper()
	n := 0
	for _, v := range listVouchers(t, s, citizenID) {
		if v.BenefitID == benefitID {
			n++
		}
	}
	return n
}

func countClaimEntries(t *testing.T, s BenefitsStore, citizenID string) int {
	t.Helper()
	n := 0
	for _, e := range listLedger(t, s, citizenID) {
		if e.Kind == domain.LedgerClaim {
			n++
		}
	}
	return n
}

func runClaimRaces(t *testing.T, open func(t *testing.T) BenefitsStore) {
	t.Run("claims racing for a benefit never issue more than its stock", func(t *testing.T) {
		t.Parallel()
		e := newClaimEnv(t, open)
		const n, stock, cost, rounds = 100, 5, 10, 2
		citizens := make([]domain.Citizen, n)
		for i := range citizens {
			citizens[i] = e.holder(t, "wuxing", cost*rounds, 0)
		}
		for round := range rounds {
			what := fmt.Sprintf("round %d", round)
			b := e.benefit(t, func(b *domain.Benefit) { b.Stock, b.PointsCost, b.PerCitizenLimit = stock, cost, 1 })
			vouchers, replayed, errs := e.raceClaims(t, n, b, func(i int) string { return citizens[i].ID }, freshKey)
			won, _ := claimOutcomes(t, what, vouchers, replayed, errs, domain.IneligibleSoldOut)
			if len(won) != stock {
				t.Errorf("%s: %d of %d racing claims got a voucher, want the stock of %d", what, len(won), n, stock)
			}
			wantClaimed(t, e.store, what, b.ID, stock)
			stored := 0
			for _, c := range citizens {
				stored += heldOf(t, e.store, c.ID, b.ID)
			}
			if stored != stock {
				t.Errorf("%s: %d vouchers stored for the benefit, want %d", what, stored, stock)
			}
		}
		var total int64
		for _, c := range citizens {
			total += getCitizen(t, e.store, c.ID).Balance
		}
		if want := int64(n*cost*rounds - stock*cost*rounds); total != want {
			t.Errorf("balances add up to %d, want %d", total, want)
		}
		checkConsistent(t, e.store)
	})

	t.Run("claims racing for one citizen never overspend", func(t *testing.T) {
		t.Parallel()
		e := newClaimEnv(t, open)
		const n, cost, rounds = 30, 40, 2
		c := e.holder(t, "wuxing", 3*cost, 0)
		b := e.benefit(t, func(b *domain.Benefit) { b.PointsCost, b.Stock, b.PerCitizenLimit = cost, 1000, 1000 })
		for round := range rounds {
			what := fmt.Sprintf("round %d", round)
			if round > 0 {
				fund(t, e.store, c.ID, 3*cost, 0)
			}
			vouchers, replayed, errs := e.raceClaims(t, n, b, func(int) string { return c.ID }, freshKey)
			won, _ := claimOutcomes(t, what, vouchers, replayed, errs, domain.IneligibleNoPoints)
			if len(won) != 3 {
				t.Errorf("%s: %d of %d racing claims got a voucher, want 3 (the points for exactly 3)", what, len(won), n)
			}
			checkSerialClaims(t, what, 3*cost, won)
			wantTotals(t, e.store, c.ID, 0, 0, int64(3*cost*(round+1)))
			wantClaimed(t, e.store, what, b.ID, int64(3*(round+1)))
		}
		if got := countClaimEntries(t, e.store, c.ID); got != 3*rounds {
			t.Errorf("%d claim entries, want %d", got, 3*rounds)
		}
		if got := len(listVouchers(t, e.store, c.ID)); got != 3*rounds {
			t.Errorf("ListVouchers = %d vouchers, want %d", got, 3*rounds)
		}
		checkConsistent(t, e.store)
	})

	t.Run("claims racing for one citizen never exceed the per-citizen limit", func(t *testing.T) {
		t.Parallel()
		e := newClaimEnv(t, open)
		const n, limit, cost, rounds = 20, 2, 10, 2
		c := e.holder(t, "wuxing", 10_000, 0)
		balance := int64(10_000)
		for round := range rounds {
			what := fmt.Sprintf("round %d", round)
			b := e.benefit(t, func(b *domain.Benefit) { b.PointsCost, b.Stock, b.PerCitizenLimit = cost, 100, limit })
			vouchers, replayed, errs := e.raceClaims(t, n, b, func(int) string { return c.ID }, freshKey)
			won, _ := claimOutcomes(t, what, vouchers, replayed, errs, domain.IneligibleLimit)
			if len(won) != limit {
				t.Errorf("%s: %d of %d racing claims got a voucher, want the limit of %d", what, len(won), n, limit)
			}
			balance = checkSerialClaims(t, what, balance, won)
			if held := heldOf(t, e.store, c.ID, b.ID); held != limit {
				t.Errorf("%s: the citizen holds %d vouchers of the benefit, want %d", what, held, limit)
			}
			wantClaimed(t, e.store, what, b.ID, limit)
		}
		wantTotals(t, e.store, c.ID, 10_000-limit*cost*rounds, 0, 10_000)
		checkConsistent(t, e.store)
	})

	// The service looks a key up before claiming, so racing retries mostly reach
	// the store one by one; this sends them to ClaimBenefit itself.
	t.Run("ClaimBenefit racing with one idempotency key claims once", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		bank := seedBank(t, s)
		b := seedBenefit(t, s, bank.ID, func(b *domain.Benefit) { b.Stock, b.PerCitizenLimit = 100, 100 })
		c := seedHolder(t, s, "wuxing", 1000, 0)
		const n, cost, rounds = 20, 10, 3
		for round := range rounds {
			what := fmt.Sprintf("round %d", round)
			key := claimKey()
			claims := make([]domain.Claim, n)
			for i := range claims {
				claims[i] = newClaim(c.ID, b.ID)
				claims[i].IdempotencyKey = key
			}
			vouchers := make([]domain.Voucher, n)
			dups := make([]*domain.DuplicateClaimError, n)
			errs := race(n, func(i int) error {
				var err error
				vouchers[i], err = s.ClaimBenefit(t.Context(), claims[i], pay(cost, claimExpiry))
				errors.As(err, &dups[i])
				return err
			})
			winner := soleWinner(t, what, "claimed", errs, dups)
			for i, dup := range dups {
				// Existing may still be claiming in stores that claim in steps.
				if dup != nil && (dup.Existing.ID != claims[winner].VoucherID || dup.Existing.IdempotencyKey != key || dup.Existing.BenefitID != b.ID) {
					t.Errorf("%s: goroutine %d: Existing = %s (key %q), want the winner's %s", what, i, dup.Existing.ID, dup.Existing.IdempotencyKey, claims[winner].VoucherID)
				}
			}
			diffVoucher(vouchers[winner], findClaim(t, s, c.ID, key)).report(t, what+": stored voucher")
		}
		if got := len(listVouchers(t, s, c.ID)); got != rounds {
			t.Errorf("ListVouchers = %d vouchers, want %d", got, rounds)
		}
		if got := countClaimEntries(t, s, c.ID); got != rounds {
			t.Errorf("%d claim entries, want %d", got, rounds)
		}
		wantClaimed(t, s, "after the races", b.ID, rounds)
		wantTotals(t, s, c.ID, 1000-cost*rounds, 0, 1000)
		checkConsistent(t, s)
	})

	t.Run("claims racing with one idempotency key issue one voucher that every caller gets", func(t *testing.T) {
		t.Parallel()
		e := newClaimEnv(t, open)
		const n, cost, rounds = 20, 10, 3
		c := e.holder(t, "wuxing", 1000, 0)
		b := e.benefit(t, func(b *domain.Benefit) { b.PointsCost, b.Stock, b.PerCitizenLimit = cost, 100, 100 })
		for round := range rounds {
			what := fmt.Sprintf("round %d", round)
			key := claimKey()
			vouchers, replayed, errs := e.raceClaims(t, n, b, func(int) string { return c.ID }, func(int) string { return key })
			winner, inProgress := -1, 0
			for i, err := range errs {
				switch {
				case err == nil && !replayed[i] && winner >= 0:
					t.Errorf("%s: goroutines %d and %d both issued a voucher (%s, %s)", what, winner, i, vouchers[winner].ID, vouchers[i].ID)
				case err == nil && !replayed[i]:
					winner = i
				case err == nil:
				case domain.ErrorKindOf(err) == domain.KindConflict && domain.ErrorCodeOf(err) == "request_in_progress":
					inProgress++
				default:
					t.Errorf("%s: goroutine %d: want the voucher or request_in_progress, got %v", what, i, err)
				}
			}
			if winner < 0 {
				t.Fatalf("%s: no racer issued the voucher", what)
			}
			want := vouchers[winner]
			if want.IdempotencyKey != key || want.Status != domain.VoucherIssued {
				t.Errorf("%s: winner's voucher has key %q and status %s, want %q and issued", what, want.IdempotencyKey, want.Status, key)
			}
			for i, err := range errs {
				if err == nil && i != winner {
					diffVoucher(want, vouchers[i]).report(t, fmt.Sprintf("%s: goroutine %d's replay", what, i))
				}
			}
			if inProgress > 0 {
				t.Logf("%s: %d of %d racers were told to retry", what, inProgress, n)
			}
			diffVoucher(want, findClaim(t, e.store, c.ID, key)).report(t, what+": stored voucher")
		}
		if got := len(listVouchers(t, e.store, c.ID)); got != rounds {
			t.Errorf("ListVouchers = %d vouchers, want %d", got, rounds)
		}
		wantClaimed(t, e.store, "after the races", b.ID, rounds)
		wantTotals(t, e.store, c.ID, 1000-cost*rounds, 0, 1000)
		checkConsistent(t, e.store)
	})
}

// claimOutcomes sorts what racing claims with distinct keys returned: it collects
// the new vouchers and checks that every other call was refused with loserCode.
func claimOutcomes(t *testing.T, what string, vouchers []domain.Voucher, replayed []bool, errs []error, loserCode string) (won []domain.Voucher, losers int) {
	t.Helper()
	for i, err := range errs {
		switch {
		case err == nil && !replayed[i]:
			won = append(won, vouchers[i])
		case err == nil:
			t.Errorf("%s: goroutine %d: a claim with a fresh key was replayed (voucher %s)", what, i, vouchers[i].ID)
		case domain.ErrorKindOf(err) == domain.KindUnprocessable && domain.ErrorCodeOf(err) == loserCode:
			losers++
		default:
			t.Errorf("%s: goroutine %d: want a voucher or %s, got %v", what, i, loserCode, fmt.Sprint(err))
		}
	}
	return won, losers
}

// soleWinner returns the one racer whose call succeeded. It fails the test if
// none or several did, or if a loser failed with anything but a duplicate error
// (dups[i] set by errors.As).
func soleWinner[D any](t *testing.T, what, did string, errs []error, dups []*D) int {
	t.Helper()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Errorf("%s: goroutines %d and %d both %s", what, winner, i, did)
		case err == nil:
			winner = i
		case dups[i] == nil:
			t.Errorf("%s: goroutine %d: want nil or %T, got %v", what, i, dups[i], err)
		}
	}
	if winner < 0 {
		t.Fatalf("%s: no racer %s", what, did)
	}
	return winner
}
