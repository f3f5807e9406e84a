package memory

import (
	"cmp"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/memory/ranking"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// These tests look inside the adapter, on a clock they move: that expired state
// really leaves memory, and that the boards always hold exactly what the members
// and scores say. The rules every adapter shares are in leaderboardtest.

func newFakeBoards(t *testing.T) (*Leaderboard, *fakeClock) {
	t.Helper()
	clock := &fakeClock{now: time.Date(2030, 1, 1, 8, 0, 0, 0, time.UTC)}
	return NewLeaderboard(clock.Now), clock
}

func mustApply(t *testing.T, l *Leaderboard, credits ...domain.BoardCredit) []string {
	t.Helper()
	unknown, err := l.Apply(context.Background(), credits)
	if err != nil {
		t.Fatal(err)
	}
	return unknown
}

func mustSet(t *testing.T, l *Leaderboard, members ...domain.BoardMember) {
	t.Helper()
	if err := l.SetMembers(context.Background(), members); err != nil {
		t.Fatal(err)
	}
}

func mustQuery(t *testing.T, l *Leaderboard, q domain.BoardQuery) domain.BoardPage {
	t.Helper()
	p, err := l.Query(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// consistent checks that every board holds exactly the visible citizens with a
// positive score in its instance (and district), that every tree is sound, and
// that every citizen is found by their ID.
func consistent(t *testing.T, l *Leaderboard) {
	t.Helper()
	l.mu.RLock()
	defer l.mu.RUnlock()
	b := l.boards
	c := &b.citizens
	for h, r := range c.recs {
		id := string(c.text.bytes(r.id))
		if got, ok := c.lookup(id); !ok || got != uint32(h) {
			t.Fatalf("citizen %q (handle %d) looks up as %d, %v", id, h, got, ok)
		}
	}
	for id, in := range b.instances {
		var city []ranking.Key
		byDistrict := map[uint32][]ranking.Key{}
		for h, s := range in.scores {
			r := c.recs[h]
			if !r.known || r.hidden || s.grams <= 0 {
				continue
			}
			city = append(city, boardKey(h, s))
			if r.district != 0 {
				byDistrict[r.district] = append(byDistrict[r.district], boardKey(h, s))
			}
		}
		same := func(board string, want []ranking.Key, tr *ranking.Tree) {
			t.Helper()
			// Sorted by a reference order on the citizens' ID strings.
			slices.SortFunc(want, func(a, b ranking.Key) int {
				switch {
				case a.Score != b.Score:
					return cmp.Compare(b.Score, a.Score)
				case a.At != b.At:
					return cmp.Compare(a.At, b.At)
				}
				return strings.Compare(string(c.text.bytes(c.recs[a.ID].id)), string(c.text.bytes(c.recs[b.ID].id)))
			})
			var got []ranking.Key
			if tr != nil {
				for _, k := range tr.Ascend(0) {
					got = append(got, k)
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("%s/%s holds %v, want %v", id, board, got, want)
			}
		}
		same("city", city, in.city)
		for d, keys := range byDistrict {
			same(c.districtNames[d], keys, in.districts[d])
		}
		for d, tr := range in.districts {
			if len(byDistrict[d]) == 0 {
				t.Fatalf("%s/%s: an empty district board is kept (%d keys)", id, c.districtNames[d], tr.Len())
			}
		}
	}
}

func TestBoardsFollowMembersAndScoresThroughRandomChanges(t *testing.T) {
	l, clock := newFakeBoards(t)
	r := rand.New(rand.NewPCG(7, 8))
	districts := []string{"", "wuxing", "nanxun", "anji"}
	ins := []domain.BoardInstance{{ID: "all"}, {ID: "month:2030-01", Expires: clock.Now().Add(30 * 24 * time.Hour)}}
	versions := map[string]int64{}
	for op := range 4000 {
		id := fmt.Sprintf("c%02d", r.IntN(40))
		switch r.IntN(4) {
		case 0:
			// Some updates are stale versions, which must change nothing.
			v := versions[id] + int64(r.IntN(3)) - 1
			versions[id] = max(versions[id], v)
			mustSet(t, l, domain.BoardMember{
				CitizenID: id, Nickname: "n" + id, District: districts[r.IntN(len(districts))],
				Hidden: r.IntN(5) == 0, Version: v,
			})
		default:
			// Small scores around zero, often tied, with reversals, and some
			// deliveries repeated.
			entry := fmt.Sprintf("e%d", op)
			if op > 0 && r.IntN(6) == 0 {
				entry = fmt.Sprintf("e%d", r.IntN(op))
			}
			mustApply(t, l, domain.BoardCredit{
				EntryID: entry, CitizenID: id, CO2eGrams: r.Int64N(7) - 2,
				At: clock.Now().Add(-time.Duration(r.IntN(4)) * time.Millisecond), Instances: ins[:1+r.IntN(2)],
			})
		}
		clock.Advance(time.Millisecond)
		if op%50 == 0 {
			consistent(t, l)
		}
	}
	consistent(t, l)
}

func TestExpiredInstancesLeaveMemory(t *testing.T) {
	l, clock := newFakeBoards(t)
	mustSet(t, l, domain.BoardMember{CitizenID: "a", Nickname: "A", Version: 1})
	day := domain.BoardInstance{ID: "day:2030-01-01", Expires: clock.Now().Add(time.Hour)}
	all := domain.BoardInstance{ID: "all"}
	mustApply(t, l, domain.BoardCredit{EntryID: "e1", CitizenID: "a", CO2eGrams: 10, At: clock.Now(), Instances: []domain.BoardInstance{day, all}})

	clock.Advance(time.Hour)
	p := mustQuery(t, l, domain.BoardQuery{Board: domain.BoardID{Instance: day.ID}, Limit: 10, CitizenID: "a", Neighbours: 1})
	if p.Ranked != 0 || len(p.Top) != 0 || p.Me == nil || p.Me.Rank != 0 || p.Me.CO2eGrams != 0 {
		t.Fatalf("expired instance answers %+v %+v", p, p.Me)
	}
	// The next write sweeps it, though nobody credits it again.
	mustApply(t, l, domain.BoardCredit{EntryID: "e2", CitizenID: "a", CO2eGrams: 1, At: clock.Now(), Instances: []domain.BoardInstance{all}})
	l.mu.RLock()
	_, kept := l.boards.instances[day.ID]
	n := len(l.boards.instances)
	l.mu.RUnlock()
	if kept || n != 1 {
		t.Fatalf("after expiry: day kept %v, %d instances", kept, n)
	}
	// A late credit naming the expired instance does not bring it back.
	mustApply(t, l, domain.BoardCredit{EntryID: "e3", CitizenID: "a", CO2eGrams: 1, At: clock.Now(), Instances: []domain.BoardInstance{day}})
	if p := mustQuery(t, l, domain.BoardQuery{Board: domain.BoardID{Instance: day.ID}, Limit: 10}); p.Ranked != 0 {
		t.Fatalf("credit revived an expired instance: %+v", p)
	}
}

func TestDedupMarkersLastTheWindowThenLeaveMemory(t *testing.T) {
	l, clock := newFakeBoards(t)
	all := []domain.BoardInstance{{ID: "all"}}
	mustSet(t, l, domain.BoardMember{CitizenID: "a", Version: 1})
	at := clock.Now()
	credit := domain.BoardCredit{EntryID: "e1", CitizenID: "a", CO2eGrams: 10, At: at, Instances: all}
	score := func() int64 {
		return mustQuery(t, l, domain.BoardQuery{Board: domain.BoardID{Instance: "all"}, CitizenID: "a"}).Me.CO2eGrams
	}
	buckets := func() int {
		l.mu.RLock()
		defer l.mu.RUnlock()
		return len(l.boards.applied.buckets)
	}

	mustApply(t, l, credit)
	clock.Advance(domain.BoardDedupWindow - time.Millisecond)
	mustApply(t, l, credit)
	if got := score(); got != 10 {
		t.Fatalf("repeat within the window: score %d, want 10", got)
	}
	// Credits an hour apart fill other buckets, and each leaves with its window.
	for i := range 5 {
		mustApply(t, l, domain.BoardCredit{EntryID: fmt.Sprintf("h%d", i), CitizenID: "a", CO2eGrams: 1, At: clock.Now(), Instances: all})
		clock.Advance(time.Hour)
	}
	if got := buckets(); got != 5 {
		t.Fatalf("%d buckets, want 5 (the first expired)", got)
	}
	clock.Advance(domain.BoardDedupWindow)
	mustApply(t, l)
	if got := buckets(); got != 0 {
		t.Fatalf("%d buckets after every window ended, want 0", got)
	}
}

func TestConcurrentDeliveriesCountOnce(t *testing.T) {
	l := NewLeaderboard(time.Now)
	all := []domain.BoardInstance{{ID: "all"}, {ID: "day:x", Expires: time.Now().Add(time.Hour)}}
	mustSet(t, l, domain.BoardMember{CitizenID: "a", District: "anji", Version: 1})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				// Every goroutine delivers the same 200 entries, in its own order.
				e := (i*7 + g*13) % 200
				c := domain.BoardCredit{EntryID: fmt.Sprintf("e%d", e), CitizenID: "a", CO2eGrams: 1, At: time.Now(), Instances: all}
				if _, err := l.Apply(context.Background(), []domain.BoardCredit{c, c}); err != nil {
					t.Error(err)
				}
				if _, err := l.Query(context.Background(), domain.BoardQuery{Board: domain.BoardID{Instance: "all", District: "anji"}, Limit: 5, CitizenID: "a", Neighbours: 2}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	p := mustQuery(t, l, domain.BoardQuery{Board: domain.BoardID{Instance: "day:x", District: "anji"}, Limit: 1, CitizenID: "a"})
	if p.Me.CO2eGrams != 200 || p.Me.Rank != 1 {
		t.Fatalf("200 entries delivered 16 times each: %+v", *p.Me)
	}
	consistent(t, l)
}

func TestReplaceBuildsTheSameBoardsAsCredits(t *testing.T) {
	// The same history, once credited and once rebuilt from a snapshot, must give
	// the same trees: Replace bulk-builds them, Apply inserts one by one.
	credited, clock := newFakeBoards(t)
	r := rand.New(rand.NewPCG(9, 10))
	snap := &domain.BoardSnapshot{Scores: map[string][]domain.BoardScore{}, Instances: []domain.BoardInstance{{ID: "all"}}}
	districts := []string{"", "wuxing", "anji"}
	for i := range 3000 {
		id := fmt.Sprintf("c%04d", i)
		m := domain.BoardMember{CitizenID: id, Nickname: "n", District: districts[i%3], Hidden: i%11 == 0, Version: 1}
		s := domain.BoardScore{CitizenID: id, CO2eGrams: r.Int64N(100) - 10, ReachedAt: clock.Now().Add(time.Duration(r.IntN(50)) * time.Millisecond)}
		if i%13 != 0 { // some have no member record
			mustSet(t, credited, m)
			snap.Members = append(snap.Members, m)
		}
		mustApply(t, credited, domain.BoardCredit{EntryID: id, CitizenID: id, CO2eGrams: s.CO2eGrams, At: s.ReachedAt, Instances: snap.Instances})
		snap.Scores["all"] = append(snap.Scores["all"], s)
	}
	rebuilt, _ := newFakeBoards(t)
	if err := rebuilt.Replace(context.Background(), snap); err != nil {
		t.Fatal(err)
	}
	consistent(t, rebuilt)
	for _, d := range districts {
		board := domain.BoardID{Instance: "all", District: d}
		for _, who := range []string{"c0042", mustQuery(t, credited, domain.BoardQuery{Board: board, Limit: 31}).Top[30].CitizenID} {
			q := domain.BoardQuery{Board: board, Limit: 100, CitizenID: who, Neighbours: 10}
			a, b := mustQuery(t, credited, q), mustQuery(t, rebuilt, q)
			// Printed, the pages compare row by row, standing included.
			if ga, gb := fmt.Sprintf("%d %+v %+v", a.Ranked, a.Top, *a.Me), fmt.Sprintf("%d %+v %+v", b.Ranked, b.Top, *b.Me); ga != gb {
				t.Fatalf("%s for %s:\ncredited %s\n rebuilt %s", d, who, ga, gb)
			}
		}
	}
}
