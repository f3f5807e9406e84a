package ranking

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkTree1M moves keys around a tree of a million, as credits move
// citizens up a board, and reads ranks and pages of it.
func BenchmarkTree1M(b *testing.B) {
	const n = 1_000_000
	r := rand.New(rand.NewPCG(1, 2))
	keys := make([]Key, n)
	for i := range keys {
		keys[i] = Key{Score: 1 + r.Int64N(50_000), At: r.Int64N(1e12), ID: uint32(i)}
	}
	tr := Build(append([]Key(nil), keys...), nil)
	b.Run("update", func(b *testing.B) {
		for b.Loop() {
			i := r.IntN(n)
			tr.Delete(keys[i])
			keys[i].Score += 100
			tr.Insert(keys[i])
		}
	})
	b.Run("rank", func(b *testing.B) {
		for b.Loop() {
			tr.Rank(keys[r.IntN(n)])
		}
	})
	b.Run("top50", func(b *testing.B) {
		for b.Loop() {
			for i := range tr.Ascend(0) {
				if i == 49 {
					break
				}
			}
		}
	})
}
