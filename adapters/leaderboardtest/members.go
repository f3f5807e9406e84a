package leaderboardtest

import (
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func runMembers(t *testing.T, open func(t *testing.T) domain.Leaderboard) {
	rule(t, "a citizen without a member record is scored but not ranked, and Apply names them", open, func(f *fx) {
		f.set(members("K")...)
		unknown := f.apply(f.credit("u1", "U", 100, 0, f.day, f.all), f.credit("k1", "K", 50, time.Second, f.day, f.all))
		if !sameIDs([]string{"U"}, unknown) {
			f.t.Errorf("Apply returned unknown %q, want [U]", unknown)
		}
		f.wantBoard("unknown citizen", city(f.all), row("K", 50))
		f.wantUnranked("unknown citizen", city(f.all), "U", 100)
		// Named again on every delivery until introduced, so a failed
		// introduction is retried: for a new entry, and for a duplicate.
		if unknown := f.apply(f.credit("u2", "U", 20, 2*time.Second, f.day, f.all)); !sameIDs([]string{"U"}, unknown) {
			f.t.Errorf("second Apply for the unknown citizen returned %q, want [U]", unknown)
		}
		if unknown := f.apply(f.credit("u1", "U", 100, 0, f.day, f.all)); !sameIDs([]string{"U"}, unknown) {
			f.t.Errorf("redelivery for the unknown citizen returned %q, want [U]", unknown)
		}
		f.wantUnranked("unknown citizen after a duplicate", city(f.all), "U", 120)

		f.set(member("U", wuxing, 0))
		f.wantBoard("introduced, all time", city(f.all), row("U", 120), row("K", 50))
		f.wantBoard("introduced, day", city(f.day), row("U", 120), row("K", 50))
		f.wantBoard("introduced, district", district(f.day, wuxing), row("U", 120))
		if unknown := f.apply(f.credit("u3", "U", 1, 3*time.Second)); len(unknown) != 0 {
			f.t.Errorf("Apply for an introduced citizen returned unknown %q, want none", unknown)
		}
		// A hidden member is known, not unknown.
		f.set(domain.BoardMember{CitizenID: "H", Hidden: true, Version: 1})
		if unknown := f.apply(f.credit("h1", "H", 10, 4*time.Second)); len(unknown) != 0 {
			f.t.Errorf("Apply for a hidden member returned unknown %q, want none", unknown)
		}
	})

	rule(t, "Apply and SetMembers with nothing to do succeed", open, func(f *fx) {
		if unknown := f.apply(); len(unknown) != 0 {
			f.t.Errorf("Apply(nothing) returned unknown %q", unknown)
		}
		f.set()
		f.wantEmpty("nothing applied", city(f.all))
	})

	rule(t, "a hidden citizen is on no board, and comes back with their score", open, func(f *fx) {
		f.set(member("A", wuxing, 1), member("B", wuxing, 1), member("C", "", 1))
		f.apply(
			f.credit("a1", "A", 300, 0, f.day, f.week, f.all),
			f.credit("b1", "B", 200, time.Second, f.day, f.week, f.all),
			f.credit("c1", "C", 100, 2*time.Second, f.day, f.week, f.all),
		)
		boards := []domain.BoardID{city(f.day), district(f.day, wuxing), city(f.week), district(f.week, wuxing), city(f.all), district(f.all, wuxing)}
		hidden := member("A", wuxing, 2)
		hidden.Hidden = true
		f.set(hidden)
		for _, b := range boards {
			if b.District == "" {
				f.wantBoard("A hidden", b, row("B", 200), row("C", 100))
			} else {
				f.wantBoard("A hidden", b, row("B", 200))
			}
			f.wantUnranked("A hidden", b, "A", 300)
		}
		// Credits keep counting while hidden.
		f.apply(f.credit("a2", "A", 5, 3*time.Second, f.day, f.all))
		f.wantUnranked("A hidden, credited", city(f.all), "A", 305)
		f.set(member("A", wuxing, 3))
		for _, b := range boards {
			grams := int64(305)
			if b.Instance == f.week.ID {
				grams = 300
			}
			if b.District == "" {
				f.wantBoard("A shown again", b, row("A", grams), row("B", 200), row("C", 100))
			} else {
				f.wantBoard("A shown again", b, row("A", grams), row("B", 200))
			}
		}
	})

	rule(t, "moving district moves the whole score", open, func(f *fx) {
		f.set(member("A", wuxing, 1), member("B", nanxun, 1), member("C", wuxing, 1))
		f.apply(
			f.credit("a1", "A", 300, 0, f.day, f.all),
			f.credit("b1", "B", 200, time.Second, f.day, f.all),
			f.credit("c1", "C", 100, 2*time.Second, f.day, f.all),
		)
		f.wantBoard("before the move", district(f.day, wuxing), row("A", 300), row("C", 100))
		f.wantBoard("before the move", district(f.day, nanxun), row("B", 200))
		f.set(member("A", nanxun, 2))
		for _, in := range []domain.BoardInstance{f.day, f.all} {
			f.wantBoard("moved to nanxun", district(in, wuxing), row("C", 100))
			f.wantBoard("moved to nanxun", district(in, nanxun), row("A", 300), row("B", 200))
			f.wantBoard("moved to nanxun", city(in), row("A", 300), row("B", 200), row("C", 100))
			// Standing on another district's board: not ranked, score shown.
			f.wantUnranked("moved to nanxun", district(in, wuxing), "A", 300)
		}
		f.apply(f.credit("a2", "A", 1, 3*time.Second, f.day))
		f.wantBoard("credited after the move", district(f.day, nanxun), row("A", 301), row("B", 200))
		f.set(member("A", "", 3))
		f.wantBoard("no district", district(f.day, nanxun), row("B", 200))
		f.wantBoard("no district", district(f.day, wuxing), row("C", 100))
		f.wantBoard("no district", city(f.day), row("A", 301), row("B", 200), row("C", 100))
		f.set(member("A", anji, 4))
		f.wantBoard("from no district to anji", district(f.day, anji), row("A", 301))
	})

	rule(t, "an update with a lower version is ignored; equal and higher ones apply", open, func(f *fx) {
		f.set(domain.BoardMember{CitizenID: "A", Nickname: "first", District: wuxing, Version: 5})
		f.apply(f.credit("a1", "A", 100, 0))
		stale := []domain.BoardMember{
			{CitizenID: "A", Nickname: "stale", District: wuxing, Version: 4},
			{CitizenID: "A", Nickname: "stale", District: nanxun, Version: 3},
			{CitizenID: "A", Nickname: "stale", District: wuxing, Hidden: true, Version: 0},
		}
		for _, m := range stale {
			f.set(m)
		}
		f.wantBoard("after stale updates", district(f.all, wuxing), domain.BoardRow{CitizenID: "A", Nickname: "first", CO2eGrams: 100})
		f.set(domain.BoardMember{CitizenID: "A", Nickname: "same version", District: wuxing, Version: 5})
		f.wantBoard("same version", city(f.all), domain.BoardRow{CitizenID: "A", Nickname: "same version", CO2eGrams: 100})
		f.set(domain.BoardMember{CitizenID: "A", Nickname: "newer", District: nanxun, Version: 6})
		f.wantBoard("newer version", district(f.all, nanxun), domain.BoardRow{CitizenID: "A", Nickname: "newer", CO2eGrams: 100})
		f.wantEmpty("newer version", district(f.all, wuxing))
		// Within one call too.
		f.set(
			domain.BoardMember{CitizenID: "B", Nickname: "b8", Version: 8},
			domain.BoardMember{CitizenID: "B", Nickname: "b7", Hidden: true, Version: 7},
		)
		f.apply(f.credit("b1", "B", 50, time.Second))
		f.wantBoard("stale update in the same call", city(f.all),
			domain.BoardRow{CitizenID: "A", Nickname: "newer", CO2eGrams: 100}, domain.BoardRow{CitizenID: "B", Nickname: "b8", CO2eGrams: 50})
	})

	rule(t, "nicknames are shown in every row, and renames show at once", open, func(f *fx) {
		f.set(
			domain.BoardMember{CitizenID: "A", Nickname: "小绿", Version: 1},
			domain.BoardMember{CitizenID: "B", Nickname: "Bike 🚲", Version: 1},
			domain.BoardMember{CitizenID: "C", Nickname: "绿友7K2Q", Version: 1},
		)
		f.apply(f.credit("a", "A", 3, 0), f.credit("b", "B", 2, 0), f.credit("c", "C", 1, 0))
		a := domain.BoardRow{Rank: 1, CitizenID: "A", Nickname: "小绿", CO2eGrams: 3}
		b := domain.BoardRow{Rank: 2, CitizenID: "B", Nickname: "Bike 🚲", CO2eGrams: 2}
		c := domain.BoardRow{Rank: 3, CitizenID: "C", Nickname: "绿友7K2Q", CO2eGrams: 1}
		f.wantBoard("nicknames", city(f.all), a, b, c)
		p := f.page(city(f.all), "B", 1)
		if !sameRows([]domain.BoardRow{a}, p.Me.Above) || !sameRows([]domain.BoardRow{c}, p.Me.Below) {
			f.t.Errorf("neighbours of B = above %s, below %s; want %s and %s", fmtRows(p.Me.Above), fmtRows(p.Me.Below), fmtRows([]domain.BoardRow{a}), fmtRows([]domain.BoardRow{c}))
		}
		f.set(domain.BoardMember{CitizenID: "A", Nickname: "大绿", Version: 2})
		a.Nickname = "大绿"
		f.wantBoard("renamed", city(f.all), a, b, c)
	})

	rule(t, "a member without credits has no standing", open, func(f *fx) {
		f.set(member("A", wuxing, 1), member("B", wuxing, 1))
		f.apply(f.credit("b", "B", 10, 0, f.day))
		f.wantUnranked("member without credits", city(f.day), "A", 0)
		f.wantUnranked("member without credits", district(f.day, wuxing), "A", 0)
		f.wantBoard("member without credits", district(f.day, wuxing), row("B", 10))
	})
}
