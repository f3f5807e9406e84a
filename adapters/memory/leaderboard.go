package memory

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

var _ domain.Leaderboard = (*Leaderboard)(nil)

// Leaderboard implements domain.Leaderboard inside the process, for the embedded
// mode: every board is an order-statistics tree (package ranking) kept next to
// the members and scores, all behind one lock. Rank, insert and delete are
// O(log n); a page of the top or of a citizen's neighbours is O(log n + rows).
//
// A million ranked citizens take about 200 bytes each, in a few thousand objects
// with almost no pointers: citizens are numbered (see citizens), so trees and
// maps hold integers, and strings sit in byte chunks. The garbage collector, which
// runs for the whole server, then has next to nothing to trace here.
//
// Queries share a read lock, so they run side by side; Apply, SetMembers and the
// swap of Replace take the write lock. Each call is atomic because it holds the
// lock from start to end. Expired period instances and dedup markers are dropped
// by the writers as they come due, so memory follows what is live without a
// background goroutine to stop.
type Leaderboard struct {
	now func() time.Time

	mu     sync.RWMutex
	boards *boards // replaced whole by Replace
}

// NewLeaderboard returns empty boards with a zero watermark. now tells when
// instances and dedup markers expire; nil means time.Now.
func NewLeaderboard(now func() time.Time) *Leaderboard {
	if now == nil {
		now = time.Now
	}
	return &Leaderboard{now: now, boards: newBoards(0)}
}

// Apply adds each credit not applied before to its live instances, and returns
// the citizens credited who have no member record, each once. A duplicate credit
// changes nothing, but its citizen is still reported when unknown: the service's
// first attempt to introduce them may be the one that failed.
func (l *Leaderboard) Apply(ctx context.Context, credits []domain.BoardCredit) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.boards
	b.sweep(now)
	var unknown []string
	var reported map[string]bool // made at the first unknown citizen, which is rare
	for _, c := range credits {
		h := b.citizens.intern(c.CitizenID)
		if !b.citizens.recs[h].known && !reported[c.CitizenID] {
			if reported == nil {
				reported = map[string]bool{}
			}
			reported[c.CitizenID] = true
			unknown = append(unknown, c.CitizenID)
		}
		if b.applied.first(c.EntryID, c.At, now) {
			b.credit(h, c, now)
		}
	}
	return unknown, nil
}

// SetMembers records each member unless an older version than the one recorded,
// moving their scores on or off the boards.
func (l *Leaderboard) SetMembers(ctx context.Context, members []domain.BoardMember) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.boards.sweep(now)
	for _, m := range members {
		l.boards.setMember(m)
	}
	return nil
}

// Replace builds the new boards without holding the lock, so queries and credits
// go on against the old ones meanwhile, then swaps them in at once.
func (l *Leaderboard) Replace(ctx context.Context, snap *domain.BoardSnapshot) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if snap == nil {
		return errors.New("memory: replace leaderboards: nil snapshot")
	}
	b := buildBoards(snap, l.now())
	l.mu.Lock()
	l.boards = b
	l.mu.Unlock()
	return nil
}

func (l *Leaderboard) Watermark(ctx context.Context) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.boards.watermark, nil
}

// SetWatermark only moves the watermark forward: a catch-up that started before a
// rebuild must not pull the rebuilt boards' watermark back.
func (l *Leaderboard) SetWatermark(ctx context.Context, t time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.After(l.boards.watermark) {
		l.boards.watermark = t
	}
	return nil
}
