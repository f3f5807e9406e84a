package ranking

// Insert adds k and reports whether it was absent. O(log n).
func (t *Tree) Insert(k Key) bool {
	if t.root == nil {
		t.root = &leaf{}
	}
	right, sep, rightLen, ok := t.insert(t.root, k)
	if !ok {
		return false
	}
	t.len++
	if right != nil { // the root split: grow a level
		r := &inner{n: 2}
		r.kids[0], r.kids[1] = t.root, right
		r.counts[0], r.counts[1] = t.len-rightLen, rightLen
		r.seps[1] = sep
		t.root = r
	}
	return true
}

// insert adds k under nd. When nd had to split, it returns the new right half, the
// separator that goes before it in the parent, and how many keys it holds.
func (t *Tree) insert(nd node, k Key) (right node, sep Key, rightLen int, ok bool) {
	switch n := nd.(type) {
	case *leaf:
		i, found := t.search(n, k)
		if found {
			return nil, Key{}, 0, false
		}
		if n.n < leafMax {
			n.insertAt(i, k)
			return nil, Key{}, 0, true
		}
		r := n.split()
		if i <= n.n {
			n.insertAt(i, k)
		} else {
			r.insertAt(i-n.n, k)
		}
		return r, r.keys[0], r.n, true
	case *inner:
		i := t.childFor(n, k)
		kid, kidSep, kidLen, ok := t.insert(n.kids[i], k)
		if !ok {
			return nil, Key{}, 0, false
		}
		n.counts[i]++
		if kid == nil {
			return nil, Key{}, 0, true
		}
		n.counts[i] -= kidLen
		if n.n < innerMax {
			n.insertKid(i+1, kidSep, kid, kidLen)
			return nil, Key{}, 0, true
		}
		r, rSep := n.split()
		if i+1 <= n.n {
			n.insertKid(i+1, kidSep, kid, kidLen)
		} else {
			r.insertKid(i+1-n.n, kidSep, kid, kidLen)
		}
		return r, rSep, size(r), true
	}
	panic("ranking: unknown node")
}

func (l *leaf) insertAt(i int, k Key) {
	copy(l.keys[i+1:l.n+1], l.keys[i:l.n])
	l.keys[i] = k
	l.n++
}

// split moves the upper half of a full leaf to a new leaf.
func (l *leaf) split() *leaf {
	mid := (leafMax + 1) / 2
	r := &leaf{n: l.n - mid}
	copy(r.keys[:], l.keys[mid:l.n])
	clear(l.keys[mid:l.n])
	l.n = mid
	return r
}

// insertKid puts kid at index i, after the kid whose keys are all before sep.
func (n *inner) insertKid(i int, sep Key, kid node, count int) {
	copy(n.seps[i+1:n.n+1], n.seps[i:n.n])
	copy(n.kids[i+1:n.n+1], n.kids[i:n.n])
	copy(n.counts[i+1:n.n+1], n.counts[i:n.n])
	n.seps[i], n.kids[i], n.counts[i] = sep, kid, count
	n.n++
}

// split moves the upper half of a full inner node to a new node and returns it
// with the separator that goes before it in the parent.
func (n *inner) split() (*inner, Key) {
	mid := innerMax / 2
	r := &inner{n: n.n - mid}
	copy(r.seps[:], n.seps[mid:n.n])
	copy(r.kids[:], n.kids[mid:n.n])
	copy(r.counts[:], n.counts[mid:n.n])
	sep := r.seps[0]
	r.seps[0] = Key{}
	n.clearFrom(mid)
	return r, sep
}

// clearFrom empties the slots from i on, so they keep no nodes alive.
func (n *inner) clearFrom(i int) {
	clear(n.seps[i:n.n])
	clear(n.kids[i:n.n])
	clear(n.counts[i:n.n])
	n.n = i
}
