package memory

import (
	"context"
	"strings"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/memory/ranking"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Query reads the top of a board and the citizen's standing under the read lock:
// O(log n + Limit + Neighbours), whatever the board's size.
func (l *Leaderboard) Query(ctx context.Context, q domain.BoardQuery) (domain.BoardPage, error) {
	if err := ctx.Err(); err != nil {
		return domain.BoardPage{}, err
	}
	now := l.now()
	l.mu.RLock()
	defer l.mu.RUnlock()
	b := l.boards

	var page domain.BoardPage
	if q.CitizenID != "" {
		page.Me = &domain.BoardStanding{}
	}
	in := b.live(q.Board.Instance, now)
	if in == nil {
		return page, nil // nobody credited yet, or forgotten: an empty board
	}
	var (
		h      uint32
		s      score
		scored bool
	)
	if page.Me != nil {
		if h, scored = b.citizens.lookup(q.CitizenID); scored {
			s, scored = in.scores[h]
		}
		page.Me.CO2eGrams = s.grams // their score in the period, ranked here or not
	}
	t := b.board(in, q.Board.District)
	if t == nil {
		return page, nil
	}
	page.Ranked = int64(t.Len())
	// The rows' citizens, in order, to name them at the end.
	handles := make([]uint32, 0, min(max(q.Limit, 0), t.Len())+2*min(max(q.Neighbours, 0), t.Len()))
	page.Top = boardRows(t, 0, q.Limit, &handles)
	if scored {
		// Hidden, unknown, without a positive score or in another district: not on
		// this board, so no rank and no neighbours.
		if r, ranked := t.Rank(boardKey(h, s)); ranked {
			page.Me.Rank = int64(r) + 1
			above := min(max(q.Neighbours, 0), r)
			page.Me.Above = boardRows(t, r-above, above, &handles)
			page.Me.Below = boardRows(t, r+1, q.Neighbours, &handles)
		}
	}
	b.name(handles, page)
	return page, nil
}

// boardRows returns up to n rows of t from rank index `from` (0 is the top), nil when
// there are none, with ranks and scores; it appends their citizens to handles for
// name to fill in.
func boardRows(t *ranking.Tree, from, n int, handles *[]uint32) []domain.BoardRow {
	n = min(n, t.Len()-from)
	if n <= 0 {
		return nil
	}
	out := make([]domain.BoardRow, 0, n)
	for i, k := range t.Ascend(from) {
		if len(out) == n {
			break
		}
		out = append(out, domain.BoardRow{Rank: int64(i) + 1, CO2eGrams: k.Score})
		*handles = append(*handles, k.ID)
	}
	return out
}

// name fills in the IDs and nicknames of the page's rows, whose citizens are
// handles in order. The strings are copied out of the arena (which later writes
// may compact) into one string for the whole page, of which each row's are parts:
// one allocation instead of two a row.
func (b *boards) name(handles []uint32, page domain.BoardPage) {
	if len(handles) == 0 {
		return
	}
	c := &b.citizens
	size := 0
	for _, h := range handles {
		size += int(c.recs[h].id.n + c.recs[h].nickname.n)
	}
	var sb strings.Builder
	sb.Grow(size)
	for _, h := range handles {
		sb.Write(c.text.bytes(c.recs[h].id))
		sb.Write(c.text.bytes(c.recs[h].nickname))
	}
	all, i := sb.String(), 0
	next := func(t textRef) string {
		s := all[i : i+int(t.n)]
		i += int(t.n)
		return s
	}
	k := 0
	segments := [3][]domain.BoardRow{page.Top}
	if page.Me != nil {
		segments[1], segments[2] = page.Me.Above, page.Me.Below
	}
	for _, seg := range segments {
		for j := range seg {
			r := &c.recs[handles[k]]
			seg[j].CitizenID, seg[j].Nickname = next(r.id), next(r.nickname)
			k++
		}
	}
}
