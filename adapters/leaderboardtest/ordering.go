package leaderboardtest

import (
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func runOrdering(t *testing.T, open func(t *testing.T) domain.Leaderboard) {
	rule(t, "higher scores rank first, from rank 1", open, func(f *fx) {
		f.set(members("A", "B", "C", "D")...)
		f.apply(
			f.credit("e1", "B", 300, 1*time.Second),
			f.credit("e2", "D", 100, 2*time.Second),
			f.credit("e3", "A", 200, 3*time.Second),
			f.credit("e4", "C", 400, 4*time.Second),
		)
		f.wantBoard("distinct scores", city(f.all), row("C", 400), row("B", 300), row("A", 200), row("D", 100))
	})

	rule(t, "equal scores: who reached the score first, then the lower citizen ID", open, func(f *fx) {
		f.set(members("A", "B", "C", "D", "E")...)
		f.apply(
			// B and D reach 500; D first, though B's ID is lower.
			f.credit("b1", "B", 200, 5*time.Second),
			f.credit("b2", "B", 300, 20*time.Second),
			f.credit("d1", "D", 500, 10*time.Second),
			// A and C reach 500 at the same instant, after B: ID order.
			f.credit("c1", "C", 500, 30*time.Second),
			f.credit("a1", "A", 500, 30*time.Second),
			// E scores more, last of all.
			f.credit("e1", "E", 501, 40*time.Second),
		)
		f.wantBoard("ties", city(f.all), row("E", 501), row("D", 500), row("B", 500), row("A", 500), row("C", 500))
	})

	rule(t, "reached times one millisecond apart are told apart", open, func(f *fx) {
		f.set(members("A", "B", "C")...)
		f.apply(
			f.credit("a", "A", 70, 2*time.Millisecond),
			f.credit("b", "B", 70, 1*time.Millisecond),
			f.credit("c", "C", 70, 0),
		)
		f.wantBoard("1 ms apart", city(f.all), row("C", 70), row("B", 70), row("A", 70))
	})

	rule(t, "large scores are exact, and ties between them order by time", open, func(f *fx) {
		const big = 9_000_000_000_000 // 9 000 t: far beyond any citizen, well below 2^53
		f.set(members("A", "B", "C", "D", "E")...)
		f.apply(
			// A: two credits summing to big+1, reached at +2s.
			f.credit("a1", "A", big/2+1, 2*time.Second),
			f.credit("a2", "A", big/2, 1*time.Second),
			f.credit("b1", "B", big+1, 1*time.Second),
			f.credit("e1", "E", big+1, time.Second+time.Millisecond),
			f.credit("c1", "C", big+2, 3*time.Second),
			f.credit("d1", "D", big, 0),
		)
		f.wantBoard("large scores", city(f.all),
			row("C", big+2), row("B", big+1), row("E", big+1), row("A", big+1), row("D", big))
		f.wantStanding("large score standing", city(f.all), "A", 1, 4, big+1, []string{"E"}, []string{"D"})
		// A reversal of part of a large score stays exact too.
		f.apply(f.credit("a3", "A", -3, 4*time.Second))
		f.wantStanding("after subtracting 3 g", city(f.all), "A", 0, 5, big-2, nil, nil)
	})
}
