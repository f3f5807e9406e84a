// Package leaderboardtest is the contract every domain.Leaderboard adapter must
// meet (Run), and the behaviour of domain.LeaderboardService on top of it
// (RunService). Each adapter's tests call both, so the in-process and Redis boards
// are held to exactly the same rules, through the port only.
//
// Conventions the suite relies on:
//   - open returns a fresh, empty board for every subtest and arranges its own
//     cleanup (t.Cleanup); the suite never closes anything. Subtests run in
//     parallel, so open must be safe to call concurrently, and boards opened by
//     different subtests must not see each other (a key prefix per board, say).
//   - Adapters keep their own clock (the wall clock in production) for the dedup
//     window and for instances' Expires. The suite therefore builds every time from
//     time.Now(): credits are stamped within the last few hours, and instances
//     expire hours ahead unless a rule is about expiry. An adapter under test must
//     run on the wall clock (time.Now), not a frozen one.
//   - Times are at millisecond precision, as the stores keep them and as the
//     service passes them; reached times a millisecond apart must order apart.
//   - Instance IDs are opaque to adapters; the suite uses realistic ones.
//   - Slices are compared by content: an empty result may be nil or empty.
//   - Beyond the port comments, the suite pins down these choices so that adapters
//     agree: a citizen's reached time is the latest At of all their applied
//     entries, reversals included; Apply returns every citizen of the call that has
//     no member record (also when their credits were refused as duplicates, so an
//     introduction that failed is retried on the next delivery), in any order,
//     repeats allowed; a citizen with a member record (hidden or not) is not
//     unknown; an EntryID is refused as a whole on redelivery, whatever instances
//     the second delivery names; a credit stamped before the dedup window is applied
//     like any other (Apply must not fail on it); SetMembers applies a member whose
//     Version equals the recorded one (only lower ones are ignored), and a first
//     member record at any version, 0 included; Apply and SetMembers with nothing
//     to do succeed; an instance past its Expires is gone entirely (top, count and
//     standings), and credits naming it add nothing; Replace also replaces the
//     member records and the dedup memory (entries not in snap.Applied apply again)
//     and sets the watermark to snap.Watermark even if that is earlier.
//   - RunService takes only the boards from open: the store (citizens and ledger),
//     lock, clock and logger are small fakes of the suite's (fakes.go), so the
//     suite imports no adapter. Some of its tests open a second board to rebuild
//     from scratch.
//   - The randomised tests draw their seed from SeedEnv when set, so a failure
//     can be replayed; they log the seed they used.
//   - naive_test.go holds a sort-per-query board that passes both suites, the
//     executable form of the rules; faults_test.go breaks it on purpose to prove
//     each rule is checked (LEADERBOARDTEST_FAULTS=1).
package leaderboardtest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Run runs the Leaderboard contract against the boards that open returns.
func Run(t *testing.T, open func(t *testing.T) domain.Leaderboard) {
	t.Run("ordering", func(t *testing.T) { runOrdering(t, open) })
	t.Run("credits", func(t *testing.T) { runCredits(t, open) })
	t.Run("instances", func(t *testing.T) { runInstances(t, open) })
	t.Run("members", func(t *testing.T) { runMembers(t, open) })
	t.Run("query", func(t *testing.T) { runQuery(t, open) })
	t.Run("replace", func(t *testing.T) { runReplace(t, open) })
	t.Run("atomicity", func(t *testing.T) { runAtomicity(t, open) })
	t.Run("model", func(t *testing.T) { runModel(t, open) })
}

// expiryTimeout bounds how long the suite waits for an instance to expire;
// generous, because a loaded CI machine running -race can stall for a long time.
const expiryTimeout = 10 * time.Second

// topLimit is the Limit the suite asks for when it wants a whole board: the most
// the service ever asks for, and more than any board of the suite ranks.
const topLimit = domain.MaxBoardLimit

// Districts used by the suite.
const (
	wuxing = "wuxing"
	nanxun = "nanxun"
	anji   = "anji"
)

// fx is one subtest's board and the times and instances it credits in.
type fx struct {
	t    *testing.T
	lb   domain.Leaderboard
	base time.Time // an hour ago, at millisecond precision
	// Instances expiring two hours from now, and all time.
	day, week, month, all domain.BoardInstance
}

func newFx(t *testing.T, lb domain.Leaderboard) *fx {
	now := time.Now().UTC().Truncate(time.Millisecond)
	exp := now.Add(2 * time.Hour)
	return &fx{
		t: t, lb: lb, base: now.Add(-time.Hour),
		day:   domain.BoardInstance{ID: "day:2026-11-27", Expires: exp},
		week:  domain.BoardInstance{ID: "week:2026-W48", Expires: exp},
		month: domain.BoardInstance{ID: "month:2026-11", Expires: exp.Add(time.Hour)},
		all:   domain.BoardInstance{ID: "all"},
	}
}

