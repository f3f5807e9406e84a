package leaderboardtest

import (
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// RunService runs domain.LeaderboardService on the boards that open returns, with
// the suite's own fake store, lock, clock and logger (which fails the test on any
// error the service logs). The service's clock is set near the wall clock except
// in the period tests, which use fixed dates around the end of 2026 with a
// retention long enough that their boards have not expired on the wall clock.
func RunService(t *testing.T, open func(t *testing.T) domain.Leaderboard) {
	t.Run("view", func(t *testing.T) { runView(t, open) })
	t.Run("periods", func(t *testing.T) { runPeriods(t, open) })
	t.Run("delivery", func(t *testing.T) { runDelivery(t, open) })
	t.Run("catch-up", func(t *testing.T) { runCatchUp(t, open) })
	t.Run("members", func(t *testing.T) { runServiceMembers(t, open) })
	t.Run("maintenance", func(t *testing.T) { runMaintenance(t, open) })
}

// recently is a start two hours ago: credits stamped from then on are within the
// adapter's dedup window on the wall clock for the length of a test.
func recently() time.Time { return time.Now().Add(-2 * time.Hour) }

// svcRule runs one service rule as a parallel subtest on a fresh board.
func svcRule(t *testing.T, name string, open func(t *testing.T) domain.Leaderboard, start func() time.Time, body func(w *world)) {
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		body(newWorld(t, open(t), start()))
	})
}

func (w *world) view(citizenID string, q domain.LeaderboardQuery) domain.LeaderboardView {
	w.t.Helper()
	v, err := w.svc.View(ctx(w.t), citizenID, q)
	if err != nil {
		w.t.Fatalf("View(%q, %+v): %v", citizenID, q, err)
	}
	return v
}

func (w *world) credited(a domain.Action) { w.svc.ActionCredited(ctx(w.t), a) }

func runView(t *testing.T, open func(t *testing.T) domain.Leaderboard) {
	svcRule(t, "View refuses invalid queries, naming every invalid field", open, recently, func(w *world) {
		valid := domain.LeaderboardQuery{Period: domain.PeriodWeek, Limit: 10, Neighbours: 2}
		cases := []struct {
			name   string
			change func(q *domain.LeaderboardQuery)
			fields map[string]string // field -> code
		}{
			{"unknown period", func(q *domain.LeaderboardQuery) { q.Period = "year" }, map[string]string{"period": "unknown_period"}},
			{"no period", func(q *domain.LeaderboardQuery) { q.Period = "" }, map[string]string{"period": "unknown_period"}},
			{"period in capitals", func(q *domain.LeaderboardQuery) { q.Period = "DAY" }, map[string]string{"period": "unknown_period"}},
			{"unknown district", func(q *domain.LeaderboardQuery) { q.District = "hangzhou" }, map[string]string{"district": "unknown_district"}},
			{"district by name", func(q *domain.LeaderboardQuery) { q.District = "吴兴区" }, map[string]string{"district": "unknown_district"}},
			{"limit 0", func(q *domain.LeaderboardQuery) { q.Limit = 0 }, map[string]string{"limit": "out_of_range"}},
			{"limit -1", func(q *domain.LeaderboardQuery) { q.Limit = -1 }, map[string]string{"limit": "out_of_range"}},
			{"limit 101", func(q *domain.LeaderboardQuery) { q.Limit = 101 }, map[string]string{"limit": "out_of_range"}},
			{"neighbours -1", func(q *domain.LeaderboardQuery) { q.Neighbours = -1 }, map[string]string{"neighbours": "out_of_range"}},
			{"neighbours 11", func(q *domain.LeaderboardQuery) { q.Neighbours = 11 }, map[string]string{"neighbours": "out_of_range"}},
			{"everything", func(q *domain.LeaderboardQuery) {
				*q = domain.LeaderboardQuery{Period: "decade", District: "nowhere", Limit: 101, Neighbours: 11}
			}, map[string]string{"period": "unknown_period", "district": "unknown_district", "limit": "out_of_range", "neighbours": "out_of_range"}},
		}
		for _, c := range cases {
			q := valid
			c.change(&q)
			_, err := w.svc.View(ctx(w.t), "someone", q)
			var de *domain.Error
			if !errors.As(err, &de) || de.Kind != domain.KindInvalid {
				w.t.Errorf("%s: View(%+v) = %v; want a domain error of kind invalid", c.name, q, err)
				continue
			}
			got := map[string]string{}
			for _, f := range de.Fields {
				got[f.Field] = f.Code
				if f.Message == "" {
					w.t.Errorf("%s: field %q has no message", c.name, f.Field)
				}
			}
			if len(got) != len(c.fields) || len(de.Fields) != len(c.fields) {
				w.t.Errorf("%s: fields %+v; want %v", c.name, de.Fields, c.fields)
				continue
			}
			for f, code := range c.fields {
				if got[f] != code {
					w.t.Errorf("%s: field %q has code %q; want %q", c.name, f, got[f], code)
				}
			}
		}
		for _, q := range []domain.LeaderboardQuery{
			{Period: domain.PeriodDay, Limit: 1, Neighbours: 0},
			{Period: domain.PeriodWeek, Limit: domain.MaxBoardLimit, Neighbours: domain.MaxBoardNeighbours},
			{Period: domain.PeriodMonth, District: anji, Limit: 50, Neighbours: 5},
			{Period: domain.PeriodAll, District: wuxing, Limit: 20, Neighbours: 1},
		} {
			v := w.view("someone", q)
			if v.Page.Ranked != 0 || len(v.Page.Top) != 0 || v.Page.Me == nil || v.Page.Me.Rank != 0 || v.District != q.District {
				w.t.Errorf("View(%+v) of empty boards = %+v", q, v)
			}
		}
		if v := w.view("", valid); v.Page.Me != nil {
			w.t.Errorf("View without a citizen: Me = %s, want nil", fmtStanding(v.Page.Me))
		}
	})
}

