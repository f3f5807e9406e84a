package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/bench/internal/benchtest"
	"github.com/huzhou-lvdaitong/carbon-account/bench/measure"
)

// newTestSystem wires the API on a fresh SQLite file and in-process shared state
// (benchtest), with no rate limit and no daily points cap. The root command uses
// the real wiring (wire()) instead.
func newTestSystem(tb testing.TB) System {
	tb.Helper()
	w := benchtest.New(tb)
	return System{Store: w.Store, Actions: w.Actions, Catalog: w.Catalog, Tokens: w.Tokens, NewApp: w.NewApp, Adapter: "SQLite (test wiring)"}
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
			w.Next()
			t0 := time.Now()
			out := w.Do(context.Background())
			if out.OK {
				lat = append(lat, time.Since(t0))
			} else {
				failed.Add(1)
				sample.CompareAndSwap(nil, out.Key+": "+out.Detail)
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
	b.ReportMetric(float64(measure.Percentile(all, 0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(measure.Percentile(all, 0.99).Microseconds()), "p99-µs")
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
