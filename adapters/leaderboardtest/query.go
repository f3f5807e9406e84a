package leaderboardtest

import (
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// seven credits seven citizens A..G with 700..100 g: A ranks 1, G ranks 7.
func (f *fx) seven(ins ...domain.BoardInstance) {
	f.t.Helper()
	ids := []string{"A", "B", "C", "D", "E", "F", "G"}
	f.set(members(ids...)...)
	var cs []domain.BoardCredit
	for i, id := range ids {
		cs = append(cs, f.credit("e-"+id, id, int64(700-100*i), time.Duration(i)*time.Second, ins...))
	}
	f.apply(cs...)
}

func runQuery(t *testing.T, open func(t *testing.T) domain.Leaderboard) {
	rule(t, "Limit caps the top; Ranked counts everyone ranked", open, func(f *fx) {
		f.seven()
		all := ranked(1, row("A", 700), row("B", 600), row("C", 500), row("D", 400), row("E", 300), row("F", 200), row("G", 100))
		for _, limit := range []int{1, 3, 7, 10, 100} {
			p := f.query(domain.BoardQuery{Board: city(f.all), Limit: limit})
			want := all[:min(limit, len(all))]
			if !sameRows(want, p.Top) || p.Ranked != 7 {
				f.t.Errorf("Limit %d: got %d ranked, %s; want 7 ranked, %s", limit, p.Ranked, fmtRows(p.Top), fmtRows(want))
			}
			if p.Me != nil {
				f.t.Errorf("Limit %d: Me = %s for a query naming no citizen; want nil", limit, fmtStanding(p.Me))
			}
		}
		// Hidden and non-positive citizens are not counted.
		f.apply(f.credit("g2", "G", -100, 10*time.Second))
		f.set(domain.BoardMember{CitizenID: "A", Hidden: true, Version: 2})
		p := f.query(domain.BoardQuery{Board: city(f.all), Limit: 2})
		if want := ranked(1, row("B", 600), row("C", 500)); !sameRows(want, p.Top) || p.Ranked != 5 {
			f.t.Errorf("after hiding A and zeroing G: got %d ranked, %s; want 5 ranked, %s", p.Ranked, fmtRows(p.Top), fmtRows(want))
		}
	})

	rule(t, "a citizen's standing at the top, in the middle and at the bottom", open, func(f *fx) {
		f.seven()
		b := city(f.all)
		f.wantStanding("top", b, "A", 2, 1, 700, nil, []string{"B", "C"})
		f.wantStanding("second", b, "B", 2, 2, 600, []string{"A"}, []string{"C", "D"})
		f.wantStanding("middle", b, "D", 2, 4, 400, []string{"B", "C"}, []string{"E", "F"})
		f.wantStanding("middle, one neighbour", b, "D", 1, 4, 400, []string{"C"}, []string{"E"})
		f.wantStanding("middle, no neighbours", b, "D", 0, 4, 400, nil, nil)
		f.wantStanding("middle, more neighbours than there are", b, "D", 10, 4, 400, []string{"A", "B", "C"}, []string{"E", "F", "G"})
		f.wantStanding("next to last", b, "F", 2, 6, 200, []string{"D", "E"}, []string{"G"})
		f.wantStanding("bottom", b, "G", 2, 7, 100, []string{"E", "F"}, nil)
		// The standing does not depend on the top's Limit.
		p := f.query(domain.BoardQuery{Board: b, Limit: 2, CitizenID: "F", Neighbours: 1})
		if p.Me == nil || p.Me.Rank != 6 || p.Me.CO2eGrams != 200 ||
			!sameRows(ranked(5, row("E", 300)), p.Me.Above) || !sameRows(ranked(7, row("G", 100)), p.Me.Below) {
			f.t.Errorf("F below a Limit of 2: Me = %s; want rank 6, 200 g, E above, G below", fmtStanding(p.Me))
		}
		if !sameRows(ranked(1, row("A", 700), row("B", 600)), p.Top) || p.Ranked != 7 {
			f.t.Errorf("top with a standing: %d ranked, %s", p.Ranked, fmtRows(p.Top))
		}
		// A district board ranks its citizens among themselves.
		f.set(member("C", anji, 2), member("F", anji, 2), member("G", anji, 2))
		f.wantStanding("district middle", district(f.all, anji), "F", 5, 2, 200, []string{"C"}, []string{"G"})
	})

	rule(t, "the standing of a citizen who is not ranked", open, func(f *fx) {
		f.seven(f.day)
		f.set(domain.BoardMember{CitizenID: "B", Nickname: nick("B"), Hidden: true, Version: 2}, member("C", wuxing, 2), member("Y", "", 1))
		f.apply(f.credit("d2", "D", -450, 10*time.Second, f.day))
		b := city(f.day)
		f.wantUnranked("never credited", b, "Z", 0)
		f.wantUnranked("member never credited", b, "Y", 0)
		f.wantUnranked("hidden", b, "B", 600)
		f.wantUnranked("below zero", b, "D", -50)
		f.wantUnranked("another district", district(f.day, nanxun), "C", 500)
		f.wantUnranked("credited on another instance only", city(f.all), "A", 0)
		f.wantStanding("still ranked", b, "E", 1, 3, 300, []string{"C"}, []string{"F"})
	})

	rule(t, "a board nobody was credited on is empty", open, func(f *fx) {
		f.seven(f.day)
		for _, b := range []domain.BoardID{
			city(domain.BoardInstance{ID: "day:2001-01-01"}),
			district(domain.BoardInstance{ID: "day:2001-01-01"}, wuxing),
			city(f.week),
			district(f.week, wuxing),
		} {
			f.wantEmpty("instance nobody was credited in", b)
			f.wantUnranked("instance nobody was credited in", b, "A", 0)
		}
		f.wantEmpty("district nobody lives in", district(f.day, wuxing))
		f.wantUnranked("district nobody lives in", district(f.day, wuxing), "A", 700)
	})
}
