package leaderboardtest

import (
	"cmp"
	"fmt"
	"maps"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// SeedEnv, when set to an integer, fixes the random seed of the model test and of
// the service scenarios, so that a failure can be replayed.
const SeedEnv = "LEADERBOARDTEST_SEED"

// seed returns the seed from SeedEnv, or a new one, and logs it.
func seed(t *testing.T) uint64 {
	t.Helper()
	s := rand.Uint64()
	if v := os.Getenv(SeedEnv); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", SeedEnv, v, err)
		}
		s = n
	}
	t.Logf("seed %d (replay with %s=%d)", s, SeedEnv, s)
	return s
}

// model is the reference the randomised tests compare adapters with: the port's
// rules written as plainly as possible, sorting per query. It never forgets (no
// dedup window, no expiry): the tests that use it stay within both.
type model struct {
	members   map[string]domain.BoardMember
	instances map[string]domain.BoardInstance
	scores    map[string]map[string]*domain.BoardScore // instance -> citizen -> score
	applied   map[string]domain.BoardCredit            // by entry ID
}

func newModel() *model {
	return &model{
		members:   map[string]domain.BoardMember{},
		instances: map[string]domain.BoardInstance{},
		scores:    map[string]map[string]*domain.BoardScore{},
		applied:   map[string]domain.BoardCredit{},
	}
}

func (m *model) apply(credits []domain.BoardCredit) (unknown []string) {
	for _, c := range credits {
		if _, ok := m.members[c.CitizenID]; !ok {
			unknown = append(unknown, c.CitizenID)
		}
		if _, dup := m.applied[c.EntryID]; dup {
			continue
		}
		m.applied[c.EntryID] = c
		for _, in := range c.Instances {
			m.instances[in.ID] = in
			if m.scores[in.ID] == nil {
				m.scores[in.ID] = map[string]*domain.BoardScore{}
			}
			s := m.scores[in.ID][c.CitizenID]
			if s == nil {
				s = &domain.BoardScore{CitizenID: c.CitizenID, ReachedAt: c.At}
				m.scores[in.ID][c.CitizenID] = s
			}
			s.CO2eGrams += c.CO2eGrams
			if c.At.After(s.ReachedAt) {
				s.ReachedAt = c.At
			}
		}
	}
	return unknown
}

func (m *model) setMembers(members []domain.BoardMember) {
	for _, mb := range members {
		if old, ok := m.members[mb.CitizenID]; ok && mb.Version < old.Version {
			continue
		}
		m.members[mb.CitizenID] = mb
	}
}

// snapshot is the model's state as a BoardSnapshot; applied chooses which applied
// entries it lists as Applied.
func (m *model) snapshot(applied func(domain.BoardCredit) bool, watermark time.Time) *domain.BoardSnapshot {
	snap := &domain.BoardSnapshot{Scores: map[string][]domain.BoardScore{}, Watermark: watermark}
	for _, id := range slices.Sorted(maps.Keys(m.members)) {
		snap.Members = append(snap.Members, m.members[id])
	}
	for _, id := range slices.Sorted(maps.Keys(m.scores)) {
		snap.Instances = append(snap.Instances, m.instances[id])
		for _, c := range slices.Sorted(maps.Keys(m.scores[id])) {
			snap.Scores[id] = append(snap.Scores[id], *m.scores[id][c])
		}
	}
	for _, e := range slices.Sorted(maps.Keys(m.applied)) {
		if c := m.applied[e]; applied(c) {
			snap.Applied = append(snap.Applied, c)
		}
	}
	return snap
}

func (m *model) replace(snap *domain.BoardSnapshot) {
	*m = *newModel()
	m.setMembers(snap.Members)
	for _, in := range snap.Instances {
		m.instances[in.ID] = in
	}
	for id, scores := range snap.Scores {
		m.scores[id] = map[string]*domain.BoardScore{}
		for _, s := range scores {
			m.scores[id][s.CitizenID] = &s
		}
	}
	for _, c := range snap.Applied {
		m.applied[c.EntryID] = c
	}
}

// ranking is every row of board b, in rank order.
func (m *model) ranking(b domain.BoardID) []domain.BoardRow {
	var scores []domain.BoardScore
	for id, s := range m.scores[b.Instance] {
		mb, ok := m.members[id]
		if ok && !mb.Hidden && s.CO2eGrams > 0 && (b.District == "" || b.District == mb.District) {
			scores = append(scores, *s)
		}
	}
	slices.SortFunc(scores, func(x, y domain.BoardScore) int {
		return cmp.Or(cmp.Compare(y.CO2eGrams, x.CO2eGrams), x.ReachedAt.Compare(y.ReachedAt), strings.Compare(x.CitizenID, y.CitizenID))
	})
	rows := make([]domain.BoardRow, len(scores))
	for i, s := range scores {
		rows[i] = domain.BoardRow{Rank: int64(i + 1), CitizenID: s.CitizenID, Nickname: m.members[s.CitizenID].Nickname, CO2eGrams: s.CO2eGrams}
	}
	return rows
}

func (m *model) query(q domain.BoardQuery) domain.BoardPage {
	rows := m.ranking(q.Board)
	p := domain.BoardPage{Top: rows[:min(max(q.Limit, 0), len(rows))], Ranked: int64(len(rows))}
	if q.CitizenID == "" {
		return p
	}
	me := &domain.BoardStanding{}
	if s := m.scores[q.Board.Instance][q.CitizenID]; s != nil {
		me.CO2eGrams = s.CO2eGrams
	}
	for i, r := range rows {
		if r.CitizenID == q.CitizenID {
			me.Rank = r.Rank
			me.Above = rows[max(0, i-q.Neighbours):i]
			me.Below = rows[i+1 : min(len(rows), i+1+q.Neighbours)]
		}
	}
	p.Me = me
	return p
}

