package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// entryIDs hands out refund entry ids and remembers them.
type entryIDs struct {
	mu  sync.Mutex
	ids []string
}

func (g *entryIDs) next() string {
	id := domain.NewID(time.Now())
	g.mu.Lock()
	defer g.mu.Unlock()
	g.ids = append(g.ids, id)
	return id
}

func (g *entryIDs) handedOut(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Contains(g.ids, id)
}

func expire(t *testing.T, s BenefitsStore, now time.Time, limit int, g *entryIDs) int {
	t.Helper()
	n, err := s.ExpireVouchers(t.Context(), now, limit, g.next)
	mustNoErr(t, "ExpireVouchers", err)
	return n
}

func wantExpired(t *testing.T, s BenefitsStore, what string, now time.Time, limit, want int, g *entryIDs) {
	t.Helper()
	if got := expire(t, s, now, limit, g); got != want {
		t.Errorf("%s: ExpireVouchers(%s, %d) = %d, want %d", what, ms(now).Format(time.RFC3339Nano), limit, got, want)
	}
}

// wantRefunded checks that v was expired with exactly one refund entry, handed
// out by g, that left the balance at balanceAfter (-1: any), and returns the
// stored voucher.
func wantRefunded(t *testing.T, s BenefitsStore, what string, v domain.Voucher, now time.Time, balanceAfter int64, g *entryIDs) domain.Voucher {
	t.Helper()
	got := findClaim(t, s, v.CitizenID, v.IdempotencyKey)
	want := v
	want.Status, want.RefundEntryID = domain.VoucherExpired, got.RefundEntryID
	diffVoucher(want, got).report(t, what+": expired voucher")
	wantStored(t, s, what, want)
	if got.RefundEntryID == "" || !g.handedOut(got.RefundEntryID) {
		t.Errorf("%s: RefundEntryID = %q, want one of the ids newEntryID returned", what, got.RefundEntryID)
	}
	var refunds []domain.LedgerEntry
	for _, e := range listLedger(t, s, v.CitizenID) {
		if e.CauseID == v.ID && e.Kind == domain.LedgerRefund {
			refunds = append(refunds, e)
		}
	}
	if len(refunds) != 1 {
		t.Errorf("%s: %d refund entries for voucher %s, want 1: %+v", what, len(refunds), v.ID, refunds)
		return got
	}
	wantBalance := refunds[0].BalanceAfter
	if balanceAfter >= 0 {
		wantBalance = balanceAfter
	}
	diffEntry(refundEntry(want, wantBalance, now), refunds[0]).report(t, what+": refund entry")
	return got
}

func wantUntouched(t *testing.T, s BenefitsStore, what string, v domain.Voucher) {
	t.Helper()
	diffVoucher(v, findClaim(t, s, v.CitizenID, v.IdempotencyKey)).report(t, what)
}

