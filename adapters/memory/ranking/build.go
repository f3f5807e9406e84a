package ranking

import "slices"

// Build returns a tree holding keys, ordered with tie as New's. It sorts keys in
// place first; a key given twice is kept once. Leaves are packed full, so a board
// rebuilt from scratch takes about 24 bytes a key; later inserts split them as
// needed. O(n log n) for the sort, O(n) for the tree.
func Build(keys []Key, tie Tie) *Tree {
	t := New(tie)
	slices.SortFunc(keys, t.compare)
	keys = slices.Compact(keys)
	if len(keys) == 0 {
		return t
	}

	// The bottom level: leaves share the keys evenly, so every one is at least
	// half full (n/ceil(n/max) >= max/2 whenever there are two or more).
	nLeaves := ceilDiv(len(keys), leafMax)
	level := make([]node, nLeaves)
	counts := make([]int, nLeaves)
	firsts := make([]Key, nLeaves)
	for i, rest := 0, keys; i < nLeaves; i++ {
		l := &leaf{n: len(rest) / (nLeaves - i)}
		copy(l.keys[:], rest[:l.n])
		rest = rest[l.n:]
		level[i], counts[i], firsts[i] = l, l.n, l.keys[0]
	}

	// Each level up groups the one below the same way, until one node is left.
	for len(level) > 1 {
		nUp := ceilDiv(len(level), innerMax)
		up := make([]node, nUp)
		upCounts := make([]int, nUp)
		upFirsts := make([]Key, nUp)
		for i, at := 0, 0; i < nUp; i++ {
			n := &inner{n: (len(level) - at) / (nUp - i)}
			copy(n.kids[:], level[at:at+n.n])
			copy(n.counts[:], counts[at:at+n.n])
			copy(n.seps[1:], firsts[at+1:at+n.n])
			for _, c := range n.counts[:n.n] {
				upCounts[i] += c
			}
			up[i], upFirsts[i] = n, firsts[at]
			at += n.n
		}
		level, counts, firsts = up, upCounts, upFirsts
	}
	t.root, t.len = level[0], len(keys)
	return t
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }
