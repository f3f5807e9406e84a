package leaderboardtest

import (
	"cmp"
	"context"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// TestLeaderboardAgainstNaive runs the contract against a naive in-memory board,
// so the suite itself is checked to pass on a correct implementation. The naive
// board is also the executable form of the port's rules: sort per query.
func TestLeaderboardAgainstNaive(t *testing.T) {
	Run(t, func(t *testing.T) domain.Leaderboard { return newNaive(time.Now) })
}

// TestServiceAgainstNaive runs the service tests on the naive board.
func TestServiceAgainstNaive(t *testing.T) {
	RunService(t, func(t *testing.T) domain.Leaderboard { return newNaive(time.Now) })
}

// naive is a mutex-guarded, sort-per-query domain.Leaderboard.
type naive struct {
	now   func() time.Time
	fault string // comma-separated deliberate bugs, see faults_test.go; "" in normal runs

	mu        sync.Mutex
	members   map[string]domain.BoardMember
	districts map[string]string // for the "sticky-district" fault: the first district seen
	expires   map[string]time.Time
	scores    map[string]map[string]*domain.BoardScore // instance -> citizen
	applied   map[string]time.Time                     // entry ID -> when it may be forgotten
	watermark time.Time
}

var _ domain.Leaderboard = (*naive)(nil)

func newNaive(now func() time.Time) *naive {
	n := &naive{now: now, fault: os.Getenv(faultEnv)}
	n.reset()
	return n
}

func (n *naive) reset() {
	n.members = map[string]domain.BoardMember{}
	n.districts = map[string]string{}
	n.expires = map[string]time.Time{}
	n.scores = map[string]map[string]*domain.BoardScore{}
	n.applied = map[string]time.Time{}
}

// broken reports whether the board runs with fault f on purpose.
func (n *naive) broken(f string) bool {
	return n.fault != "" && slices.Contains(strings.Split(n.fault, ","), f)
}

// expired reports whether instance id is past its Expires; callers hold mu.
func (n *naive) expired(id string, now time.Time) bool {
	exp, ok := n.expires[id]
	return ok && !exp.IsZero() && !exp.After(now) && !n.broken("no-expiry")
}

func (n *naive) Apply(_ context.Context, credits []domain.BoardCredit) ([]string, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	var unknown []string
	for _, c := range credits {
		if _, ok := n.members[c.CitizenID]; !ok && !n.broken("unknown-not-named") {
			unknown = append(unknown, c.CitizenID)
		}
		if forget, ok := n.applied[c.EntryID]; ok && forget.After(now) && !n.broken("no-dedup") {
			continue
		}
		n.applied[c.EntryID] = c.At.Add(domain.BoardDedupWindow)
		for _, in := range c.Instances {
			if _, ok := n.expires[in.ID]; !ok {
				n.expires[in.ID] = in.Expires
			}
			if n.expired(in.ID, now) {
				delete(n.scores, in.ID)
				continue
			}
			if n.scores[in.ID] == nil {
				n.scores[in.ID] = map[string]*domain.BoardScore{}
			}
			s := n.scores[in.ID][c.CitizenID]
			if s == nil {
				s = &domain.BoardScore{CitizenID: c.CitizenID, ReachedAt: c.At}
				n.scores[in.ID][c.CitizenID] = s
			}
			if n.broken("lost-update") {
				// Read, let others run, write back: an unlocked read-modify-write.
				grams := s.CO2eGrams
				n.mu.Unlock()
				runtime.Gosched()
				n.mu.Lock()
				s.CO2eGrams = grams
			}
			s.CO2eGrams += c.CO2eGrams
			if c.At.After(s.ReachedAt) || n.broken("reached-last") {
				s.ReachedAt = c.At
			}
		}
	}
	return unknown, nil
}

func (n *naive) SetMembers(_ context.Context, members []domain.BoardMember) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, m := range members {
		if old, ok := n.members[m.CitizenID]; ok {
			if m.Version < old.Version && !n.broken("version-ignored") {
				continue
			}
			if m.Version == old.Version && n.broken("equal-version-ignored") {
				continue
			}
		}
		n.members[m.CitizenID] = m
		if _, ok := n.districts[m.CitizenID]; !ok {
			n.districts[m.CitizenID] = m.District
		}
	}
	return nil
}

