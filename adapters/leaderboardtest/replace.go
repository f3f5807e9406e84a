package leaderboardtest

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func (f *fx) replace(snap *domain.BoardSnapshot) {
	f.t.Helper()
	if err := f.lb.Replace(ctx(f.t), snap); err != nil {
		f.t.Fatalf("Replace: %v", err)
	}
}

func (f *fx) watermark() time.Time {
	f.t.Helper()
	w, err := f.lb.Watermark(ctx(f.t))
	if err != nil {
		f.t.Fatalf("Watermark: %v", err)
	}
	return w
}

func (f *fx) setWatermark(w time.Time) {
	f.t.Helper()
	if err := f.lb.SetWatermark(ctx(f.t), w); err != nil {
		f.t.Fatalf("SetWatermark(%v): %v", w, err)
	}
}

func (f *fx) wantWatermark(what string, want time.Time) {
	f.t.Helper()
	if got := f.watermark(); !got.Equal(want) {
		f.t.Errorf("%s: Watermark = %v, want %v", what, got.UTC(), want.UTC())
	}
}

func (f *fx) score(id string, grams int64, at time.Duration) domain.BoardScore {
	return domain.BoardScore{CitizenID: id, CO2eGrams: grams, ReachedAt: f.at(at)}
}

func runReplace(t *testing.T, open func(t *testing.T) domain.Leaderboard) {
	rule(t, "Replace installs the snapshot and forgets the old boards", open, func(f *fx) {
		f.set(member("A", wuxing, 1), member("B", "", 1), member("C", "", 1))
		f.apply(
			f.credit("a1", "A", 100, 0, f.day, f.all),
			f.credit("b1", "B", 200, time.Second, f.day, f.all),
			f.credit("c1", "C", 300, 2*time.Second, f.week),
		)
		hiddenE := member("E", "", 1)
		hiddenE.Hidden = true
		snap := &domain.BoardSnapshot{
			Members: []domain.BoardMember{
				{CitizenID: "B", Nickname: "B2", District: nanxun, Version: 3},
				member("D", "", 1), hiddenE, member("G", "", 1),
			},
			Instances: []domain.BoardInstance{f.week, f.all},
			Scores: map[string][]domain.BoardScore{
				f.all.ID: {
					f.score("B", 500, 20*time.Second), f.score("D", 500, 10*time.Second),
					f.score("E", 900, 0), f.score("F", 700, 0), f.score("G", -10, 0),
				},
				f.week.ID: {f.score("D", 40, 5*time.Second)},
			},
			Watermark: f.at(30 * time.Minute),
		}
		f.replace(snap)
		b2 := domain.BoardRow{CitizenID: "B", Nickname: "B2", CO2eGrams: 500}
		f.wantEmpty("old instance", city(f.day))
		f.wantEmpty("old instance", district(f.day, wuxing))
		f.wantUnranked("old instance", city(f.day), "B", 0)
		f.wantBoard("all time", city(f.all), row("D", 500), b2)
		f.wantBoard("all time, nanxun", district(f.all, nanxun), b2)
		f.wantEmpty("all time, wuxing", district(f.all, wuxing))
		f.wantBoard("week", city(f.week), row("D", 40))
		f.wantUnranked("week, old score", city(f.week), "C", 0)
		for id, grams := range map[string]int64{"A": 0, "C": 0, "E": 900, "F": 700, "G": -10} {
			f.wantUnranked("all time", city(f.all), id, grams)
		}
		f.wantWatermark("after Replace", snap.Watermark)
		// A's member record went with the old boards; F never had one.
		if unknown := f.apply(f.credit("a2", "A", 1, 3*time.Second), f.credit("f1", "F", 1, 3*time.Second)); !sameIDs([]string{"A", "F"}, unknown) {
			f.t.Errorf("Apply after Replace returned unknown %q, want A and F", unknown)
		}
		// The snapshot's versions hold.
		f.set(domain.BoardMember{CitizenID: "B", Nickname: "B-stale", Version: 2})
		f.wantBoard("stale update after Replace", district(f.all, nanxun), b2)
	})

	rule(t, "after Replace the snapshot's Applied entries are refused and others apply", open, func(f *fx) {
		f.set(members("A", "B")...)
		old := f.credit("old", "A", 100, 0)
		e1 := f.credit("e1", "A", 200, time.Second)
		e2 := f.credit("e2", "A", 100, 2*time.Second, f.day, f.all)
		f.apply(old, e1)
		f.replace(&domain.BoardSnapshot{
			Members:   members("A", "B"),
			Instances: []domain.BoardInstance{f.day, f.all},
			Scores: map[string][]domain.BoardScore{
				f.all.ID: {f.score("A", 300, 2*time.Second)},
				f.day.ID: {f.score("A", 100, 2*time.Second)},
			},
			Applied:   []domain.BoardCredit{e1, e2},
			Watermark: f.at(time.Hour),
		})
		f.wantBoard("snapshot", city(f.all), row("A", 300))
		f.apply(e1)
		f.apply(e2, e1)
		f.wantBoard("Applied entries redelivered", city(f.all), row("A", 300))
		f.wantBoard("Applied entries redelivered, day", city(f.day), row("A", 100))
		e2day := e2
		e2day.Instances = []domain.BoardInstance{f.day}
		f.apply(e2day)
		f.wantBoard("Applied entry redelivered naming fewer instances", city(f.day), row("A", 100))
		// "old" was applied to the old boards only: it is not on the new ones, so
		// the catch-up that follows a rebuild must be able to apply it.
		f.apply(old)
		f.wantBoard("entry applied to the old boards only", city(f.all), row("A", 400))
		f.apply(f.credit("e3", "A", 50, 3*time.Second), f.credit("b1", "B", 20, 3*time.Second))
		f.apply(old)
		f.wantBoard("later entries", city(f.all), row("A", 450), row("B", 20))
	})

	rule(t, "Replace with an empty snapshot empties every board", open, func(f *fx) {
		f.set(member("A", wuxing, 1))
		f.apply(f.credit("a1", "A", 100, 0, f.day, f.all))
		f.setWatermark(f.at(0))
		w := f.at(time.Minute)
		f.replace(&domain.BoardSnapshot{Watermark: w})
		f.wantEmpty("empty snapshot", city(f.all))
		f.wantEmpty("empty snapshot", district(f.day, wuxing))
		f.wantUnranked("empty snapshot", city(f.all), "A", 0)
		f.wantWatermark("empty snapshot", w)
		if unknown := f.apply(f.credit("a1", "A", 100, 0, f.all)); !sameIDs([]string{"A"}, unknown) {
			f.t.Errorf("Apply after an empty Replace returned unknown %q, want [A]", unknown)
		}
		f.wantUnranked("redelivered after an empty Replace", city(f.all), "A", 100)
	})

	rule(t, "the watermark starts at zero, moves forward only, and Replace sets the snapshot's", open, func(f *fx) {
		if w := f.watermark(); !w.IsZero() {
			f.t.Errorf("Watermark of new boards = %v, want zero", w)
		}
		t1, t2, t3 := f.at(time.Minute), f.at(2*time.Minute), f.at(3*time.Minute+7*time.Millisecond)
		f.setWatermark(t2.In(time.FixedZone("CST", 8*3600)))
		f.wantWatermark("set", t2)
		f.setWatermark(t1)
		f.wantWatermark("set back", t2)
		f.setWatermark(t2)
		f.wantWatermark("set to the same", t2)
		f.setWatermark(t3)
		f.wantWatermark("set forward", t3)
		f.replace(&domain.BoardSnapshot{Watermark: t1})
		f.wantWatermark("Replace with an earlier watermark", t1)
		f.setWatermark(f.at(0))
		f.wantWatermark("set back after Replace", t1)
		f.setWatermark(t2)
		f.wantWatermark("set forward after Replace", t2)
	})
}

