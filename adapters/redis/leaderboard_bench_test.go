package redis

import (
	crand "crypto/rand"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// openBench opens the adapter on REDIS_URL under a random prefix: benchmarks
// mean something only against a real server.
func openBench(t testing.TB) (*SharedState, string) {
	t.Helper()
	u := os.Getenv("REDIS_URL")
	if u == "" {
		t.Skip("REDIS_URL not set: benchmarks need a real Redis")
	}
	prefix := "carbonbench:" + crand.Text() + ":"
	s, err := Open(t.Context(), u, WithKeyPrefix(prefix))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, prefix
}

// BenchmarkLeaderboard1M loads one board ("all") of a million ranked citizens
// with Replace, then measures Apply and Query on it.
//
//	REDIS_URL=redis://127.0.0.1:6379/15 go test ./adapters/redis -run '^$' -bench Leaderboard1M
func BenchmarkLeaderboard1M(b *testing.B) {
	const n = 1_000_000
	lb, _, _ := openLeaderboard(b)
	ctx := b.Context()
	rng := rand.New(rand.NewPCG(1, 2))
	now := time.Now()
	districts := []string{"wuxing", "nanxun", "deqing", "changxing", "anji"}
	id := func(i int) string { return fmt.Sprintf("01JCITIZEN%016d", i) }

	snap := &domain.BoardSnapshot{
		Members:   make([]domain.BoardMember, n),
		Instances: []domain.BoardInstance{{ID: "all"}},
		Scores:    map[string][]domain.BoardScore{"all": make([]domain.BoardScore, n)},
		Watermark: now,
	}
	for i := range n {
		snap.Members[i] = domain.BoardMember{CitizenID: id(i), Nickname: fmt.Sprintf("绿友%06d", i), District: districts[i%5], Version: 1}
		// Scores up to 50 kg, so ties are common and the tie-break is exercised.
		snap.Scores["all"][i] = domain.BoardScore{
			CitizenID: id(i), CO2eGrams: 1 + rng.Int64N(50_000),
			ReachedAt: now.Add(-time.Duration(rng.Int64N(int64(24 * time.Hour)))),
		}
	}
	cpu0, start := serverCPU(b, lb), time.Now()
	if err := lb.Replace(ctx, snap); err != nil {
		b.Fatal(err)
	}
	b.Logf("Replace of %d members and scores: %v (Redis CPU %v, includes other clients')",
		n, time.Since(start).Round(time.Millisecond), (serverCPU(b, lb) - cpu0).Round(time.Millisecond))
	snap = nil

	all := []domain.BoardInstance{{ID: "all"}}
	b.Run("Apply/1", func(b *testing.B) {
		i := 0
		for b.Loop() {
			c := domain.BoardCredit{EntryID: fmt.Sprintf("bench1-%d", i), CitizenID: id(rng.IntN(n)), CO2eGrams: 100, At: time.Now(), Instances: all}
			if _, err := lb.Apply(ctx, []domain.BoardCredit{c}); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("Apply/500", func(b *testing.B) {
		i := 0
		credits := make([]domain.BoardCredit, 500)
		for b.Loop() {
			for j := range credits {
				credits[j] = domain.BoardCredit{EntryID: fmt.Sprintf("bench500-%d", i), CitizenID: id(rng.IntN(n)), CO2eGrams: 100, At: time.Now(), Instances: all}
				i++
			}
			if _, err := lb.Apply(ctx, credits); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/credit")
	})
	for _, district := range []string{"", "wuxing"} {
		b.Run("Query/top50+me+2/"+map[string]string{"": "city", "wuxing": "district"}[district], func(b *testing.B) {
			for b.Loop() {
				page, err := lb.Query(ctx, domain.BoardQuery{
					Board: domain.BoardID{Instance: "all", District: district}, Limit: 50,
					CitizenID: id(rng.IntN(n)), Neighbours: 2,
				})
				if err != nil {
					b.Fatal(err)
				}
				if len(page.Top) != 50 || page.Me == nil {
					b.Fatalf("page = %+v", page)
				}
			}
		})
	}
}

// serverCPU is the CPU time the Redis server has used, from INFO cpu.
func serverCPU(b *testing.B, lb *Leaderboard) time.Duration {
	info, err := lb.client.Info(b.Context(), "cpu").Result()
	if err != nil {
		b.Fatal(err)
	}
	var total float64
	for _, line := range strings.Split(info, "\r\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "used_cpu_sys" || k == "used_cpu_user" {
			f, _ := strconv.ParseFloat(v, 64)
			total += f
		}
	}
	return time.Duration(total * float64(time.Second))
}