func (n *naive) rows(b domain.BoardID, now time.Time) []domain.BoardRow {
	if n.expired(b.Instance, now) {
		return nil
	}
	var scores []domain.BoardScore
	for id, s := range n.scores[b.Instance] {
		m, known := n.members[id]
		if !known && !n.broken("unknown-ranked") {
			continue
		}
		if m.Hidden && !(n.broken("hidden-city-only") && b.District != "") {
			continue
		}
		if s.CO2eGrams <= 0 && !n.broken("rank-nonpositive") {
			continue
		}
		d := m.District
		if n.broken("sticky-district") {
			d = n.districts[id]
		}
		if b.District != "" && b.District != d {
			continue
		}
		scores = append(scores, *s)
	}
	slices.SortFunc(scores, func(x, y domain.BoardScore) int {
		if n.broken("float-composite") {
			// A double mixing the score with the reached time: exact for small
			// scores, rounding the time away for large ones.
			kx := float64(x.CO2eGrams) - float64(x.ReachedAt.UnixMilli())/1e13
			ky := float64(y.CO2eGrams) - float64(y.ReachedAt.UnixMilli())/1e13
			return cmp.Or(cmp.Compare(ky, kx), strings.Compare(x.CitizenID, y.CitizenID))
		}
		byTime := x.ReachedAt.Compare(y.ReachedAt)
		if n.broken("ties-by-id") {
			byTime = 0
		}
		return cmp.Or(cmp.Compare(y.CO2eGrams, x.CO2eGrams), byTime, strings.Compare(x.CitizenID, y.CitizenID))
	})
	out := make([]domain.BoardRow, len(scores))
	for i, s := range scores {
		out[i] = domain.BoardRow{Rank: int64(i + 1), CitizenID: s.CitizenID, Nickname: n.members[s.CitizenID].Nickname, CO2eGrams: s.CO2eGrams}
	}
	return out
}

func (n *naive) Query(_ context.Context, q domain.BoardQuery) (domain.BoardPage, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	now := n.now()
	rows := n.rows(q.Board, now)
	limit := min(max(q.Limit, 0), len(rows))
	if n.broken("limit-plus-one") && limit < len(rows) {
		limit++
	}
	p := domain.BoardPage{Top: rows[:limit], Ranked: int64(len(rows))}
	if q.CitizenID == "" {
		return p, nil
	}
	me := &domain.BoardStanding{}
	if s := n.scores[q.Board.Instance][q.CitizenID]; s != nil && !n.expired(q.Board.Instance, now) {
		me.CO2eGrams = s.CO2eGrams
	}
	for i, r := range rows {
		if r.CitizenID != q.CitizenID {
			continue
		}
		me.Rank = r.Rank
		lo := max(0, i-q.Neighbours)
		if n.broken("neighbours-off-by-one") && lo > 0 {
			lo--
		}
		me.Above = rows[lo:i]
		me.Below = rows[i+1 : min(len(rows), i+1+q.Neighbours)]
	}
	if n.broken("unranked-score-zero") && me.Rank == 0 {
		me.CO2eGrams = 0
	}
	p.Me = me
	return p, nil
}

func (n *naive) Replace(_ context.Context, snap *domain.BoardSnapshot) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	scores, members, expires, applied := n.scores, n.members, n.expires, n.applied
	n.reset()
	if n.broken("replace-merges") {
		n.scores, n.members, n.expires = scores, members, expires
	}
	if n.broken("replace-keeps-dedup") {
		n.applied = applied
	}
	for _, m := range snap.Members {
		n.members[m.CitizenID] = m
		n.districts[m.CitizenID] = m.District
	}
	for _, in := range snap.Instances {
		n.expires[in.ID] = in.Expires
	}
	for id, scores := range snap.Scores {
		n.scores[id] = map[string]*domain.BoardScore{}
		for _, s := range scores {
			n.scores[id][s.CitizenID] = &s
		}
	}
	if !n.broken("replace-ignores-applied") {
		for _, c := range snap.Applied {
			n.applied[c.EntryID] = c.At.Add(domain.BoardDedupWindow)
		}
	}
	n.watermark = snap.Watermark
	return nil
}

func (n *naive) Watermark(context.Context) (time.Time, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.watermark, nil
}

func (n *naive) SetWatermark(_ context.Context, t time.Time) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if t.After(n.watermark) || n.broken("watermark-back") {
		n.watermark = t
	}
	return nil
}