func runVoucherExpiry(t *testing.T, open func(t *testing.T) BenefitsStore) {
	t.Run("ExpireVouchers expires the issued vouchers due at now, each with one refund entry", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		bank := seedBank(t, s)
		b := seedBenefit(t, s, bank.ID, nil)
		a := seedHolder(t, s, "wuxing", 1000, 900)
		bb := seedHolder(t, s, "wuxing", 1000, 900)
		c := seedHolder(t, s, "wuxing", 1000, 900)
		now := at(10 * day)
		a1 := claimFor(t, s, newClaim(a.ID, b.ID), 100, now.Add(-time.Hour))
		a2 := claimFor(t, s, newClaim(a.ID, b.ID), 50, now.Add(day))
		b1 := claimFor(t, s, newClaim(bb.ID, b.ID), 200, now) // due at now exactly
		c1 := claimFor(t, s, newClaim(c.ID, b.ID), 300, now.Add(time.Millisecond))
		g := &entryIDs{}

		wantExpired(t, s, "first run", now, 100, 2, g)
		wantRefunded(t, s, "a1 (an hour overdue)", a1, now, 950, g)
		wantRefunded(t, s, "b1 (due at now)", b1, now, 1000, g)
		wantUntouched(t, s, "a2 (due in a day)", a2)
		wantUntouched(t, s, "c1 (due a millisecond after now)", c1)
		wantTotals(t, s, a.ID, 950, 900, 1000) // a refund is no earning
		wantTotals(t, s, bb.ID, 1000, 900, 1000)
		wantTotals(t, s, c.ID, 700, 900, 1000)
		checkConsistent(t, s)

		// Idempotent: a second run finds nothing.
		before := worldOf(t, s, []string{a.ID, bb.ID, c.ID}, []string{b.ID})
		wantExpired(t, s, "second run", now, 100, 0, g)
		wantSameWorld(t, s, "a second ExpireVouchers", before)

		// Held counts expired vouchers too, and refunds give no stock back.
		wantHeld(t, s, "a after a refund", a.ID, b.ID, 2, 4)
		wantHeld(t, s, "bb after a refund", bb.ID, b.ID, 1, 4)

		later := now.Add(day)
		wantExpired(t, s, "a day later", later, 100, 2, g)
		wantRefunded(t, s, "c1", c1, later, 1000, g)
		wantRefunded(t, s, "a2", a2, later, 1000, g)
		wantRefunded(t, s, "a1 after the second run", a1, now, 950, g)
		wantExpired(t, s, "a day later, again", later, 100, 0, g)
		for _, id := range []string{a.ID, bb.ID, c.ID} {
			wantTotals(t, s, id, 1000, 900, 1000)
		}
		wantClaimed(t, s, "after every voucher expired", b.ID, 4)
		checkConsistent(t, s)
	})

	t.Run("ExpireVouchers expires at most limit vouchers a call", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		g := &entryIDs{}
		now := at(10 * day)
		wantExpired(t, s, "empty store", now, 10, 0, g)
		bank := seedBank(t, s)
		b := seedBenefit(t, s, bank.ID, nil)
		c := seedHolder(t, s, "wuxing", 100, 0)
		var due []domain.Voucher
		for i := range 5 {
			due = append(due, claimFor(t, s, newClaim(c.ID, b.ID), 10, now.Add(-time.Duration(i)*time.Hour)))
		}
		notDue := []domain.Voucher{
			claimFor(t, s, newClaim(c.ID, b.ID), 10, now.Add(time.Second)),
			claimFor(t, s, newClaim(c.ID, b.ID), 10, now.Add(30*day)),
		}
		for i, want := range []int{2, 2, 1, 0} {
			wantExpired(t, s, fmt.Sprintf("call %d with limit 2", i+1), now, 2, want, g)
		}
		for i, v := range due {
			wantRefunded(t, s, fmt.Sprintf("due voucher %d", i), v, now, -1, g)
		}
		for i, v := range notDue {
			wantUntouched(t, s, fmt.Sprintf("voucher %d not due", i), v)
		}
		wantTotals(t, s, c.ID, 80, 0, 100)
		// Refunds of one citizen follow one another.
		var after []int64
		for _, e := range listLedger(t, s, c.ID) {
			if e.Kind == domain.LedgerRefund {
				after = append(after, e.BalanceAfter)
			}
		}
		slices.Sort(after)
		if !slices.Equal(after, []int64{40, 50, 60, 70, 80}) {
			t.Errorf("refund BalanceAfter values = %v, want 40 to 80 by 10", after)
		}
		checkConsistent(t, s)
	})

	t.Run("ExpireVouchers racing refunds every voucher once", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		bank := seedBank(t, s)
		b := seedBenefit(t, s, bank.ID, nil)
		citizens := []domain.Citizen{seedHolder(t, s, "wuxing", 600, 0), seedHolder(t, s, "nanxun", 600, 0), seedHolder(t, s, "anji", 600, 0)}
		g := &entryIDs{}
		const racers, each, rounds = 4, 2, 2
		for round := range rounds {
			now := at(time.Duration(10+round) * day)
			var due []domain.Voucher
			for _, c := range citizens {
				for range each {
					due = append(due, claimFor(t, s, newClaim(c.ID, b.ID), 100, now.Add(-time.Minute)))
				}
			}
			counts := make([]int, racers)
			errs := race(racers, func(i int) error {
				var err error
				counts[i], err = s.ExpireVouchers(t.Context(), now, 100, g.next)
				return err
			})
			total := 0
			for i, err := range errs {
				mustNoErr(t, fmt.Sprintf("round %d: ExpireVouchers %d", round, i), err)
				total += counts[i]
			}
			if total != len(due) {
				t.Errorf("round %d: racing ExpireVouchers expired %v = %d vouchers, want %d", round, counts, total, len(due))
			}
			for i, v := range due {
				wantRefunded(t, s, fmt.Sprintf("round %d voucher %d", round, i), v, now, -1, g)
			}
			for _, c := range citizens {
				wantTotals(t, s, c.ID, 600, 0, 600)
			}
			checkConsistent(t, s)
		}
	})
}
