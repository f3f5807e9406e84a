package ranking

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// names gives IDs an order unlike their numbers, as citizen IDs have: ID i is
// named by a random string, and ties compare names.
type names []string

func newNames(r *rand.Rand, n int) names {
	out := make(names, n)
	for i := range out {
		out[i] = fmt.Sprintf("%08x-%d", r.Uint32(), i)
	}
	return out
}

func (ns names) tie(a, b uint32) int { return strings.Compare(ns[a], ns[b]) }

// model is the obviously right reference: a sorted slice.
type model struct {
	keys []Key
	cmp  func(a, b Key) int
}

func newModel(ns names) *model {
	t := New(ns.tie)
	return &model{cmp: t.compare}
}

func (m *model) insert(k Key) bool {
	i, found := slices.BinarySearchFunc(m.keys, k, m.cmp)
	if found {
		return false
	}
	m.keys = slices.Insert(m.keys, i, k)
	return true
}

func (m *model) delete(k Key) bool {
	i, found := slices.BinarySearchFunc(m.keys, k, m.cmp)
	if !found {
		return false
	}
	m.keys = slices.Delete(m.keys, i, i+1)
	return true
}

// randomKey draws from a small space, so scores tie often, ties on score differ
// by reached time, and some keys tie on both and differ only by ID.
func randomKey(r *rand.Rand, ids int) Key {
	return Key{
		Score: r.Int64N(20) - 3, // some zero and negative: the tree orders any score
		At:    r.Int64N(5),
		ID:    uint32(r.IntN(ids)),
	}
}

// agree checks every query of tr against m.
func agree(t *testing.T, tr *Tree, m *model) {
	t.Helper()
	check(t, tr)
	if tr.Len() != len(m.keys) {
		t.Fatalf("Len %d, want %d", tr.Len(), len(m.keys))
	}
	i := 0
	for r, k := range tr.Ascend(0) {
		if r != i || k != m.keys[i] {
			t.Fatalf("Ascend(0) yields %d %v at %d, want %v", r, k, i, m.keys[i])
		}
		i++
	}
	if i != len(m.keys) {
		t.Fatalf("Ascend(0) yields %d keys, want %d", i, len(m.keys))
	}
	for i, k := range m.keys {
		if r, ok := tr.Rank(k); r != i || !ok {
			t.Fatalf("Rank(%v) = %d, %v; want %d, true", k, r, ok, i)
		}
		if got, ok := tr.Select(i); got != k || !ok {
			t.Fatalf("Select(%d) = %v, %v; want %v", i, got, ok, k)
		}
	}
}

func TestRandomOperationsMatchASortedSlice(t *testing.T) {
	for _, tc := range []struct {
		ops, ids int
	}{
		{300, 10},     // a handful of keys: a single leaf, often empty
		{4000, 80},    // around one leaf's worth: splits and merges at the root
		{20000, 400},  // two levels
		{80000, 6000}, // three levels, with inner nodes borrowing and merging
	} {
		t.Run(fmt.Sprintf("%d ops over %d ids", tc.ops, tc.ids), func(t *testing.T) {
			r := rand.New(rand.NewPCG(uint64(tc.ops), uint64(tc.ids)))
			ns := newNames(r, tc.ids)
			tr := New(ns.tie)
			m := newModel(ns)
			// A citizen has one key at a time, as on a board: an update deletes the
			// old key and inserts the new one.
			current := map[uint32]Key{}
			for op := range tc.ops {
				k := randomKey(r, tc.ids)
				switch old, has := current[k.ID]; {
				case has && r.IntN(3) == 0: // delete
					if tr.Delete(old) != m.delete(old) {
						t.Fatalf("op %d: Delete(%v) disagrees", op, old)
					}
					delete(current, k.ID)
				case has: // update
					if !tr.Delete(old) || !m.delete(old) {
						t.Fatalf("op %d: Delete(%v) of a present key failed", op, old)
					}
					fallthrough
				default:
					if got, want := tr.Insert(k), m.insert(k); got != want {
						t.Fatalf("op %d: Insert(%v) = %v, want %v", op, k, got, want)
					}
					current[k.ID] = k
				}
				// Repeats and absent keys are refused without harm.
				if cur, ok := current[k.ID]; ok && tr.Insert(cur) {
					t.Fatalf("op %d: second Insert(%v) accepted", op, cur)
				}
				absent := Key{Score: 1000, ID: 1}
				if tr.Delete(absent) {
					t.Fatalf("op %d: Delete of an absent key reported true", op)
				}
				if _, ok := tr.Rank(absent); ok {
					t.Fatalf("op %d: Rank found an absent key", op)
				}
				// Checking the whole tree after every step of the big runs would take
				// minutes; every so often catches any slip, as the model's count and
				// the ranks it checks depend on every step before.
				switch {
				case tc.ops <= 4000 || op%500 == 0:
					agree(t, tr, m)
				case op%23 == 0:
					check(t, tr)
				}
			}
			agree(t, tr, m)
			// Emptying the tree in random order exercises every merge path down to
			// an empty root.
			keys := slices.Clone(m.keys)
			r.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
			for i, k := range keys {
				if !tr.Delete(k) {
					t.Fatalf("Delete(%v) of a present key failed", k)
				}
				if i%37 == 0 {
					check(t, tr)
				}
			}
			check(t, tr)
			if tr.Len() != 0 || tr.root != nil {
				t.Fatalf("emptied tree holds %d keys", tr.Len())
			}
		})
	}
}