// snapOf is a snapshot of n citizens with the given ID prefix and scores from
// base grams down, in no district, on the all-time instance.
func (f *fx) snapOf(prefix string, n int, base int64) *domain.BoardSnapshot {
	snap := &domain.BoardSnapshot{Instances: []domain.BoardInstance{f.all}, Scores: map[string][]domain.BoardScore{}, Watermark: f.at(time.Hour)}
	for i := range n {
		id := entryID(prefix, i)
		snap.Members = append(snap.Members, member(id, "", 1))
		snap.Scores[f.all.ID] = append(snap.Scores[f.all.ID], f.score(id, base-int64(i%7), time.Duration(i)*time.Millisecond))
	}
	return snap
}

func runAtomicity(t *testing.T, open func(t *testing.T) domain.Leaderboard) {
	rule(t, "queries during Replace see the old boards or the new ones", open, func(f *fx) {
		snaps := []*domain.BoardSnapshot{f.snapOf("X", 30, 1000), f.snapOf("Y", 45, 900)}
		// The first boards are built by Apply, the rest swapped in.
		for i, m := range snaps[0].Members {
			f.set(m)
			s := snaps[0].Scores[f.all.ID][i]
			f.apply(domain.BoardCredit{EntryID: "e-" + m.CitizenID, CitizenID: m.CitizenID, CO2eGrams: s.CO2eGrams, At: s.ReachedAt, Instances: []domain.BoardInstance{f.all}})
		}
		q := domain.BoardQuery{Board: city(f.all), Limit: 10, CitizenID: "Y-0012", Neighbours: 2}
		const readers = 4
		for round := range 6 {
			before := f.query(q)
			var stop atomic.Bool
			seen := make([][]domain.BoardPage, readers)
			errs := make([]error, readers)
			var wg sync.WaitGroup
			for r := range readers {
				wg.Go(func() {
					for last := false; !last; {
						last = stop.Load()
						p, err := f.lb.Query(ctx(f.t), q)
						if err != nil {
							errs[r] = err
							return
						}
						seen[r] = append(seen[r], p)
					}
				})
			}
			f.replace(snaps[(round+1)%2])
			stop.Store(true)
			wg.Wait()
			noErrs(f.t, "Query during Replace", errs)
			after := f.query(q)
			if after.Ranked != int64(len(snaps[(round+1)%2].Members)) {
				f.t.Fatalf("round %d: after Replace, %d ranked; want %d", round, after.Ranked, len(snaps[(round+1)%2].Members))
			}
			for r, pages := range seen {
				sawNew := false
				for i, p := range pages {
					switch {
					case diffPages(after, p) == "":
						sawNew = true
					case diffPages(before, p) == "" && !sawNew:
					case diffPages(before, p) == "":
						f.t.Fatalf("round %d, reader %d, query %d: saw the old boards after the new ones", round, r, i)
					default:
						f.t.Fatalf("round %d, reader %d, query %d: a page that is neither the old boards (%d ranked) nor the new (%d ranked):\nvs old: %s\nvs new: %s",
							round, r, i, before.Ranked, after.Ranked, diffPages(before, p), diffPages(after, p))
					}
				}
			}
		}
	})

	rule(t, "a query never sees half of an Apply", open, func(f *fx) {
		f.set(member("A", wuxing, 1), member("B", wuxing, 1))
		var stop atomic.Bool
		var bad atomic.Value
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				for !stop.Load() {
					p, err := f.lb.Query(ctx(f.t), domain.BoardQuery{Board: district(f.day, wuxing), Limit: 10})
					if err != nil {
						bad.Store(err.Error())
						return
					}
					var a, b int64
					for _, r := range p.Top {
						switch r.CitizenID {
						case "A":
							a = r.CO2eGrams
						case "B":
							b = r.CO2eGrams
						}
					}
					if a != b {
						bad.Store(fmt.Sprintf("A has %d g and B %d g: %s", a, b, fmtRows(p.Top)))
						return
					}
				}
			})
		}
		for i := range 60 {
			at := time.Duration(i) * time.Millisecond
			f.apply(
				f.credit(entryID("a", i), "A", 1, at, f.day, f.all),
				f.credit(entryID("b", i), "B", 1, at, f.day, f.all),
			)
		}
		stop.Store(true)
		wg.Wait()
		if v := bad.Load(); v != nil {
			f.t.Fatalf("a query saw half of an Apply crediting A and B alike: %v", v)
		}
		f.wantBoard("after the Applies", district(f.day, wuxing), row("A", 60), row("B", 60))
	})

	rule(t, "a query never sees half of a SetMembers", open, func(f *fx) {
		f.set(member("A", "", 1), member("B", "", 1), member("C", "", 1))
		f.apply(f.credit("a", "A", 30, 0), f.credit("b", "B", 20, 0), f.credit("c", "C", 10, 0))
		var stop atomic.Bool
		var bad atomic.Value
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				for !stop.Load() {
					p, err := f.lb.Query(ctx(f.t), domain.BoardQuery{Board: city(f.all), Limit: 10})
					if err != nil {
						bad.Store(err.Error())
						return
					}
					if p.Ranked != 1 && p.Ranked != 3 {
						bad.Store(fmt.Sprintf("%d ranked: %s", p.Ranked, fmtRows(p.Top)))
						return
					}
				}
			})
		}
		for v := int64(2); v < 62; v += 2 {
			hide := []domain.BoardMember{member("A", "", v), member("B", "", v)}
			hide[0].Hidden, hide[1].Hidden = true, true
			f.set(hide...)
			f.set(member("A", "", v+1), member("B", "", v+1))
		}
		stop.Store(true)
		wg.Wait()
		if v := bad.Load(); v != nil {
			f.t.Fatalf("a query saw half of a SetMembers hiding or showing A and B together: %v", v)
		}
	})
}
