package memory

import (
	"hash/maphash"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// appliedEntries remembers which ledger entries were applied, for
// domain.BoardDedupWindow from each entry's time. Markers are grouped in buckets
// by the minute of that time, so expiring them drops a whole bucket at once
// instead of keeping an expiry per entry. An entry's time never changes, so a
// repeat always looks in the bucket its first delivery went to.
//
// A marker is a 128-bit hash of the entry ID rather than the ID: 16 bytes and no
// pointer, where a string would be a pointer to trace and an object of its own.
// Two IDs collide with a probability of about n²/2¹²⁹, nil for any n the boards
// will see.
type appliedEntries struct {
	buckets map[int64]map[entryMarker]struct{} // by Unix minute of the entry's time
	oldest  int64                              // the smallest bucket key, when there are buckets
	seeds   [2]maphash.Seed
}

type entryMarker [2]uint64

func newAppliedEntries() appliedEntries {
	return appliedEntries{
		buckets: map[int64]map[entryMarker]struct{}{},
		seeds:   [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
	}
}

// first reports whether the entry was not applied yet, and marks it applied. An
// entry whose window has already ended (the service never sends one) is applied
// every time, as its marker would have expired by the repeat: a marker counts
// until exactly at + window, whatever the bucket's rounding.
func (a *appliedEntries) first(entryID string, at, now time.Time) bool {
	if !now.Before(at.Add(domain.BoardDedupWindow)) {
		return true
	}
	mk := entryMarker{maphash.String(a.seeds[0], entryID), maphash.String(a.seeds[1], entryID)}
	m := unixMinute(at)
	bucket := a.buckets[m]
	if _, seen := bucket[mk]; seen {
		return false
	}
	if bucket == nil {
		bucket = map[entryMarker]struct{}{}
		if len(a.buckets) == 0 || m < a.oldest {
			a.oldest = m
		}
		a.buckets[m] = bucket
	}
	bucket[mk] = struct{}{}
	return true
}

// sweep drops the buckets whose every marker has expired. It looks at every
// bucket only when the oldest is due, about once a minute under steady credits,
// and there are at most a window's worth of minutes (360).
func (a *appliedEntries) sweep(now time.Time) {
	if len(a.buckets) == 0 || now.Before(bucketExpiry(a.oldest)) {
		return
	}
	first := true
	for m := range a.buckets {
		if !now.Before(bucketExpiry(m)) {
			delete(a.buckets, m)
		} else if first || m < a.oldest {
			a.oldest, first = m, false
		}
	}
}

// bucketExpiry is when every marker in the bucket of minute m has expired: the
// window after the end of that minute.
func bucketExpiry(m int64) time.Time {
	return time.Unix((m+1)*60, 0).Add(domain.BoardDedupWindow)
}

func unixMinute(t time.Time) int64 {
	s := t.Unix()
	m := s / 60
	if s%60 < 0 { // round down before 1970 too
		m--
	}
	return m
}