func TestRankOfAnAbsentKeyIsWhereItWouldGo(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	ns := newNames(r, 4000)
	tr := New(ns.tie)
	m := newModel(ns)
	for range 5000 {
		k := randomKey(r, 3000)
		tr.Insert(k)
		m.insert(k)
	}
	for range 2000 {
		k := randomKey(r, 4000)
		want, wantFound := slices.BinarySearchFunc(m.keys, k, m.cmp)
		if got, found := tr.Rank(k); got != want || found != wantFound {
			t.Fatalf("Rank(%v) = %d, %v; want %d, %v", k, got, found, want, wantFound)
		}
	}
}

func TestOrderIsScoreDescThenReachedAscThenTie(t *testing.T) {
	ns := names{"z", "b", "a", "c", "d"}
	tr := New(ns.tie)
	keys := []Key{
		{Score: 5, At: 9, ID: 0},
		{Score: 7, At: 3, ID: 1},
		{Score: 7, At: 3, ID: 2},
		{Score: 7, At: 1, ID: 3},
		{Score: -2, At: 0, ID: 4},
	}
	for _, k := range keys {
		tr.Insert(k)
	}
	var got []string
	for _, k := range tr.Ascend(0) {
		got = append(got, ns[k.ID])
	}
	// c reached 7 first; a and b reached it at the same time, so a's smaller name
	// wins, though its ID is the larger number.
	if want := []string{"c", "a", "b", "z", "d"}; !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	// Without a tie function, IDs compare as numbers.
	tr = New(nil)
	tr.Insert(Key{Score: 1, ID: 9})
	tr.Insert(Key{Score: 1, ID: 3})
	if k, _ := tr.Select(0); k.ID != 3 {
		t.Fatalf("without tie, ID %d ranks first, want 3", k.ID)
	}
}

func TestAscendFromAnyRankAndStopping(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ns := newNames(r, 100000)
	m := newModel(ns)
	var keys []Key
	for range 9000 { // three levels: the walk climbs more than one level between leaves
		k := randomKey(r, 100000)
		k.Score = r.Int64N(1 << 40)
		keys = append(keys, k)
		m.insert(k)
	}
	tr := Build(slices.Clone(keys), ns.tie)
	check(t, tr)
	for _, from := range []int{-5, 0, 1, 84, 85, 86, 500, 5354, 5355, len(m.keys) - 1, len(m.keys), len(m.keys) + 10} {
		for _, n := range []int{1, 7, 200} {
			var got []Key
			for i, k := range tr.Ascend(from) {
				if len(got) == n {
					break
				}
				if want := max(from, 0) + len(got); i != want {
					t.Fatalf("Ascend(%d) yields rank %d, want %d", from, i, want)
				}
				got = append(got, k)
			}
			lo := min(max(from, 0), len(m.keys))
			if want := m.keys[lo:min(lo+n, len(m.keys))]; !slices.Equal(got, want) {
				t.Fatalf("Ascend(%d) for %d = %v, want %v", from, n, got, want)
			}
		}
	}
	if _, ok := tr.Select(-1); ok {
		t.Fatal("Select(-1) found a key")
	}
	if _, ok := tr.Select(len(m.keys)); ok {
		t.Fatal("Select(len) found a key")
	}
}

func TestBuildMatchesInsertingOneByOne(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, n := range []int{0, 1, 2, 42, 43, 85, 86, 170, 171, 2000, 5355, 5356, 20000} {
		ns := newNames(r, 3*n+1)
		keys := make([]Key, n)
		for i := range keys {
			keys[i] = randomKey(r, 3*n+1)
		}
		m := newModel(ns)
		for _, k := range keys {
			m.insert(k)
		}
		tr := Build(keys, ns.tie)
		agree(t, tr, m)
		// A built tree takes updates like any other.
		for i := range min(len(m.keys), 3000) {
			k := m.keys[i]
			if !tr.Delete(k) {
				t.Fatalf("n=%d: Delete(%v) failed on a built tree", n, k)
			}
			k.Score += 50
			tr.Insert(k)
			if i%101 == 0 {
				check(t, tr)
			}
		}
		check(t, tr)
	}
}

func TestEmptyTree(t *testing.T) {
	tr := New(nil)
	if _, ok := tr.Rank(Key{ID: 1}); ok {
		t.Fatal("empty tree ranks a key")
	}
	if tr.Delete(Key{ID: 1}) {
		t.Fatal("empty tree deletes a key")
	}
	for range tr.Ascend(0) {
		t.Fatal("empty tree yields a key")
	}
	if !tr.Insert(Key{ID: 1}) || tr.Len() != 1 {
		t.Fatal("empty tree refuses a key")
	}
}

// TestInnerNodesBorrowAndMerge empties runs of ranks in a tree three inner levels
// deep, so inner nodes fall below half full next to full siblings (they borrow
// from the left and from the right) and next to half-full ones (they merge).
func TestInnerNodesBorrowAndMerge(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a 400,000-key tree")
	}
	keys := make([]Key, 400000)
	for i := range keys {
		keys[i] = Key{Score: int64(len(keys) - i), ID: uint32(i)}
	}
	m := &model{keys: slices.Clone(keys), cmp: New(nil).compare}
	tr := Build(keys, nil)
	check(t, tr)
	del := func(from, to int) {
		for i := from; i < to; i++ {
			if !tr.Delete(m.keys[i]) {
				t.Fatalf("Delete(%v) failed", m.keys[i])
			}
		}
		m.keys = slices.Delete(m.keys, from, to)
		check(t, tr)
	}
	del(0, 80000)       // from the top: the first inner nodes borrow from their right
	del(130000, 210000) // from the middle: nodes borrow from their left too
	del(len(m.keys)-60000, len(m.keys))
	for len(m.keys) > 0 { // then merges all the way down
		del(len(m.keys)/3, min(len(m.keys)/3+9000, len(m.keys)))
	}
	agree(t, tr, m)
}