// rule runs one rule as a parallel subtest on a fresh board.
func rule(t *testing.T, name string, open func(t *testing.T) domain.Leaderboard, body func(f *fx)) {
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		body(newFx(t, open(t)))
	})
}

func ctx(t *testing.T) context.Context { return t.Context() }

// at is the subtest's base time plus d.
func (f *fx) at(d time.Duration) time.Time { return f.base.Add(d) }

// credit is one ledger entry's credit, stamped base+at, counting in ins (all time
// when none is given).
func (f *fx) credit(entry, citizen string, grams int64, at time.Duration, ins ...domain.BoardInstance) domain.BoardCredit {
	if len(ins) == 0 {
		ins = []domain.BoardInstance{f.all}
	}
	return domain.BoardCredit{EntryID: entry, CitizenID: citizen, CO2eGrams: grams, At: f.at(at), Instances: ins}
}

func (f *fx) apply(credits ...domain.BoardCredit) []string {
	f.t.Helper()
	unknown, err := f.lb.Apply(ctx(f.t), credits)
	if err != nil {
		f.t.Fatalf("Apply(%s): %v", fmtCredits(credits), err)
	}
	return unknown
}

func (f *fx) set(members ...domain.BoardMember) {
	f.t.Helper()
	if err := f.lb.SetMembers(ctx(f.t), members); err != nil {
		f.t.Fatalf("SetMembers(%+v): %v", members, err)
	}
}

// members returns a version-1 member record for each ID, nicknamed nick(id), in
// no district.
func members(ids ...string) []domain.BoardMember {
	out := make([]domain.BoardMember, len(ids))
	for i, id := range ids {
		out[i] = domain.BoardMember{CitizenID: id, Nickname: nick(id), Version: 1}
	}
	return out
}

func member(id, district string, version int64) domain.BoardMember {
	return domain.BoardMember{CitizenID: id, Nickname: nick(id), District: district, Version: version}
}

// nick is the nickname the suite gives citizen id unless a rule says otherwise.
func nick(id string) string { return "nick-" + id }

// city and district name the boards of an instance.
func city(in domain.BoardInstance) domain.BoardID { return domain.BoardID{Instance: in.ID} }
func district(in domain.BoardInstance, d string) domain.BoardID {
	return domain.BoardID{Instance: in.ID, District: d}
}

func (f *fx) query(q domain.BoardQuery) domain.BoardPage {
	f.t.Helper()
	p, err := f.lb.Query(ctx(f.t), q)
	if err != nil {
		f.t.Fatalf("Query(%+v): %v", q, err)
	}
	return p
}

// page is the whole of a board, with citizen's standing when citizen is not "".
func (f *fx) page(b domain.BoardID, citizen string, neighbours int) domain.BoardPage {
	f.t.Helper()
	p := f.query(domain.BoardQuery{Board: b, Limit: topLimit, CitizenID: citizen, Neighbours: neighbours})
	if (p.Me == nil) != (citizen == "") {
		f.t.Fatalf("Query(%s) for citizen %q: Me = %s; want it set exactly when the query names a citizen", fmtBoard(b), citizen, fmtStanding(p.Me))
	}
	return p
}

// standing is citizen's standing on b.
func (f *fx) standing(b domain.BoardID, citizen string, neighbours int) domain.BoardStanding {
	f.t.Helper()
	p := f.query(domain.BoardQuery{Board: b, Limit: 1, CitizenID: citizen, Neighbours: neighbours})
	if p.Me == nil {
		f.t.Fatalf("Query(%v) for citizen %q: Me is nil", b, citizen)
	}
	return *p.Me
}

// row is an expected row of citizen id with the suite's nickname; its rank is
// filled in from its position by wantBoard.
func row(id string, grams int64) domain.BoardRow {
	return domain.BoardRow{CitizenID: id, Nickname: nick(id), CO2eGrams: grams}
}

// ranked numbers rows from first.
func ranked(first int64, rows ...domain.BoardRow) []domain.BoardRow {
	out := slices.Clone(rows)
	for i := range out {
		out[i].Rank = first + int64(i)
	}
	return out
}

// wantBoard checks that board b ranks exactly want, in order.
func (f *fx) wantBoard(what string, b domain.BoardID, want ...domain.BoardRow) {
	f.t.Helper()
	p := f.page(b, "", 0)
	want = ranked(1, want...)
	if !sameRows(want, p.Top) || p.Ranked != int64(len(want)) {
		f.t.Errorf("%s: board %s:\n got %d ranked: %s\nwant %d ranked: %s",
			what, fmtBoard(b), p.Ranked, fmtRows(p.Top), len(want), fmtRows(want))
	}
}

// wantEmpty checks that board b ranks nobody.
func (f *fx) wantEmpty(what string, b domain.BoardID) {
	f.t.Helper()
	f.wantBoard(what, b)
}

