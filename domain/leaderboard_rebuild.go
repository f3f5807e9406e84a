package domain

import (
	"context"
	"time"
)

// RebuildReport says what a rebuild read and built.
type RebuildReport struct {
	Citizens  int // members written
	Entries   int // ledger entries read
	Instances int // period instances built
	Scores    int // citizen scores written, over all instances
	CaughtUp  int // entries applied after the swap
	Duration  time.Duration
}

// CatchUpReport says what one catch-up did.
type CatchUpReport struct {
	Entries int            // ledger entries read (most were already applied)
	Rebuilt *RebuildReport // set when the boards were empty or too far behind
}

// CatchUp applies the ledger entries made since the boards' watermark (less the
// overlap), then moves the watermark. It rebuilds instead when the boards have no
// watermark (new, or Redis lost its data) or one so old that entries applied
// before it may have been forgotten by deduplication. Safe to run at any time.
func (s *LeaderboardService) CatchUp(ctx context.Context) (CatchUpReport, error) {
	return withMaintenanceLock(ctx, s.Locker, 0, func(ctx context.Context) (CatchUpReport, error) {
		now := s.Now()
		wm, err := s.Boards.Watermark(ctx)
		if err != nil {
			return CatchUpReport{}, err
		}
		if wm.IsZero() || wm.Before(now.Add(-BoardDedupWindow+2*s.Overlap)) {
			rep, err := s.rebuild(ctx)
			return CatchUpReport{Entries: rep.Entries, Rebuilt: &rep}, err
		}
		n, err := s.applySince(ctx, wm.Add(-s.Overlap), now)
		if err != nil {
			return CatchUpReport{Entries: n}, err
		}
		return CatchUpReport{Entries: n}, s.Boards.SetWatermark(ctx, now)
	})
}

// Rebuild recomputes every board from the store's citizens and ledger into new
// boards and swaps them in atomically, then catches up with what was credited
// meanwhile. It waits up to RebuildWait for maintenance in progress elsewhere.
func (s *LeaderboardService) Rebuild(ctx context.Context) (RebuildReport, error) {
	return withMaintenanceLock(ctx, s.Locker, s.RebuildWait, s.rebuild)
}

func (s *LeaderboardService) rebuild(ctx context.Context) (RebuildReport, error) {
	start := s.Now()
	var rep RebuildReport
	snap := &BoardSnapshot{Scores: map[string][]BoardScore{}, Watermark: start}

	versions := map[string]int64{}
	if err := scanAll(ctx, s.Ledger.ScanCitizens, func(c Citizen) string { return c.ID }, func(c Citizen) {
		snap.Members = append(snap.Members, memberOf(c))
		versions[c.ID] = c.Version
	}); err != nil {
		return rep, err
	}

	// Entries a live update or the catch-up below may deliver again must be
	// marked applied on the new boards: those from twice the overlap back.
	markFrom := start.Add(-2 * s.Overlap)
	type key struct{ instance, citizen string }
	scores := map[key]*BoardScore{}
	instances := map[string]BoardInstance{}
	if err := scanAll(ctx, s.Ledger.ScanCarbonEntries, func(e LedgerEntry) string { return e.ID }, func(e LedgerEntry) {
		rep.Entries++
		c := BoardCredit{
			EntryID: e.ID, CitizenID: e.CitizenID, CO2eGrams: e.CO2eGrams, At: e.CreatedAt,
			Instances: boardInstances(creditTime(e), start, s.Retention),
		}
		for _, in := range c.Instances {
			instances[in.ID] = in
			k := key{in.ID, e.CitizenID}
			sc := scores[k]
			if sc == nil {
				sc = &BoardScore{CitizenID: e.CitizenID}
				scores[k] = sc
			}
			sc.CO2eGrams += e.CO2eGrams
			if e.CreatedAt.After(sc.ReachedAt) {
				sc.ReachedAt = e.CreatedAt
			}
		}
		if !e.CreatedAt.Before(markFrom) && !e.CreatedAt.Before(start.Add(-BoardDedupWindow)) {
			snap.Applied = append(snap.Applied, c)
		}
	}); err != nil {
		return rep, err
	}
	for k, sc := range scores {
		snap.Scores[k.instance] = append(snap.Scores[k.instance], *sc)
	}
	for _, in := range instances {
		snap.Instances = append(snap.Instances, in)
	}
	rep.Citizens, rep.Instances, rep.Scores = len(snap.Members), len(instances), len(scores)
	if err := s.Boards.Replace(ctx, snap); err != nil {
		return rep, err
	}

	// What changed while the snapshot was read went to the old boards: profile
	// changes (found by version) and credits (found by catching up).
	var changed []BoardMember
	if err := scanAll(ctx, s.Ledger.ScanCitizens, func(c Citizen) string { return c.ID }, func(c Citizen) {
		if v, ok := versions[c.ID]; !ok || v != c.Version {
			changed = append(changed, memberOf(c))
		}
	}); err != nil {
		return rep, err
	}
	if len(changed) > 0 {
		if err := s.Boards.SetMembers(ctx, changed); err != nil {
			return rep, err
		}
	}
	now := s.Now()
	n, err := s.applySince(ctx, start.Add(-s.Overlap), now)
	rep.CaughtUp = n
	if err != nil {
		return rep, err
	}
	if err := s.Boards.SetWatermark(ctx, now); err != nil {
		return rep, err
	}
	rep.Duration = s.Now().Sub(start)
	return rep, nil
}

// applySince applies every carbon entry with an ID stamped at or after from.
func (s *LeaderboardService) applySince(ctx context.Context, from, now time.Time) (int, error) {
	read := 0
	after := lowestIDAt(from)
	for {
		entries, err := s.Ledger.ScanCarbonEntries(ctx, after, boardScanPage)
		if err != nil {
			return read, err
		}
		read += len(entries)
		if err := s.credit(ctx, entries, now); err != nil {
			return read, err
		}
		if len(entries) < boardScanPage {
			return read, nil
		}
		after = entries[len(entries)-1].ID
	}
}

// scanAll reads an ID-ordered listing to its end.
func scanAll[T any](ctx context.Context, page func(context.Context, string, int) ([]T, error), idOf func(T) string, each func(T)) error {
	after := ""
	for {
		items, err := page(ctx, after, boardScanPage)
		if err != nil {
			return err
		}
		for _, it := range items {
			each(it)
		}
		if len(items) < boardScanPage {
			return nil
		}
		after = idOf(items[len(items)-1])
	}
}

// withMaintenanceLock runs f while holding the boards' maintenance lock, so two
// rebuilds (or a rebuild and a catch-up) never interleave: a catch-up running
// after another rebuild's swap could apply entries the new boards already hold.
func withMaintenanceLock[T any](ctx context.Context, l Locker, wait time.Duration, f func(context.Context) (T, error)) (T, error) {
	var zero T
	deadline := time.Now().Add(wait)
	for {
		lock, ok, err := l.TryLock(ctx, maintenanceLockKey, maintenanceLockTTL)
		if err != nil {
			return zero, err
		}
		if ok {
			defer func() { _ = lock.Release(context.WithoutCancel(ctx)) }()
			return f(ctx)
		}
		if !time.Now().Before(deadline) {
			return zero, ErrBoardsBusy
		}
		select {
		case <-ctx.Done():
			return zero, ctx.Err()
		case <-time.After(lockPollInterval):
		}
	}
}
