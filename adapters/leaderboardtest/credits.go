package leaderboardtest

import (
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func runCredits(t *testing.T, open func(t *testing.T) domain.Leaderboard) {
	rule(t, "different entries add up", open, func(f *fx) {
		f.set(members("A", "B")...)
		f.apply(f.credit("e1", "A", 100, 0), f.credit("e2", "A", 250, time.Second))
		f.apply(f.credit("e3", "A", 7, 2*time.Second), f.credit("e4", "B", 300, 3*time.Second))
		f.wantBoard("sums", city(f.all), row("A", 357), row("B", 300))
	})

	rule(t, "a credit delivered twice in one Apply counts once", open, func(f *fx) {
		f.set(members("A", "B")...)
		c := f.credit("e1", "A", 100, 0)
		f.apply(c, f.credit("e2", "B", 150, time.Second), c)
		f.wantBoard("same entry twice in a call", city(f.all), row("B", 150), row("A", 100))
	})

	rule(t, "a credit delivered again later counts once", open, func(f *fx) {
		f.set(members("A", "B")...)
		c := f.credit("e1", "A", 100, 0, f.day, f.all)
		f.apply(c)
		f.apply(f.credit("e2", "B", 150, time.Second, f.day, f.all))
		f.apply(c)
		f.apply(c, c)
		f.wantBoard("redelivered, all time", city(f.all), row("B", 150), row("A", 100))
		f.wantBoard("redelivered, day", city(f.day), row("B", 150), row("A", 100))
		// Redelivered naming an instance it did not name before: still the same
		// entry, refused as a whole.
		again := c
		again.Instances = []domain.BoardInstance{f.day, f.week, f.all}
		f.apply(again)
		f.wantEmpty("redelivered naming a new instance", city(f.week))
		f.wantBoard("redelivered naming a new instance, all time", city(f.all), row("B", 150), row("A", 100))
	})

	rule(t, "20 concurrent deliveries of one credit count once", open, func(f *fx) {
		f.set(members("A")...)
		for round := range 3 {
			c := f.credit("e"+string(rune('0'+round)), "A", 100, time.Duration(round)*time.Second, f.day, f.all)
			noErrs(f.t, "concurrent Apply", race(20, func(int) error {
				_, err := f.lb.Apply(ctx(f.t), []domain.BoardCredit{c})
				return err
			}))
			want := int64(100 * (round + 1))
			f.wantBoard("after concurrent deliveries, day", city(f.day), row("A", want))
			f.wantBoard("after concurrent deliveries, all time", city(f.all), row("A", want))
		}
	})

	rule(t, "concurrent different credits all count", open, func(f *fx) {
		f.set(members("A", "B")...)
		const n, per = 20, 5
		var latest time.Duration
		credits := make([][]domain.BoardCredit, n)
		for i := range n {
			for j := range per {
				// Stamps spread and out of order; the latest is (n-1, 0).
				at := time.Duration((per-j)*1000+i) * time.Millisecond
				latest = max(latest, at)
				credits[i] = append(credits[i], f.credit(entryID("e", i*per+j), "A", 10, at))
			}
		}
		noErrs(f.t, "concurrent Apply", race(n, func(i int) error {
			for _, c := range credits[i] { // one credit per call: most interleaving
				if _, err := f.lb.Apply(ctx(f.t), []domain.BoardCredit{c}); err != nil {
					return err
				}
			}
			return nil
		}))
		// B has the same score, reached just before A's latest credit: B ranks
		// above A only if A's reached time is the latest of its credits.
		f.apply(f.credit("b", "B", n*per*10, latest-time.Millisecond))
		f.wantBoard("concurrent credits", city(f.all), row("B", n*per*10), row("A", n*per*10))
	})

	rule(t, "negative credits subtract; at zero or below the citizen leaves the board but keeps the score", open, func(f *fx) {
		f.set(members("A", "B")...)
		f.apply(f.credit("a1", "A", 100, 0, f.day, f.all), f.credit("b1", "B", 40, time.Second, f.day, f.all))
		f.apply(f.credit("a2", "A", -30, 2*time.Second, f.day, f.all))
		f.wantBoard("after -30", city(f.all), row("A", 70), row("B", 40))
		f.apply(f.credit("a3", "A", -70, 3*time.Second, f.day, f.all))
		f.wantBoard("at zero", city(f.all), row("B", 40))
		f.wantUnranked("at zero", city(f.all), "A", 0)
		f.apply(f.credit("a4", "A", -25, 4*time.Second, f.day))
		f.wantUnranked("below zero", city(f.day), "A", -25)
		f.wantUnranked("at zero on the other instance", city(f.all), "A", 0)
		f.wantBoard("below zero", city(f.day), row("B", 40))
		f.apply(f.credit("a5", "A", 65, 5*time.Second, f.day, f.all))
		f.wantBoard("back above zero, day", city(f.day), row("B", 40), row("A", 40))
		f.wantBoard("back above zero, all time", city(f.all), row("A", 65), row("B", 40))
	})

	rule(t, "reached time is the latest entry's, reversals included, whatever the delivery order", open, func(f *fx) {
		f.set(members("A", "B", "C")...)
		// A reaches 100 at +30s; B at +20s. Delivered latest first, so an adapter
		// keeping the last delivered time would put A first.
		f.apply(f.credit("a2", "A", 50, 30*time.Second))
		f.apply(f.credit("b1", "B", 100, 20*time.Second))
		f.apply(f.credit("a1", "A", 50, 10*time.Second))
		// C reaches 100 at +40s by way of a reversal: C's reached time is +40s.
		f.apply(f.credit("c1", "C", 150, 5*time.Second), f.credit("c2", "C", -50, 40*time.Second))
		f.wantBoard("reached times", city(f.all), row("B", 100), row("A", 100), row("C", 100))
	})

	t.Run("the same credits in two orders give identical boards", func(t *testing.T) {
		t.Parallel()
		f, g := newFx(t, open(t)), newFx(t, open(t))
		g.base = f.base
		var cs []domain.BoardCredit
		ids := []string{"A", "B", "C", "D"}
		for i := range 24 {
			grams := int64(30 + (i*7)%4*10) // 30..60: many ties
			if i%5 == 4 {
				grams = -20
			}
			at := time.Duration((i*37)%19) * time.Second // repeats, out of order
			cs = append(cs, f.credit(entryID("e", i), ids[i%len(ids)], grams, at, f.day, f.all))
		}
		f.set(members(ids...)...)
		g.set(members(ids...)...)
		for _, c := range cs {
			f.apply(c)
		}
		for i := len(cs) - 1; i >= 0; i-- {
			g.apply(cs[i])
		}
		for _, b := range []domain.BoardID{city(f.day), city(f.all)} {
			for _, id := range append(ids, "") {
				pf, pg := f.page(b, id, 2), g.page(b, id, 2)
				if d := diffPages(pf, pg); d != "" {
					t.Errorf("board %s, standing of %q: delivered backwards differs from forwards:\n%s", fmtBoard(b), id, d)
				}
			}
		}
	})

	rule(t, "a credit stamped before the dedup window still counts", open, func(f *fx) {
		f.set(members("A")...)
		old := f.credit("old", "A", 100, -(domain.BoardDedupWindow + time.Hour), f.day, f.all)
		f.apply(old)
		f.apply(f.credit("new", "A", 5, 0, f.day, f.all))
		f.wantBoard("old credit", city(f.all), row("A", 105))
		f.wantBoard("old credit, day", city(f.day), row("A", 105))
	})
}

// entryID is a short entry ID with a number, fixed width so IDs sort by number.
func entryID(prefix string, n int) string {
	const digits = "0123456789"
	b := []byte(prefix + "-0000")
	for i := len(b) - 1; n > 0 && b[i] != '-'; i-- {
		b[i] = digits[n%10]
		n /= 10
	}
	return string(b)
}

func runInstances(t *testing.T, open func(t *testing.T) domain.Leaderboard) {
	rule(t, "a credit counts in each of its instances independently", open, func(f *fx) {
		f.set(members("A", "B")...)
		f.apply(
			f.credit("e1", "A", 100, 0, f.day, f.week, f.all),
			f.credit("e2", "A", 50, time.Second, f.week, f.all),
			f.credit("e3", "B", 120, 2*time.Second, f.day, f.all),
			f.credit("e4", "B", 10, 3*time.Second, f.month),
		)
		f.wantBoard("day", city(f.day), row("B", 120), row("A", 100))
		f.wantBoard("week", city(f.week), row("A", 150))
		f.wantBoard("month", city(f.month), row("B", 10))
		f.wantBoard("all time", city(f.all), row("A", 150), row("B", 120))
		f.wantUnranked("week", city(f.week), "B", 0)
		f.wantUnranked("month", city(f.month), "A", 0)
	})

	rule(t, "an instance whose Expires has passed is gone", open, func(f *fx) {
		f.set(member("A", wuxing, 1))
		past := domain.BoardInstance{ID: "day:2026-10-01", Expires: time.Now().Add(-time.Minute)}
		f.apply(f.credit("e1", "A", 100, 0, past, f.all))
		f.wantEmpty("expired before the credit", city(past))
		f.wantEmpty("expired before the credit", district(past, wuxing))
		f.wantUnranked("expired before the credit", city(past), "A", 0)
		f.wantBoard("all time", city(f.all), row("A", 100))

		exp := time.Now().Add(2 * time.Second).Truncate(time.Millisecond)
		soon := domain.BoardInstance{ID: "day:2026-10-02", Expires: exp}
		f.apply(f.credit("e2", "A", 40, time.Second, soon, f.all))
		p := f.page(city(soon), "A", 0)
		if time.Now().Before(exp) && (p.Ranked != 1 || p.Me.CO2eGrams != 40) {
			f.t.Errorf("before it expired, %s ranked %d with A at %s; want A ranked with 40 g", soon.ID, p.Ranked, fmtStanding(p.Me))
		}
		deadline := time.Now().Add(expiryTimeout)
		for {
			p = f.page(city(soon), "A", 0)
			pd := f.page(district(soon, wuxing), "", 0)
			if p.Ranked == 0 && len(p.Top) == 0 && p.Me.Rank == 0 && p.Me.CO2eGrams == 0 && pd.Ranked == 0 && len(pd.Top) == 0 {
				break
			}
			if time.Now().After(deadline) {
				f.t.Fatalf("%s still there %v after it expired: ranked %d, top %s, A %s; district ranked %d",
					soon.ID, expiryTimeout, p.Ranked, fmtRows(p.Top), fmtStanding(p.Me), pd.Ranked)
			}
			time.Sleep(20 * time.Millisecond)
		}
		f.wantBoard("all time after the day expired", city(f.all), row("A", 140))
		// A late credit naming the expired instance does not bring it back.
		f.apply(f.credit("e3", "A", 5, 2*time.Second, soon, f.all))
		f.wantEmpty("credit naming an expired instance", city(soon))
		f.wantBoard("all time", city(f.all), row("A", 145))
	})
}
