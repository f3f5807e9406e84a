package ranking

// Delete removes k and reports whether it was present. O(log n). Nodes that fall
// below half full borrow from or merge with a sibling, so memory follows the number
// of keys however the scores move.
func (t *Tree) Delete(k Key) bool {
	if t.root == nil || !t.delete(t.root, k) {
		return false
	}
	t.len--
	switch r := t.root.(type) {
	case *inner:
		if r.n == 1 { // the last merge below the root left it one child: drop a level
			t.root = r.kids[0]
		}
	case *leaf:
		if r.n == 0 {
			t.root = nil
		}
	}
	return true
}

func (t *Tree) delete(nd node, k Key) bool {
	switch n := nd.(type) {
	case *leaf:
		i, found := t.search(n, k)
		if !found {
			return false
		}
		copy(n.keys[i:n.n-1], n.keys[i+1:n.n])
		n.keys[n.n-1] = Key{}
		n.n--
		return true
	case *inner:
		i := t.childFor(n, k)
		if !t.delete(n.kids[i], k) {
			return false
		}
		n.counts[i]--
		if underfull(n.kids[i]) {
			n.rebalance(i)
		}
		return true
	}
	panic("ranking: unknown node")
}

func underfull(nd node) bool {
	switch n := nd.(type) {
	case *leaf:
		return n.n < leafMin
	case *inner:
		return n.n < innerMin
	}
	return false
}

// rebalance fixes the underfull kid i with a neighbour: the two merge when they
// fit in one node, or else share their entries evenly. n has at least two kids
// (a root inner node has two or more, any other at least innerMin).
func (n *inner) rebalance(i int) {
	if i == 0 {
		i = 1
	}
	// The pair is kids[i-1] (left) and kids[i] (right), separated by seps[i].
	switch l := n.kids[i-1].(type) {
	case *leaf:
		n.rebalanceLeaves(i, l, n.kids[i].(*leaf))
	case *inner:
		n.rebalanceInners(i, l, n.kids[i].(*inner))
	}
}

func (n *inner) rebalanceLeaves(i int, l, r *leaf) {
	if l.n+r.n <= leafMax {
		copy(l.keys[l.n:], r.keys[:r.n])
		l.n += r.n
		n.counts[i-1] = l.n
		n.removeKid(i)
		return
	}
	want := (l.n + r.n) / 2
	if l.n < want { // move r's first keys to l's end
		m := want - l.n
		copy(l.keys[l.n:], r.keys[:m])
		copy(r.keys[:], r.keys[m:r.n])
		clear(r.keys[r.n-m : r.n])
		l.n, r.n = l.n+m, r.n-m
	} else { // move l's last keys to r's front
		m := l.n - want
		copy(r.keys[m:], r.keys[:r.n])
		copy(r.keys[:m], l.keys[want:l.n])
		clear(l.keys[want:l.n])
		l.n, r.n = want, r.n+m
	}
	n.counts[i-1], n.counts[i] = l.n, r.n
	n.seps[i] = r.keys[0]
}

func (n *inner) rebalanceInners(i int, l, r *inner) {
	if l.n+r.n <= innerMax {
		// r's first kid comes after l's last: the parent's separator divides them.
		l.seps[l.n] = n.seps[i]
		copy(l.seps[l.n+1:], r.seps[1:r.n])
		copy(l.kids[l.n:], r.kids[:r.n])
		copy(l.counts[l.n:], r.counts[:r.n])
		l.n += r.n
		n.counts[i-1] += n.counts[i]
		n.removeKid(i)
		return
	}
	want := (l.n + r.n) / 2
	if want == l.n { // already even: cannot happen with one of them underfull
		return
	}
	moved := 0
	if l.n < want { // move r's first m kids to l's end
		m := want - l.n
		l.seps[l.n] = n.seps[i]
		copy(l.seps[l.n+1:], r.seps[1:m])
		copy(l.kids[l.n:], r.kids[:m])
		copy(l.counts[l.n:], r.counts[:m])
		for _, c := range r.counts[:m] {
			moved += c
		}
		n.seps[i] = r.seps[m]
		rn := r.n
		copy(r.seps[:], r.seps[m:rn])
		copy(r.kids[:], r.kids[m:rn])
		copy(r.counts[:], r.counts[m:rn])
		r.n = rn - m
		r.seps[0] = Key{}
		clear(r.seps[r.n:rn])
		clear(r.kids[r.n:rn])
		clear(r.counts[r.n:rn])
		l.n += m
		n.counts[i-1] += moved
		n.counts[i] -= moved
	} else { // move l's last m kids to r's front
		m := l.n - want
		copy(r.seps[m:], r.seps[:r.n])
		copy(r.kids[m:], r.kids[:r.n])
		copy(r.counts[m:], r.counts[:r.n])
		r.seps[m] = n.seps[i] // r's old first kid now follows l's moved kids
		copy(r.seps[1:m], l.seps[want+1:l.n])
		copy(r.kids[:m], l.kids[want:l.n])
		copy(r.counts[:m], l.counts[want:l.n])
		r.seps[0] = Key{}
		for _, c := range l.counts[want:l.n] {
			moved += c
		}
		n.seps[i] = l.seps[want]
		r.n += m
		l.clearFrom(want)
		n.counts[i-1] -= moved
		n.counts[i] += moved
	}
}

// removeKid drops kid i and the separator before it.
func (n *inner) removeKid(i int) {
	copy(n.seps[i:], n.seps[i+1:n.n])
	copy(n.kids[i:], n.kids[i+1:n.n])
	copy(n.counts[i:], n.counts[i+1:n.n])
	n.seps[n.n-1], n.kids[n.n-1], n.counts[n.n-1] = Key{}, nil, 0
	n.n--
}
