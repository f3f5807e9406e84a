package memory_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/memory"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// The benchmarks load boards of a million citizens, as the Redis adapter's
// BenchmarkLeaderboard1M does, so the figures compare:
//
//	go test ./adapters/memory -run '^$' -bench Leaderboard -benchtime 2s -v
//
// Besides ns/op they report cpu-ns/op, the process's CPU time (garbage collection
// included), which stays meaningful on a machine busy with other work.

const benchMembers = 1_000_000

var benchDistricts = []string{"wuxing", "nanxun", "deqing", "changxing", "anji"}

func benchID(i int) string { return fmt.Sprintf("01JCITIZEN%016d", i) }

// benchSnapshot is a million members in five districts with scores on "all". IDs
// are made twice, as in production, where the member's comes from the citizens
// and the score's from the ledger: the boards must not keep both.
func benchSnapshot(rng *rand.Rand, now time.Time) *domain.BoardSnapshot {
	snap := &domain.BoardSnapshot{
		Members:   make([]domain.BoardMember, benchMembers),
		Instances: []domain.BoardInstance{{ID: "all"}},
		Scores:    map[string][]domain.BoardScore{"all": make([]domain.BoardScore, benchMembers)},
		Watermark: now,
	}
	for i := range benchMembers {
		snap.Members[i] = domain.BoardMember{CitizenID: benchID(i), Nickname: fmt.Sprintf("绿友%06d", i), District: strings.Clone(benchDistricts[i%5]), Version: 1}
		// Scores up to 50 kg, so ties are common and the tie-break is exercised.
		snap.Scores["all"][i] = domain.BoardScore{
			CitizenID: benchID(i), CO2eGrams: 1 + rng.Int64N(50_000),
			ReachedAt: now.Add(-time.Duration(rng.Int64N(int64(24 * time.Hour)))),
		}
	}
	return snap
}

// reportCPU adds the process's CPU time per op since start (see processCPU).
func reportCPU(b *testing.B, start int64, ops int) {
	if ops > 0 {
		b.ReportMetric(float64(processCPU()-start)/float64(ops), "cpu-ns/op")
	}
}

// heapInUse is the live heap after a full collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// BenchmarkLeaderboard1M loads one board ("all") of a million ranked citizens
// with Replace, then measures Apply and Query on it.
func BenchmarkLeaderboard1M(b *testing.B) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	lb := memory.NewLeaderboard(time.Now)
	before := heapInUse()
	start := time.Now()
	if err := lb.Replace(ctx, benchSnapshot(rng, time.Now())); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.Logf("snapshot and Replace of %d members: %v; %d bytes a member (member, score, city and district boards)",
		benchMembers, elapsed.Round(time.Millisecond), (heapInUse()-before)/benchMembers)

	all := []domain.BoardInstance{{ID: "all"}}
	b.Run("Apply/1", func(b *testing.B) {
		i := 0
		cpu := processCPU()
		for b.Loop() {
			c := domain.BoardCredit{EntryID: fmt.Sprintf("bench1-%d", i), CitizenID: benchID(rng.IntN(benchMembers)), CO2eGrams: 100, At: time.Now(), Instances: all}
			if _, err := lb.Apply(ctx, []domain.BoardCredit{c}); err != nil {
				b.Fatal(err)
			}
			i++
		}
		reportCPU(b, cpu, b.N)
	})
	b.Run("Apply/500", func(b *testing.B) {
		i := 0
		credits := make([]domain.BoardCredit, 500)
		cpu := processCPU()
		for b.Loop() {
			for j := range credits {
				credits[j] = domain.BoardCredit{EntryID: fmt.Sprintf("bench500-%d", i), CitizenID: benchID(rng.IntN(benchMembers)), CO2eGrams: 100, At: time.Now(), Instances: all}
				i++
			}
			if _, err := lb.Apply(ctx, credits); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/credit")
		b.ReportMetric(float64(processCPU()-cpu)/float64(i), "cpu-ns/credit")
	})
	for _, district := range []string{"", "wuxing"} {
		name := map[string]string{"": "city", "wuxing": "district"}[district]
		q := func(rng *rand.Rand) domain.BoardQuery {
			return domain.BoardQuery{
				Board: domain.BoardID{Instance: "all", District: district}, Limit: 50,
				CitizenID: benchID(rng.IntN(benchMembers)), Neighbours: 2,
			}
		}
		b.Run("Query/top50+me+2/"+name, func(b *testing.B) {
			cpu := processCPU()
			for b.Loop() {
				page, err := lb.Query(ctx, q(rng))
				if err != nil {
					b.Fatal(err)
				}
				if len(page.Top) != 50 || page.Me == nil {
					b.Fatalf("page = %+v", page)
				}
			}
			reportCPU(b, cpu, b.N)
		})
		// Queries share the read lock: this shows how they scale over the cores.
		b.Run("Query/top50+me+2/"+name+"/parallel", func(b *testing.B) {
			cpu := processCPU()
			b.RunParallel(func(pb *testing.PB) {
				rng := rand.New(rand.NewPCG(rand.Uint64(), 0))
				for pb.Next() {
					if _, err := lb.Query(ctx, q(rng)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			reportCPU(b, cpu, b.N)
		})
	}
	runtime.KeepAlive(lb)
}

// BenchmarkLeaderboardBuildByCredits1M builds the million-citizen board the slow
// way, one credit at a time, as a board grows in production (its leaves are
// about 70% full, where Replace packs them), and reports the memory it takes.
// One iteration is enough: -benchtime 1x.
func BenchmarkLeaderboardBuildByCredits1M(b *testing.B) {
	ctx := context.Background()
	now := time.Now()
	all := []domain.BoardInstance{{ID: "all"}}
	for b.Loop() {
		b.StopTimer()
		before := heapInUse()
		lb := memory.NewLeaderboard(time.Now)
		members := make([]domain.BoardMember, 0, 1000)
		for i := range benchMembers {
			members = append(members, domain.BoardMember{CitizenID: benchID(i), Nickname: fmt.Sprintf("绿友%06d", i), District: strings.Clone(benchDistricts[i%5]), Version: 1})
			if len(members) == cap(members) {
				if err := lb.SetMembers(ctx, members); err != nil {
					b.Fatal(err)
				}
				members = members[:0]
			}
		}
		rng := rand.New(rand.NewPCG(3, 4))
		credits := make([]domain.BoardCredit, 0, 1000)
		b.StartTimer()
		for i := range benchMembers {
			credits = append(credits, domain.BoardCredit{
				// Entries older than the dedup window, so that their markers (16
				// bytes each, for six hours) do not count as the board's memory.
				EntryID: benchID(i), CitizenID: benchID(i), CO2eGrams: 1 + rng.Int64N(50_000),
				At: now.Add(-domain.BoardDedupWindow - time.Duration(rng.Int64N(int64(24*time.Hour)))), Instances: all,
			})
			if len(credits) == cap(credits) {
				if _, err := lb.Apply(ctx, credits); err != nil {
					b.Fatal(err)
				}
				credits = credits[:0]
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(heapInUse()-before)/benchMembers, "B/member")
		runtime.KeepAlive(lb)
		b.StartTimer()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*benchMembers), "ns/credit")
}
