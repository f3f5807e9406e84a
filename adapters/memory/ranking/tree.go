package ranking

import "iter"

// Node sizes. A leaf of 85 keys (24 bytes each) and its count is 2048 bytes, and
// an inner node of 63 children 3032, so both fill an allocation size class with
// little waste. Nodes other than the root never hold fewer than half their
// maximum, so at worst half of a leaf is empty; after random inserts leaves are
// about 70% full, and Build packs them full.
const (
	leafMax  = 85
	leafMin  = leafMax / 2
	innerMax = 63
	innerMin = innerMax / 2
	// maxDepth bounds the height: with every node at least half full, 12 levels
	// hold far more keys than memory can.
	maxDepth = 12
)

// node is a *leaf or an *inner. All leaves are at the same depth.
type node interface{ isNode() }

// leaf holds no pointers, so the garbage collector does not scan it; walking in
// order goes through the parents instead of links between leaves.
type leaf struct {
	n    int
	keys [leafMax]Key // keys[:n] in order; the rest zero
}

type inner struct {
	n int
	// seps[i], for 0 < i < n, is above every key under kids[i-1] and at or below
	// every key under kids[i]. It may be stale (a key since deleted): only the
	// bounds matter. seps[0] is unused.
	seps   [innerMax]Key
	counts [innerMax]int // counts[i] is how many keys are under kids[i]
	kids   [innerMax]node
}

func (*leaf) isNode()  {}
func (*inner) isNode() {}

// Tree is an ordered set of keys with ranks. A Tree is not safe for concurrent
// use; a caller that shares one holds its own lock (the leaderboard does, along
// with the maps that go with it).
type Tree struct {
	root node // nil when empty
	len  int
	tie  Tie
}

// New returns an empty tree whose keys that are equal on Score and At order by
// tie, or by ID as a number when tie is nil. tie must be a total order on the IDs
// in the tree and must not change while they are in it.
func New(tie Tie) *Tree { return &Tree{tie: tie} }

// Len returns how many keys the tree holds.
func (t *Tree) Len() int { return t.len }

// Rank returns how many keys rank before k (so 0 is the top) and whether k is in
// the tree.
func (t *Tree) Rank(k Key) (int, bool) {
	pos := 0
	nd := t.root
	for nd != nil {
		switch n := nd.(type) {
		case *inner:
			i := t.childFor(n, k)
			for _, c := range n.counts[:i] {
				pos += c
			}
			nd = n.kids[i]
		case *leaf:
			i, found := t.search(n, k)
			return pos + i, found
		}
	}
	return 0, false
}

// Select returns the key at rank i (0 is the top), and false when i is out of range.
func (t *Tree) Select(i int) (Key, bool) {
	if i < 0 || i >= t.len {
		return Key{}, false
	}
	var p path
	l, j := t.locate(i, &p)
	return l.keys[j], true
}

// Ascend yields the keys from rank `from` on, in order, with their ranks. Finding
// the first costs O(log n), each next one O(1) amortised. The tree must not
// change while the sequence runs.
func (t *Tree) Ascend(from int) iter.Seq2[int, Key] {
	return func(yield func(int, Key) bool) {
		from = max(from, 0)
		if from >= t.len {
			return
		}
		var p path
		l, j := t.locate(from, &p)
		for rank := from; l != nil; l, j = p.nextLeaf(), 0 {
			for ; j < l.n; j++ {
				if !yield(rank, l.keys[j]) {
					return
				}
				rank++
			}
		}
	}
}

// path is the way down to a leaf: at each inner level, the node and the index of
// the child taken.
type path struct {
	depth int
	nodes [maxDepth]*inner
	index [maxDepth]int
}

// nextLeaf moves the path to the leaf after the current one and returns it, or
// nil after the last.
func (p *path) nextLeaf() *leaf {
	d := p.depth - 1
	for d >= 0 && p.index[d]+1 >= p.nodes[d].n {
		d--
	}
	if d < 0 {
		return nil
	}
	p.index[d]++
	nd := p.nodes[d].kids[p.index[d]]
	for d++; d < p.depth; d++ {
		n := nd.(*inner)
		p.nodes[d], p.index[d] = n, 0
		nd = n.kids[0]
	}
	return nd.(*leaf)
}

// locate returns the leaf holding rank i, which must be in range, and i's index in
// it, recording the way down in p.
func (t *Tree) locate(i int, p *path) (*leaf, int) {
	nd := t.root
	for {
		switch n := nd.(type) {
		case *inner:
			j := 0
			for i >= n.counts[j] {
				i -= n.counts[j]
				j++
			}
			p.nodes[p.depth], p.index[p.depth] = n, j
			p.depth++
			nd = n.kids[j]
		case *leaf:
			return n, i
		}
	}
}

// search returns the index of the first key in l that does not rank before k, and
// whether it is k.
func (t *Tree) search(l *leaf, k Key) (int, bool) {
	lo, hi := 0, l.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.compare(l.keys[m], k) < 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo, lo < l.n && l.keys[lo] == k
}

// childFor returns the index of the child of n whose range holds k: the last
// child whose separator is at or below k.
func (t *Tree) childFor(n *inner, k Key) int {
	lo, hi := 1, n.n
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if t.compare(n.seps[m], k) <= 0 {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo - 1
}

// size returns how many keys are under nd.
func size(nd node) int {
	switch n := nd.(type) {
	case *leaf:
		return n.n
	case *inner:
		s := 0
		for _, c := range n.counts[:n.n] {
			s += c
		}
		return s
	}
	return 0
}
