package ranking

import (
	"fmt"
	"testing"
)

// check verifies every invariant of t: keys in strict order, counts, separators,
// node fill, all leaves at one depth, unused slots zeroed.
func check(t *testing.T, tr *Tree) {
	t.Helper()
	if err := validate(tr); err != nil {
		t.Fatal(err)
	}
}

func validate(tr *Tree) error {
	if tr.root == nil {
		if tr.len != 0 {
			return fmt.Errorf("empty root but len %d", tr.len)
		}
		return nil
	}
	depth := -1
	var walk func(nd node, d int, lo, hi *Key, isRoot bool) (int, error)
	walk = func(nd node, d int, lo, hi *Key, isRoot bool) (int, error) {
		switch n := nd.(type) {
		case *leaf:
			if depth == -1 {
				depth = d
			} else if depth != d {
				return 0, fmt.Errorf("leaf at depth %d, another at %d", d, depth)
			}
			if n.n > leafMax || (!isRoot && n.n < leafMin) || (isRoot && n.n == 0) {
				return 0, fmt.Errorf("leaf holds %d keys", n.n)
			}
			for i := 0; i < n.n; i++ {
				if i > 0 && tr.compare(n.keys[i-1], n.keys[i]) >= 0 {
					return 0, fmt.Errorf("leaf keys out of order at %d", i)
				}
				if lo != nil && tr.compare(*lo, n.keys[i]) > 0 {
					return 0, fmt.Errorf("key %v below its separator %v", n.keys[i], *lo)
				}
				if hi != nil && tr.compare(n.keys[i], *hi) >= 0 {
					return 0, fmt.Errorf("key %v not below the next separator %v", n.keys[i], *hi)
				}
			}
			for i := n.n; i < leafMax; i++ {
				if n.keys[i] != (Key{}) {
					return 0, fmt.Errorf("unused leaf slot %d not cleared", i)
				}
			}
			return n.n, nil
		case *inner:
			if n.n > innerMax || (!isRoot && n.n < innerMin) || (isRoot && n.n < 2) {
				return 0, fmt.Errorf("inner node holds %d kids", n.n)
			}
			if n.seps[0] != (Key{}) {
				return 0, fmt.Errorf("seps[0] not cleared")
			}
			for i := 2; i < n.n; i++ {
				if tr.compare(n.seps[i-1], n.seps[i]) >= 0 {
					return 0, fmt.Errorf("separators out of order at %d", i)
				}
			}
			total := 0
			for i := 0; i < n.n; i++ {
				kidLo, kidHi := lo, hi
				if i > 0 {
					kidLo = &n.seps[i]
				}
				if i+1 < n.n {
					kidHi = &n.seps[i+1]
				}
				c, err := walk(n.kids[i], d+1, kidLo, kidHi, false)
				if err != nil {
					return 0, err
				}
				if c != n.counts[i] {
					return 0, fmt.Errorf("count %d for a kid holding %d", n.counts[i], c)
				}
				total += c
			}
			for i := n.n; i < innerMax; i++ {
				if n.seps[i] != (Key{}) || n.kids[i] != nil || n.counts[i] != 0 {
					return 0, fmt.Errorf("unused inner slot %d not cleared", i)
				}
			}
			return total, nil
		}
		return 0, fmt.Errorf("unknown node %T", nd)
	}
	total, err := walk(tr.root, 0, nil, nil, true)
	if err != nil {
		return err
	}
	if total != tr.len {
		return fmt.Errorf("tree holds %d keys, len says %d", total, tr.len)
	}
	return nil
}
