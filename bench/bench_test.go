package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/memory"
	"github.com/huzhou-lvdaitong/carbon-account/adapters/sqlite"
	"github.com/huzhou-lvdaitong/carbon-account/api"
	"github.com/huzhou-lvdaitong/carbon-account/api/token"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
	"github.com/huzhou-lvdaitong/carbon-account/seeds"
)

// newTestSystem wires the API on a fresh SQLite file and in-process shared state,
// as api/harness_test.go does, with no rate limit and no daily points cap. The
// root command uses the real wiring (wire()) instead.
func newTestSystem(tb testing.TB) System {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	store, err := sqlite.Open(ctx, filepath.Join(dir, "carbon.db"))
	if err != nil {
		tb.Fatal(err)
	}
	state := memory.NewSharedState()
	tb.Cleanup(func() { _ = state.Close(); _ = store.Close() })
	key, _, err := token.LoadOrGenerateKeyFile(filepath.Join(dir, "k.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	tokens := token.NewAuthority(key, nil, "carbon-account", "carbon-account-api", 15*time.Minute, time.Now)
	if _, err := seeds.Load(ctx, store, domain.Now()); err != nil {
		tb.Fatal(err)
	}
	catalog := &domain.Catalog{Store: store, Now: domain.Now}
	if err := catalog.Reload(ctx); err != nil {
		tb.Fatal(err)
	}
	rules := domain.DefaultActionRules
	rules.DailyPoints, rules.PerMinute = 0, 0
	actions := &domain.ActionService{Actions: store, Catalog: catalog, Limiter: state, Now: domain.Now, Rules: rules}
	auth := &domain.AuthService{Citizens: store, Operators: store, Sessions: store, Limiter: state,
		Now: domain.Now, RefreshTTL: 24 * time.Hour, LoginAttempts: 5, LoginWindow: time.Minute}
	return System{
		Store: store, Actions: actions, Catalog: catalog, Tokens: tokens, Adapter: "SQLite (test wiring)",
		NewApp: func() *fiber.App {
			return api.New(api.Deps{
				Auth: auth, Actions: actions, Catalog: catalog, Levels: seeds.Levels(), Tokens: tokens,
				Citizens:  &domain.CitizenService{Citizens: store, Sessions: store, Actions: store, Now: domain.Now},
				Operators: &domain.OperatorService{Operators: store, Now: domain.Now},
				// Request logs formatted as in production, then dropped.
				Logger:         slog.New(slog.NewJSONHandler(io.Discard, nil)),
				BodyLimitBytes: 64 << 10, Version: "bench",
			})
		},
	}
}

// TestRunSmall runs the whole benchmark at a tiny size: every phase records
// actions, nothing fails, every call is counted and the ledger still adds up.
func TestRunSmall(t *testing.T) {
	rep, err := Run(context.Background(), newTestSystem(t), Options{
		// Enough citizens that no per-type daily cap is reached (see Kinds).
		Citizens: 300, Concurrency: 4, Duration: 250 * time.Millisecond, Warmup: 50 * time.Millisecond,
		Prefill: 300, PrefillConcurrency: 2,
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep.Print(&out)
	t.Log("\n" + out.String())

	if len(rep.Rows) != 6 {
		t.Fatalf("%d rows, want 2 rounds × 3 phases", len(rep.Rows))
	}
	for _, row := range rep.Rows {
		if row.OK == 0 || len(row.Failed) > 0 {
			t.Errorf("round %d %s: %d recorded, not recorded %v %v", row.Round, row.Phase, row.OK, row.Failed, row.FailSample)
		}
		want := CallCounts{callRecordAction: 1}
		if row.Phase != PhaseDirect {
			want[callFindByKey] = 1
		}
		if row.Calls != want {
			t.Errorf("round %d %s: store calls per action %s, want %s", row.Round, row.Phase, row.Calls, want)
		}
		if row.P50 <= 0 || row.P99 < row.P50 || row.Max < row.P99 {
			t.Errorf("round %d %s: percentiles p50 %s p99 %s max %s out of order", row.Round, row.Phase, row.P50, row.P99, row.Max)
		}
	}
	if r2 := rep.Row(2, PhaseDirect); r2.LedgerEntries < int64(rep.Prefill) {
		t.Errorf("round 2 started with %d ledger entries, want at least the %d prefilled", r2.LedgerEntries, rep.Prefill)
	}
	if rep.Consistent != 300 || rep.Inconsistent != 0 {
		t.Errorf("ledger check: %d consistent, %d not; want 300 and 0", rep.Consistent, rep.Inconsistent)
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	var v []time.Duration
	for i := 1; i <= 200; i++ {
		v = append(v, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0.50, 100}, {0.99, 198}, {1, 200}, {0.001, 1}} {
		if got := percentile(v, c.p); got != c.want {
			t.Errorf("percentile(1..200, %v) = %d, want %d", c.p, got, c.want)
		}
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("percentile of nothing = %d", got)
	}
}

func TestParsePhases(t *testing.T) {
	got, err := ParsePhases("http, direct,http")
	if err != nil || !slices.Equal(got, []Phase{PhaseDirect, PhaseHTTP}) {
		t.Errorf("ParsePhases = %v, %v", got, err)
	}
	if _, err := ParsePhases("grpc"); err == nil {
		t.Error("ParsePhases accepted an unknown phase")
	}
}

// The Go benchmarks share one small store, created on first use.
var shared struct {
	once sync.Once
	env  *env
	err  error
	tags atomic.Int64
}

const benchCitizens = 1000

func sharedEnv(b *testing.B) *env {
	b.Helper()
	shared.once.Do(func() {
		// Not b.TempDir: the store outlives this b, for the other benchmark.
		tb := &cleanupTB{TB: b}
		sys := newTestSystem(tb)
		shared.env, shared.err = newEnv(context.Background(), sys, benchCitizens, io.Discard)
		if shared.err == nil {
			shared.err = shared.env.mintTokens()
		}
	})
	if shared.err != nil {
		b.Fatal(shared.err)
	}
	return shared.env
}

// benchmarkPhase records b.N actions through phase p from parallel goroutines
// and reports throughput and exact latency percentiles.
func benchmarkPhase(b *testing.B, p Phase) {
	e := sharedEnv(b)
	b.SetParallelism(8) // 8 × GOMAXPROCS callers
	var mu sync.Mutex
	var all []time.Duration
	var failed atomic.Int64
	var sample atomic.Value
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		w, err := e.newWorker(p, fmt.Sprintf("g%d-", shared.tags.Add(1)), uint64(shared.tags.Load()))
		if err != nil {
			b.Error(err)
			return
		}
		lat := make([]time.Duration, 0, 1024)
		for pb.Next() {
			w.next()
			t0 := time.Now()
			out := w.do(context.Background())
			if out.ok {
				lat = append(lat, time.Since(t0))
			} else {
				failed.Add(1)
				sample.CompareAndSwap(nil, out.key+": "+out.detail)
			}
		}
		mu.Lock()
		all = append(all, lat...)
		mu.Unlock()
	})
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Errorf("%d of %d actions not recorded, e.g. %v", n, b.N, sample.Load())
	}
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "actions/s")
	b.ReportMetric(float64(percentile(all, 0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(percentile(all, 0.99).Microseconds()), "p99-µs")
}

// BenchmarkRecordActionDirect calls the store's RecordAction as the service would.
//
//	go test -run '^$' -bench . ./bench/
func BenchmarkRecordActionDirect(b *testing.B) { benchmarkPhase(b, PhaseDirect) }

// BenchmarkRecordActionService calls ActionService.Record (no HTTP).
func BenchmarkRecordActionService(b *testing.B) { benchmarkPhase(b, PhaseService) }

// BenchmarkRecordActionHTTP sends POST /v1/actions to the app on a loopback port
// (client and server in this process).
func BenchmarkRecordActionHTTP(b *testing.B) { benchmarkPhase(b, PhaseHTTP) }

// cleanupTB defers the cleanups registered on it to the end of the test binary
// (TestMain), so a store made during one benchmark serves the next.
type cleanupTB struct{ testing.TB }

var deferred struct {
	mu  sync.Mutex
	fns []func()
	dir []string
}

func (c *cleanupTB) Cleanup(f func()) {
	deferred.mu.Lock()
	defer deferred.mu.Unlock()
	deferred.fns = append(deferred.fns, f)
}

func (c *cleanupTB) TempDir() string {
	dir, err := mkdirTemp()
	if err != nil {
		c.Fatal(err)
	}
	deferred.mu.Lock()
	defer deferred.mu.Unlock()
	deferred.dir = append(deferred.dir, dir)
	return dir
}