// boards lists every board of the model's instances and the given districts
// (city-wide first).
func (m *model) boards(districts []string) []domain.BoardID {
	var out []domain.BoardID
	for _, in := range slices.Sorted(maps.Keys(m.instances)) {
		out = append(out, domain.BoardID{Instance: in})
		for _, d := range districts {
			out = append(out, domain.BoardID{Instance: in, District: d})
		}
	}
	return out
}

func runModel(t *testing.T, open func(t *testing.T) domain.Leaderboard) {
	rule(t, "random credits, member changes and replaces agree with a reference model", open, func(f *fx) {
		rng := rand.New(rand.NewPCG(seed(f.t), 0x1eade7b0a7d))
		m := newModel()
		other := domain.BoardInstance{ID: "day:2026-11-26", Expires: f.day.Expires}
		instances := []domain.BoardInstance{f.day, other, f.week, f.month, f.all}
		districts := []string{wuxing, nanxun, anji}
		citizens := make([]string, 10)
		for i := range citizens {
			citizens[i] = fmt.Sprintf("C%02d", i)
		}
		var credited []domain.BoardCredit
		var log []string // the last steps, for a failure message
		step := func(format string, args ...any) {
			log = append(log, fmt.Sprintf(format, args...))
			if len(log) > 8 {
				log = log[1:]
			}
		}
		check := func(i int, q domain.BoardQuery) {
			f.t.Helper()
			got := f.query(q)
			if d := diffPages(m.query(q), got); d != "" {
				f.t.Fatalf("step %d: Query(%s, limit %d, %q ±%d) differs from the model:\n%s\nlast steps:\n  %s",
					i, fmtBoard(q.Board), q.Limit, q.CitizenID, q.Neighbours, d, strings.Join(log, "\n  "))
			}
		}
		randomQuery := func() domain.BoardQuery {
			in := "day:2001-01-01" // never credited
			if rng.IntN(10) > 0 {
				in = instances[rng.IntN(len(instances))].ID
			}
			q := domain.BoardQuery{Board: domain.BoardID{Instance: in}, Limit: 1 + rng.IntN(12), Neighbours: rng.IntN(5)}
			if rng.IntN(2) == 0 {
				q.Board.District = districts[rng.IntN(len(districts))]
			}
			if n := rng.IntN(len(citizens) + 2); n < len(citizens) {
				q.CitizenID = citizens[n]
			} else if n == len(citizens) {
				q.CitizenID = "never-seen"
			}
			return q
		}

		const steps = 250
		entries := 0
		for i := range steps {
			switch r := rng.IntN(100); {
			case r < 55:
				var batch []domain.BoardCredit
				for range 1 + rng.IntN(4) {
					switch k := rng.IntN(100); {
					case k < 20 && len(credited) > 0: // delivered again
						batch = append(batch, credited[rng.IntN(len(credited))])
					case k < 35 && len(credited) > 0: // a reversal of an earlier credit
						orig := credited[rng.IntN(len(credited))]
						entries++
						c := f.credit(entryID("r", entries), orig.CitizenID, -orig.CO2eGrams,
							time.Duration(rng.IntN(600))*time.Second, orig.Instances...)
						batch = append(batch, c)
						credited = append(credited, c)
					default:
						entries++
						ins := []domain.BoardInstance{instances[rng.IntN(2)], f.week}
						if rng.IntN(3) > 0 {
							ins = append(ins, f.month)
						}
						ins = append(ins, f.all)
						grams := []int64{10, 20, 30, 50, 1 + rng.Int64N(100)}[rng.IntN(5)]
						at := time.Duration(rng.IntN(600))*time.Second + time.Duration(rng.IntN(3))*time.Millisecond
						c := f.credit(entryID("e", entries), citizens[rng.IntN(len(citizens))], grams, at, ins...)
						batch = append(batch, c)
						credited = append(credited, c)
					}
				}
				step("Apply %s", fmtCredits(batch))
				want := m.apply(batch)
				if got := f.apply(batch...); !sameIDs(want, got) {
					f.t.Fatalf("step %d: Apply returned unknown %q, want %q\nlast steps:\n  %s", i, got, want, strings.Join(log, "\n  "))
				}
			case r < 75:
				var batch []domain.BoardMember
				for range 1 + rng.IntN(2) {
					id := citizens[rng.IntN(len(citizens))]
					version := int64(rng.IntN(3))
					if old, ok := m.members[id]; ok {
						version = old.Version + 1
						if rng.IntN(4) == 0 {
							version = old.Version - 1 - int64(rng.IntN(2)) // stale
						}
					}
					mb := domain.BoardMember{CitizenID: id, Nickname: fmt.Sprintf("%s-v%d", id, version), Version: version, Hidden: rng.IntN(5) == 0}
					if d := rng.IntN(len(districts) + 1); d < len(districts) {
						mb.District = districts[d]
					}
					batch = append(batch, mb)
				}
				step("SetMembers %+v", batch)
				m.setMembers(batch)
				f.set(batch...)
			case r < 78:
				snap := m.snapshot(func(domain.BoardCredit) bool { return rng.IntN(2) == 0 }, f.at(time.Duration(i)*time.Second))
				step("Replace with %d members, %d instances, %d applied", len(snap.Members), len(snap.Instances), len(snap.Applied))
				m.replace(snap)
				f.replace(snap)
				f.wantWatermark(fmt.Sprintf("step %d: after Replace", i), snap.Watermark)
			}
			check(i, randomQuery())
		}
		for _, b := range m.boards(districts) {
			for _, id := range append(citizens, "") {
				check(steps, domain.BoardQuery{Board: b, Limit: topLimit, CitizenID: id, Neighbours: 2})
			}
		}
	})
}
