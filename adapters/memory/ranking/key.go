// Package ranking keeps leaderboard keys in order with O(log n) insert, delete,
// rank and select, and walks them in order from any rank in O(log n + k).
//
// It is an order-statistics B+tree: leaves hold sorted keys, inner nodes hold,
// for each child, a separator key and the number of keys below it, so a key's
// rank is the sum of the counts left of its path. A skiplist with spans (Redis's
// zset) has the same bounds, but allocates a node and a level array per key, each
// full of pointers. Here a leaf packs 85 keys into one 2 KiB allocation that
// holds no pointer at all (keys name citizens by a number, and leaves are not
// linked), so the garbage collector never scans the leaves: a board of a million
// keys costs it only its few hundred inner nodes. Neighbouring ranks also share
// cache lines.
package ranking

import "cmp"

// Key is one citizen's place on a board. Keys order by Score, highest first, then
// At, earliest first (whoever got there first ranks higher), then by the tree's
// tie function on ID, so the order is total.
type Key struct {
	Score int64  // grams of CO2e
	At    int64  // reached time, Unix nanoseconds
	ID    uint32 // the citizen, as a handle the tree's owner gives out
}

// Tie orders two distinct IDs of keys equal on Score and At: negative when a
// ranks first. The leaderboard compares the citizens' ID strings.
type Tie func(a, b uint32) int

// compare returns -1 when a ranks before b, 1 when after, 0 when they are equal.
func (t *Tree) compare(a, b Key) int {
	switch {
	case a.Score > b.Score:
		return -1
	case a.Score < b.Score:
		return 1
	case a.At < b.At:
		return -1
	case a.At > b.At:
		return 1
	case a.ID == b.ID:
		return 0
	case t.tie != nil:
		return t.tie(a.ID, b.ID)
	}
	return cmp.Compare(a.ID, b.ID)
}