// wantStanding checks citizen's standing on b: rank, score, and the citizens
// above and below (IDs, in rank order; their rows are checked against the top).
func (f *fx) wantStanding(what string, b domain.BoardID, citizen string, neighbours int, rank, grams int64, above, below []string) {
	f.t.Helper()
	p := f.page(b, citizen, neighbours)
	if p.Me == nil {
		f.t.Fatalf("%s: Query(%s) for %q: Me is nil", what, fmtBoard(b), citizen)
	}
	me := *p.Me
	if me.Rank != rank || me.CO2eGrams != grams {
		f.t.Errorf("%s: standing of %q on %s = rank %d, %d g; want rank %d, %d g",
			what, citizen, fmtBoard(b), me.Rank, me.CO2eGrams, rank, grams)
	}
	byID := map[string]domain.BoardRow{}
	for _, r := range p.Top {
		byID[r.CitizenID] = r
	}
	rowsOf := func(ids []string) []domain.BoardRow {
		out := make([]domain.BoardRow, len(ids))
		for i, id := range ids {
			r, ok := byID[id]
			if !ok {
				f.t.Fatalf("%s: expected neighbour %q is not on the top of %s", what, id, fmtBoard(b))
			}
			out[i] = r
		}
		return out
	}
	if wantAbove := rowsOf(above); !sameRows(wantAbove, me.Above) {
		f.t.Errorf("%s: above %q on %s (neighbours %d):\n got %s\nwant %s", what, citizen, fmtBoard(b), neighbours, fmtRows(me.Above), fmtRows(wantAbove))
	}
	if wantBelow := rowsOf(below); !sameRows(wantBelow, me.Below) {
		f.t.Errorf("%s: below %q on %s (neighbours %d):\n got %s\nwant %s", what, citizen, fmtBoard(b), neighbours, fmtRows(me.Below), fmtRows(wantBelow))
	}
}

// wantUnranked checks that citizen is not ranked on b but has grams there.
func (f *fx) wantUnranked(what string, b domain.BoardID, citizen string, grams int64) {
	f.t.Helper()
	f.wantStanding(what, b, citizen, 3, 0, grams, nil, nil)
}

func sameRows(a, b []domain.BoardRow) bool {
	return len(a) == len(b) && (len(a) == 0 || slices.Equal(a, b))
}

func fmtRows(rows []domain.BoardRow) string {
	parts := make([]string, len(rows))
	for i, r := range rows {
		parts[i] = fmt.Sprintf("#%d %s(%s) %dg", r.Rank, r.CitizenID, r.Nickname, r.CO2eGrams)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

func fmtBoard(b domain.BoardID) string {
	if b.District == "" {
		return b.Instance + "/city"
	}
	return b.Instance + "/" + b.District
}

func fmtCredits(cs []domain.BoardCredit) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		ids := make([]string, len(c.Instances))
		for j, in := range c.Instances {
			ids[j] = in.ID
		}
		parts[i] = fmt.Sprintf("%s:%s%+dg@%s%v", c.EntryID, c.CitizenID, c.CO2eGrams, c.At.UTC().Format("15:04:05.000"), ids)
	}
	return strings.Join(parts, " ")
}

func fmtStanding(s *domain.BoardStanding) string {
	if s == nil {
		return "<nil>"
	}
	return fmt.Sprintf("rank %d, %dg, above %s, below %s", s.Rank, s.CO2eGrams, fmtRows(s.Above), fmtRows(s.Below))
}

// diffPages describes how got differs from want, or returns "" when they agree.
func diffPages(want, got domain.BoardPage) string {
	var d []string
	if want.Ranked != got.Ranked {
		d = append(d, fmt.Sprintf("Ranked: got %d, want %d", got.Ranked, want.Ranked))
	}
	if !sameRows(want.Top, got.Top) {
		d = append(d, fmt.Sprintf("Top:\n   got %s\n  want %s", fmtRows(got.Top), fmtRows(want.Top)))
	}
	switch {
	case (want.Me == nil) != (got.Me == nil):
		d = append(d, fmt.Sprintf("Me: got %s, want %s", fmtStanding(got.Me), fmtStanding(want.Me)))
	case want.Me != nil:
		w, g := want.Me, got.Me
		if w.Rank != g.Rank || w.CO2eGrams != g.CO2eGrams || !sameRows(w.Above, g.Above) || !sameRows(w.Below, g.Below) {
			d = append(d, fmt.Sprintf("Me:\n   got %s\n  want %s", fmtStanding(g), fmtStanding(w)))
		}
	}
	return strings.Join(d, "\n")
}

// sameIDs reports whether got holds exactly the IDs of want, ignoring order and
// repeats.
func sameIDs(want, got []string) bool {
	a, b := slices.Clone(want), slices.Clone(got)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

// race runs f from n goroutines released at the same moment and returns their
// errors, indexed by goroutine.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return errs
}

func noErrs(t *testing.T, what string, errs []error) {
	t.Helper()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("%s: goroutine %d: %v", what, i, err)
		}
	}
}