// boundary is a credit at a local time and the period instances it must count in.
type boundary struct {
	at               string // RFC 3339, Shanghai time
	day, week, month string
}

var boundaries = []boundary{
	// A day ends at Shanghai midnight, 16:00 UTC: these two are one UTC day.
	{"2026-11-27T23:59:59.999+08:00", "day:2026-11-27", "week:2026-W48", "month:2026-11"},
	{"2026-11-28T00:00:00+08:00", "day:2026-11-28", "week:2026-W48", "month:2026-11"},
	// A week ends on Sunday night.
	{"2026-11-29T23:59:59+08:00", "day:2026-11-29", "week:2026-W48", "month:2026-11"},
	{"2026-11-30T00:00:00+08:00", "day:2026-11-30", "week:2026-W49", "month:2026-11"},
	// A month ends mid-week.
	{"2026-11-30T23:59:59.999+08:00", "day:2026-11-30", "week:2026-W49", "month:2026-11"},
	{"2026-12-01T00:00:00+08:00", "day:2026-12-01", "week:2026-W49", "month:2026-12"},
	// 2026 has 53 ISO weeks: W53 runs from Monday 28 December to Sunday 3 January.
	{"2026-12-27T23:59:59.999+08:00", "day:2026-12-27", "week:2026-W52", "month:2026-12"},
	{"2026-12-28T00:00:00+08:00", "day:2026-12-28", "week:2026-W53", "month:2026-12"},
	{"2026-12-31T23:59:59.999+08:00", "day:2026-12-31", "week:2026-W53", "month:2026-12"},
	{"2027-01-01T00:00:00+08:00", "day:2027-01-01", "week:2026-W53", "month:2027-01"},
	{"2027-01-03T23:59:59.999+08:00", "day:2027-01-03", "week:2026-W53", "month:2027-01"},
	{"2027-01-04T00:00:00+08:00", "day:2027-01-04", "week:2027-W01", "month:2027-01"},
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func runPeriods(t *testing.T, open func(t *testing.T) domain.Leaderboard) {
	first := func() time.Time { return mustTime(boundaries[0].at).Add(-time.Hour) }
	svcRule(t, "credits count in the Asia/Shanghai day, ISO week and month they were made in", open, first, func(w *world) {
		m := newModel()
		var cs []domain.Citizen
		for i, b := range boundaries {
			at := mustTime(b.at)
			w.clock.Set(at)
			c := w.citizen("b"+entryID("", i), "")
			cs = append(cs, c)
			a := w.act(c.ID, int64(100*(i+1)), at)
			w.clock.Advance(time.Millisecond)
			w.credited(a)
			m.setMembers([]domain.BoardMember{{CitizenID: c.ID, Nickname: c.Nickname, Version: c.Version}})
			m.apply([]domain.BoardCredit{{EntryID: a.LedgerEntryID, CitizenID: c.ID, CO2eGrams: a.CO2eGrams, At: at,
				Instances: []domain.BoardInstance{{ID: b.day}, {ID: b.week}, {ID: b.month}, {ID: "all"}}}})
		}
		w.checkBoards("boundaries", w.lb, m, idsOf(cs))
		// View shows the period of its clock.
		for i, b := range boundaries {
			w.clock.Set(mustTime(b.at))
			for p, id := range map[domain.Period]string{domain.PeriodDay: b.day, domain.PeriodWeek: b.week, domain.PeriodMonth: b.month, domain.PeriodAll: "all"} {
				q := domain.LeaderboardQuery{Period: p, Limit: domain.MaxBoardLimit, Neighbours: 1}
				v := w.view(cs[i].ID, q)
				if v.Span.ID != id || v.Span.Period != p {
					w.t.Errorf("View(%s) at %s: span %s (%s); want %s", p, b.at, v.Span.ID, v.Span.Period, id)
				}
				want := m.query(domain.BoardQuery{Board: domain.BoardID{Instance: id}, Limit: q.Limit, CitizenID: cs[i].ID, Neighbours: 1})
				if d := diffPages(want, v.Page); d != "" {
					w.t.Errorf("View(%s) at %s:\n%s", p, b.at, d)
				}
			}
		}
	})
}

func runDelivery(t *testing.T, open func(t *testing.T) domain.Leaderboard) {
	svcRule(t, "ActionCredited ranks the action at once, under the citizen's nickname", open, recently, func(w *world) {
		a := w.citizen("小绿", wuxing)
		b := w.citizen("Bike", nanxun)
		w.clock.Advance(time.Minute)
		w.credited(w.act(a.ID, 300, w.clock.Now()))
		w.clock.Advance(time.Second)
		w.credited(w.act(b.ID, 200, w.clock.Now()))
		w.clock.Advance(time.Second)
		w.checkBoards("after two actions", w.lb, w.expected(), idsOf([]domain.Citizen{a, b}))
		v := w.view(b.ID, domain.LeaderboardQuery{Period: domain.PeriodDay, Limit: 10, Neighbours: 1})
		want := ranked(1, domain.BoardRow{CitizenID: a.ID, Nickname: "小绿", CO2eGrams: 300}, domain.BoardRow{CitizenID: b.ID, Nickname: "Bike", CO2eGrams: 200})
		if !sameRows(want, v.Page.Top) || v.Page.Me == nil || v.Page.Me.Rank != 2 || !sameRows(want[:1], v.Page.Me.Above) {
			w.t.Errorf("View(day) for B = top %s, me %s; want %s with B second", fmtRows(v.Page.Top), fmtStanding(v.Page.Me), fmtRows(want))
		}
		v = w.view(b.ID, domain.LeaderboardQuery{Period: domain.PeriodWeek, District: wuxing, Limit: 10})
		if !sameRows(want[:1], v.Page.Top) || v.Page.Me == nil || v.Page.Me.Rank != 0 || v.Page.Me.CO2eGrams != 200 {
			w.t.Errorf("View(week, wuxing) for B = top %s, me %s; want only A, B unranked with 200 g", fmtRows(v.Page.Top), fmtStanding(v.Page.Me))
		}
	})

	svcRule(t, "ActionCredited leaves out what moved no CO2e or is too old to count once", open, recently, func(w *world) {
		a := w.citizen("A", "")
		w.clock.Advance(domain.BoardDedupWindow + time.Hour)
		now := w.clock.Now()
		pending := domain.Action{ID: w.id(now), CitizenID: a.ID, Status: domain.ActionPendingReview, RecordedAt: now}
		w.credited(pending)
		w.credited(w.act(a.ID, 0, now)) // points only
		old := w.act(a.ID, 500, now.Add(-domain.BoardDedupWindow-time.Minute))
		w.credited(old)
		v := w.view(a.ID, domain.LeaderboardQuery{Period: domain.PeriodAll, Limit: 10})
		if v.Page.Ranked != 0 || v.Page.Me == nil || v.Page.Me.CO2eGrams != 0 {
			w.t.Errorf("after actions that are not to be delivered: %d ranked, me %s; want nothing", v.Page.Ranked, fmtStanding(v.Page.Me))
		}
		// The old one is the rebuild's.
		w.rebuild("rebuild", w.svc)
		w.checkBoards("after a rebuild", w.lb, w.expected(), []string{a.ID})
		if v := w.view(a.ID, domain.LeaderboardQuery{Period: domain.PeriodAll, Limit: 10}); v.Page.Me == nil || v.Page.Me.CO2eGrams != 500 {
			w.t.Errorf("after a rebuild: me %s; want 500 g", fmtStanding(v.Page.Me))
		}
	})

	svcRule(t, "a credit of a citizen the store does not know stays unranked", open, recently, func(w *world) {
		a := w.citizen("A", "")
		ghost := w.id(w.clock.Now())
		w.clock.Advance(time.Minute)
		w.credited(w.act(ghost, 900, w.clock.Now()))
		w.credited(w.act(a.ID, 100, w.clock.Now()))
		w.checkBoards("ghost", w.lb, w.expected(), []string{a.ID, ghost})
		v := w.view(ghost, domain.LeaderboardQuery{Period: domain.PeriodDay, Limit: 10})
		if v.Page.Ranked != 1 || v.Page.Me == nil || v.Page.Me.Rank != 0 || v.Page.Me.CO2eGrams != 900 {
			w.t.Errorf("ghost: %d ranked, me %s; want only A ranked, the ghost unranked with 900 g", v.Page.Ranked, fmtStanding(v.Page.Me))
		}
	})

	svcRule(t, "a reversal takes the CO2e back from the period of the action it reverses", open, recently, func(w *world) {
		a := w.citizen("A", wuxing)
		b := w.citizen("B", wuxing)
		c := w.citizen("C", "")
		ids := idsOf([]domain.Citizen{a, b, c})
		now := w.clock.Now()
		// Yesterday's actions (30 hours back: another Shanghai day for sure).
		yesterday := now.Add(-30 * time.Hour)
		actA := w.act(a.ID, 500, yesterday)
		w.act(b.ID, 300, yesterday.Add(time.Second))
		w.act(a.ID, 50, yesterday.Add(2*time.Second))
		actC := w.act(c.ID, 200, yesterday.Add(3*time.Second))
		w.catchUp("first catch-up") // rebuilds: no watermark yet
		day := domain.SpanOf(domain.PeriodDay, yesterday).ID
		today := domain.SpanOf(domain.PeriodDay, now).ID
		m := w.expected()
		if got := m.query(domain.BoardQuery{Board: domain.BoardID{Instance: day}, Limit: 10}); got.Ranked != 3 {
			w.t.Fatalf("the model ranks %d on %s before the reversal; the test is wrong", got.Ranked, day)
		}
		w.checkBoards("before the reversal", w.lb, m, ids)

		w.clock.Advance(time.Minute)
		w.reverse(actA, w.clock.Now())
		w.reverse(actC, w.clock.Now())
		w.clock.Advance(time.Second)
		w.credited(w.act(a.ID, 100, w.clock.Now()))
		w.clock.Advance(time.Minute)
		w.catchUp("catch-up after the reversal")
		m = w.expected()
		w.checkBoards("after the reversal", w.lb, m, ids)
		wantRows := func(instance string, want ...domain.BoardRow) {
			w.t.Helper()
			p, err := w.lb.Query(ctx(w.t), domain.BoardQuery{Board: domain.BoardID{Instance: instance}, Limit: 10, CitizenID: a.ID})
			if err != nil {
				w.t.Fatal(err)
			}
			if !sameRows(ranked(1, want...), p.Top) {
				w.t.Errorf("%s after the reversal: %s; want %s", instance, fmtRows(p.Top), fmtRows(ranked(1, want...)))
			}
		}
		wantRows(day, domain.BoardRow{CitizenID: b.ID, Nickname: "B", CO2eGrams: 300}, domain.BoardRow{CitizenID: a.ID, Nickname: "A", CO2eGrams: 50})
		wantRows(today, domain.BoardRow{CitizenID: a.ID, Nickname: "A", CO2eGrams: 100})

		fresh := open(w.t)
		w.rebuild("rebuild from scratch", w.serviceOn(fresh, w.svc.Retention))
		w.checkBoards("rebuilt from scratch after the reversal", fresh, m, ids)
	})

	svcRule(t, "an action delivered again after a rebuild counts once", open, recently, func(w *world) {
		a := w.citizen("A", "")
		act := w.act(a.ID, 100, w.clock.Now())
		w.credited(act)
		w.clock.Advance(10 * time.Minute)
		w.rebuild("nightly rebuild", w.svc)
		// The client retries the request; ActionService replays it and notifies.
		w.credited(act)
		w.checkBoards("after a replay", w.lb, w.expected(), []string{a.ID})
	})
}

func runCatchUp(t *testing.T, open func(t *testing.T) domain.Leaderboard) {
	svcRule(t, "lost and repeated deliveries plus catch-up match the ledger, and so does a rebuild from scratch", open, recently, func(w *world) {
		districts := append([]string{""}, districtCodes()...)
		var cs []domain.Citizen
		for i := range 9 {
			nickname := "绿友" + entryID("", i)
			if i == 0 {
				nickname = "" // shown under a derived name
			}
			c := w.citizen(nickname, districts[i%len(districts)])
			if i == 1 {
				w.update(&c, func(c *domain.Citizen) { c.LeaderboardOptOut = true }, false)
			}
			cs = append(cs, c)
		}
		ghost := w.id(w.clock.Now()) // credited, but not in the store
		who := func() string {
			if w.rng.IntN(30) == 0 {
				return ghost
			}
			return cs[w.rng.IntN(len(cs))].ID
		}
		grams := func() int64 { return []int64{100, 200, 300, 1 + w.rng.Int64N(500)}[w.rng.IntN(4)] }
		ids := idsOf(cs, ghost)

		// History: five days of actions (none expired with a retention of a
		// week), a few reversed, before the boards exist.
		start := w.clock.Now()
		var acts []domain.Action
		for range 60 {
			at := start.Add(-time.Hour - time.Duration(w.rng.Int64N(int64(5*24*time.Hour))))
			acts = append(acts, w.act(who(), grams(), at))
		}
		reversed := map[string]bool{}
		for range 6 {
			a := acts[w.rng.IntN(len(acts))]
			if !reversed[a.ID] {
				reversed[a.ID] = true
				w.reverse(a, a.RecordedAt.Add(time.Duration(w.rng.Int64N(max(1, int64(start.Add(-time.Hour).Sub(a.RecordedAt)))))))
			}
		}
		if rep := w.catchUp("first catch-up"); rep.Rebuilt == nil {
			w.t.Fatalf("the first catch-up on new boards did not rebuild: %+v", rep)
		}
		w.checkBoards("after the first catch-up", w.lb, w.expected(), ids)

		// Live: deliveries once, twice, late or never; reversals and profile
		// changes in between; a catch-up now and then.
		var late []domain.Action
		erased := false
		for i := range 150 {
			w.clock.Advance(time.Duration(2+w.rng.IntN(18)) * time.Second)
			now := w.clock.Now()
			switch r := w.rng.IntN(100); {
			case r < 4:
				c := &cs[w.rng.IntN(len(cs))]
				if c.ErasedAt != nil {
					break
				}
				w.update(c, func(c *domain.Citizen) {
					switch w.rng.IntN(3) {
					case 0:
						c.District = districts[w.rng.IntN(len(districts))]
					case 1:
						c.LeaderboardOptOut = !c.LeaderboardOptOut
					default:
						c.Nickname = "改名" + entryID("", i)
					}
				}, true)
			case r < 9:
				a := acts[w.rng.IntN(len(acts))]
				if !reversed[a.ID] {
					reversed[a.ID] = true
					w.reverse(a, now) // reaches the boards by catch-up only
				}
			case r < 10 && !erased && i > 50:
				erased = true
				c := &cs[2]
				w.update(c, func(c *domain.Citizen) { c.Erase(now) }, true)
			default:
				a := w.act(who(), grams(), now)
				acts = append(acts, a)
				switch d := w.rng.IntN(100); {
				case d < 55:
					w.credited(a)
				case d < 70:
					w.credited(a)
					w.credited(a)
				case d < 85:
					w.credited(a)
					late = append(late, a)
				default: // lost
				}
			}
			if len(late) > 0 && w.rng.IntN(6) == 0 {
				j := w.rng.IntN(len(late))
				w.credited(late[j])
				late = slices.Delete(late, j, j+1)
			}
			if i%50 == 49 {
				if rep := w.catchUp("catch-up"); rep.Rebuilt != nil {
					w.t.Fatalf("catch-up %d minutes after the last one rebuilt: %+v", 10, rep)
				}
			}
		}
		w.clock.Advance(time.Second)
		w.catchUp("last catch-up")
		m := w.expected()
		w.checkBoards("after the last catch-up", w.lb, m, ids)

		// Deliveries after the catch-up, and catching up again, change nothing.
		for _, a := range late {
			w.credited(a)
		}
		for range 10 {
			w.credited(acts[len(acts)-1-w.rng.IntN(min(len(acts), 40))])
		}
		w.clock.Advance(time.Second)
		w.catchUp("catch-up again")
		w.checkBoards("after late deliveries and another catch-up", w.lb, m, ids)

		// Boards wiped (a new Redis): a rebuild gives the same pages.
		fresh := open(w.t)
		svc := w.serviceOn(fresh, w.svc.Retention)
		rep := w.rebuild("rebuild from scratch", svc)
		_, entries := w.store.snapshotOf()
		if rep.Entries != len(entries) || rep.Citizens != len(cs) {
			w.t.Errorf("rebuild report %+v; want %d entries and %d citizens", rep, len(entries), len(cs))
		}
		w.checkBoards("rebuilt from scratch", fresh, m, ids)
		for _, b := range m.boards(districtCodes()) {
			q := domain.BoardQuery{Board: b, Limit: topLimit}
			p1, err1 := w.lb.Query(ctx(w.t), q)
			p2, err2 := fresh.Query(ctx(w.t), q)
			if err := errors.Join(err1, err2); err != nil {
				w.t.Fatal(err)
			}
			if d := diffPages(p1, p2); d != "" {
				w.t.Errorf("board %s: rebuilt (got) and incremental (want) differ:\n%s", fmtBoard(b), d)
			}
		}
	})
}

func runServiceMembers(t *testing.T, open func(t *testing.T) domain.Leaderboard) {
	svcRule(t, "opting out hides the citizen at once; opting in restores them", open, recently, func(w *world) {
		a := w.citizen("A", wuxing)
		b := w.citizen("B", wuxing)
		w.clock.Advance(time.Minute)
		w.credited(w.act(a.ID, 300, w.clock.Now()))
		w.credited(w.act(b.ID, 200, w.clock.Now()))
		ids := idsOf([]domain.Citizen{a, b})
		w.update(&a, func(c *domain.Citizen) { c.LeaderboardOptOut = true }, true)
		optedOut := a
		m := w.expected()
		if m.query(domain.BoardQuery{Board: domain.BoardID{Instance: "all"}, Limit: 10}).Ranked != 1 {
			w.t.Fatal("the model still ranks A; the test is wrong")
		}
		w.checkBoards("opted out", w.lb, m, ids)
		w.update(&a, func(c *domain.Citizen) { c.LeaderboardOptOut = false; c.District = nanxun }, true)
		w.checkBoards("opted in and moved", w.lb, w.expected(), ids)
		// A late notification of the older profile changes nothing.
		if err := w.svc.MemberChanged(ctx(w.t), optedOut); err != nil {
			w.t.Fatal(err)
		}
		w.checkBoards("after a stale notification", w.lb, w.expected(), ids)
	})

	svcRule(t, "erased citizens are hidden after a rebuild", open, recently, func(w *world) {
		a := w.citizen("A", wuxing)
		b := w.citizen("B", wuxing)
		w.clock.Advance(time.Minute)
		w.credited(w.act(a.ID, 300, w.clock.Now()))
		w.credited(w.act(b.ID, 200, w.clock.Now()))
		// Erased without the boards hearing of it (the notification failed).
		w.update(&a, func(c *domain.Citizen) { c.Erase(w.clock.Now()) }, false)
		w.clock.Advance(time.Minute)
		w.rebuild("rebuild", w.svc)
		m := w.expected()
		if m.query(domain.BoardQuery{Board: domain.BoardID{Instance: "all"}, Limit: 10}).Ranked != 1 {
			w.t.Fatal("the model still ranks the erased citizen; the test is wrong")
		}
		w.checkBoards("after erasure and rebuild", w.lb, m, idsOf([]domain.Citizen{a, b}))
		fresh := open(w.t)
		w.rebuild("rebuild from scratch", w.serviceOn(fresh, w.svc.Retention))
		w.checkBoards("rebuilt from scratch", fresh, m, idsOf([]domain.Citizen{a, b}))
	})

	svcRule(t, "citizens without a nickname are shown under a stable derived name", open, recently, func(w *world) {
		a := w.citizen("", "")
		b := w.citizen("", "")
		c := w.citizen("小绿", "")
		w.clock.Advance(time.Minute)
		for i, x := range []domain.Citizen{a, b, c} {
			w.credited(w.act(x.ID, int64(300-100*i), w.clock.Now()))
		}
		p, err := w.lb.Query(ctx(w.t), domain.BoardQuery{Board: domain.BoardID{Instance: "all"}, Limit: 10})
		if err != nil {
			w.t.Fatal(err)
		}
		want := ranked(1,
			domain.BoardRow{CitizenID: a.ID, Nickname: domain.DisplayName(a), CO2eGrams: 300},
			domain.BoardRow{CitizenID: b.ID, Nickname: domain.DisplayName(b), CO2eGrams: 200},
			domain.BoardRow{CitizenID: c.ID, Nickname: "小绿", CO2eGrams: 100})
		if !sameRows(want, p.Top) {
			w.t.Errorf("rows %s; want %s", fmtRows(p.Top), fmtRows(want))
		}
		for _, x := range []domain.Citizen{a, b} {
			name := domain.DisplayName(x)
			if !strings.HasPrefix(name, "绿友") || utf8.RuneCountInString(name) != 6 || strings.Contains(name, x.ID) || strings.Contains(name, x.Phone) {
				w.t.Errorf("DisplayName of %s = %q; want 绿友 and four characters, neither ID nor phone", x.ID, name)
			}
			if again := domain.DisplayName(x); again != name {
				w.t.Errorf("DisplayName of %s changed from %q to %q", x.ID, name, again)
			}
		}
		if domain.DisplayName(a) == domain.DisplayName(b) {
			w.t.Logf("two citizens share the derived name %q (about one in a million)", domain.DisplayName(a))
		}
		if got := domain.DisplayName(c); got != "小绿" {
			w.t.Errorf("DisplayName of a citizen with a nickname = %q, want the nickname", got)
		}
		// Changing the derivation renames every citizen without a nickname.
		if got, want := domain.DisplayName(domain.Citizen{ID: "01KB0000000000000000000000"}), "绿友J7QA"; got != want {
			w.t.Errorf("DisplayName of a fixed ID = %q, want %q as before", got, want)
		}
		// A rebuild shows the same names.
		fresh := open(w.t)
		w.rebuild("rebuild from scratch", w.serviceOn(fresh, w.svc.Retention))
		w.checkBoards("rebuilt from scratch", fresh, w.expected(), idsOf([]domain.Citizen{a, b, c}))
	})
}

func runMaintenance(t *testing.T, open func(t *testing.T) domain.Leaderboard) {
	svcRule(t, "catch-up rebuilds boards without a watermark or too far behind, and moves the watermark", open, recently, func(w *world) {
		a := w.citizen("A", "")
		w.act(a.ID, 100, w.clock.Now().Add(-time.Hour))
		w.clock.Advance(time.Minute)
		rep := w.catchUp("first catch-up")
		if rep.Rebuilt == nil || rep.Rebuilt.Entries != 1 || rep.Rebuilt.Citizens != 1 {
			w.t.Errorf("first catch-up: %+v, rebuilt %+v; want a rebuild of 1 entry and 1 citizen", rep, rep.Rebuilt)
		}
		wantWatermark := func(what string) {
			w.t.Helper()
			wm, err := w.lb.Watermark(ctx(w.t))
			if err != nil {
				w.t.Fatal(err)
			}
			if !wm.Equal(w.clock.Now()) {
				w.t.Errorf("%s: watermark %v, want the clock's %v", what, wm.UTC(), w.clock.Now())
			}
		}
		wantWatermark("after the first catch-up")
		w.clock.Advance(time.Minute)
		w.act(a.ID, 10, w.clock.Now()) // lost delivery
		w.clock.Advance(time.Minute)
		if rep := w.catchUp("second catch-up"); rep.Rebuilt != nil || rep.Entries != 1 {
			w.t.Errorf("second catch-up: %+v; want 1 entry read and no rebuild", rep)
		}
		wantWatermark("after the second catch-up")
		w.checkBoards("after catching up", w.lb, w.expected(), []string{a.ID})
		w.clock.Advance(domain.BoardDedupWindow)
		if rep := w.catchUp("catch-up after six hours"); rep.Rebuilt == nil {
			w.t.Errorf("catch-up six hours after the last one: %+v; want a rebuild", rep)
		}
		wantWatermark("after the third catch-up")
		w.checkBoards("after a rebuild", w.lb, w.expected(), []string{a.ID})
	})

	svcRule(t, "Rebuild and CatchUp return ErrBoardsBusy while maintenance runs", open, recently, func(w *world) {
		a := w.citizen("A", "")
		w.credited(w.act(a.ID, 100, w.clock.Now()))
		release, done := w.holdRebuild()
		if _, err := w.svc.CatchUp(ctx(w.t)); !errors.Is(err, domain.ErrBoardsBusy) {
			w.t.Errorf("CatchUp during a rebuild: %v; want ErrBoardsBusy", err)
		}
		if _, err := w.svc.Rebuild(ctx(w.t)); !errors.Is(err, domain.ErrBoardsBusy) {
			w.t.Errorf("Rebuild during a rebuild: %v; want ErrBoardsBusy", err)
		}
		close(release)
		if err := <-done; err != nil {
			w.t.Fatalf("the held rebuild: %v", err)
		}
		w.clock.Advance(time.Minute)
		w.catchUp("catch-up after the rebuild")
		w.checkBoards("after the rebuild", w.lb, w.expected(), []string{a.ID})
	})

	svcRule(t, "with RebuildWait a rebuild waits for maintenance in progress", open, recently, func(w *world) {
		a := w.citizen("A", "")
		w.credited(w.act(a.ID, 100, w.clock.Now()))
		release, done := w.holdRebuild()
		waiting := *w.svc
		waiting.RebuildWait = time.Minute
		second := make(chan error)
		go func() {
			_, err := waiting.Rebuild(ctx(w.t))
			second <- err
		}()
		time.Sleep(300 * time.Millisecond) // the second rebuild is polling the lock by now
		close(release)
		if err := <-done; err != nil {
			w.t.Fatalf("the held rebuild: %v", err)
		}
		if err := <-second; err != nil {
			w.t.Fatalf("the waiting rebuild: %v; want it to run once the lock was free", err)
		}
		w.checkBoards("after both rebuilds", w.lb, w.expected(), []string{a.ID})
	})
}

// holdRebuild starts a rebuild that stops inside its first store scan, holding
// the maintenance lock, until release is closed; done then gives its result.
func (w *world) holdRebuild() (release chan struct{}, done chan error) {
	entered := make(chan struct{})
	release, done = make(chan struct{}), make(chan error)
	var once atomic.Bool
	w.store.beforeScanCitizens = func() {
		if once.CompareAndSwap(false, true) {
			close(entered)
			<-release
		}
	}
	go func() {
		_, err := w.svc.Rebuild(ctx(w.t))
		done <- err
	}()
	<-entered
	return release, done
}
