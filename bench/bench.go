// Package bench measures the main flow, recording an action (POST /v1/actions),
// end to end over HTTP next to the same store operations called directly, and
// prints both side by side as a ratio (DESIGN.md §6).
//
// Three paths record the same kind of action, from the same number of concurrent
// callers:
//
//   - direct: domain.ActionStore.RecordAction on the adapter, with the action draft
//     and credit rules the service builds (drafted outside the timed call);
//   - service: domain.ActionService.Record, no HTTP (idempotency lookup, rate
//     limit, validation, then RecordAction);
//   - http: POST /v1/actions to the real Fiber app on a loopback port, through a
//     keep-alive fasthttp client in the same process.
//
// Each path runs on a store holding only the citizens (round 1) and again after a
// prefill of ledger entries (round 2). A decorator around the adapter counts the
// store calls per action; MeasureSQLite and TestRoundTrips look inside the
// adapters (SQLite transactions and rows; MongoDB server commands).
//
// Run it on the embedded default with the real wiring (see bench_command.go):
//
//	go run . bench                                   # 10 000 citizens, 10 s per phase, 1M prefill
//	go run . bench -prefill 0 -duration 5s           # round 1 only, about a minute
//	go run . bench -phases http -prefill 0 -cpuprofile /tmp/bench.prof
//	go tool pprof -top /tmp/bench.prof.r1
//
// and the small versions and the per-adapter round trips with
//
//	go test -run '^$' -bench . ./bench/
//	go test -run TestRoundTrips -v ./bench/
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/api/token"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// System is the wired application under test.
type System struct {
	// Store is the adapter; citizens are created in it.
	Store domain.Store
	// Actions is the service the API serves. Run replaces Actions.Actions with a
	// decorator counting the calls into the store, before calling NewApp.
	Actions *domain.ActionService
	Catalog *domain.Catalog
	Tokens  *token.Authority
	// NewApp builds the HTTP application on Actions.
	NewApp func() *fiber.App
	// Adapter names the store for the report, e.g. "sqlite (embedded)".
	Adapter string
	// Commits, if set, returns how many write transactions the store has
	// committed so far (SQLiteWriterCommits), to show how many actions share one.
	Commits func() int64
}

// Phase is one way of recording actions.
type Phase string

const (
	PhaseDirect  Phase = "direct"
	PhaseService Phase = "service"
	PhaseHTTP    Phase = "http"
)

// AllPhases in the order they run.
var AllPhases = []Phase{PhaseDirect, PhaseService, PhaseHTTP}

// ParsePhases reads a comma-separated list of phases.
func ParsePhases(s string) ([]Phase, error) {
	var out []Phase
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(AllPhases, Phase(p)) {
			return nil, fmt.Errorf("unknown phase %q (want direct, service or http)", p)
		}
		if !slices.Contains(out, Phase(p)) {
			out = append(out, Phase(p))
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no phase selected")
	}
	// Always in the canonical order, so the ratios read the same way.
	slices.SortFunc(out, func(a, b Phase) int { return slices.Index(AllPhases, a) - slices.Index(AllPhases, b) })
	return out, nil
}

// Options size the benchmark.
type Options struct {
	Citizens    int           // actions go to a citizen picked at random among these
	Concurrency int           // concurrent callers (HTTP: keep-alive connections)
	Duration    time.Duration // measured time per phase
	Warmup      time.Duration // unmeasured time before each phase's first slice
	// Slices cuts each phase's Duration into this many slices, interleaved
	// with the other phases'; default 5.
	Slices int
	// Prefill is how many actions (each with one ledger entry) are recorded
	// between round 1 and round 2; 0 runs round 1 only.
	Prefill            int
	PrefillConcurrency int     // callers during the prefill; default 16
	Phases             []Phase // default AllPhases
	// CPUProfile, if set, is a path prefix: each round (all its phases, warm-ups
	// included; choose Phases to profile one) is profiled into CPUProfile.r<round>.
	CPUProfile string
	// Trace, if set, is a path prefix for runtime execution traces of each round,
	// like CPUProfile (go tool trace).
	Trace string
	// Progress receives progress lines; nil is silent.
	Progress io.Writer
	// Notes are printed with the report (configuration the caller chose).
	Notes []string
}

func (o *Options) defaults() error {
	if o.Citizens < 1 {
		return errors.New("bench: citizens must be at least 1")
	}
	if o.Concurrency < 1 {
		return errors.New("bench: concurrency must be at least 1")
	}
	if o.Duration <= 0 {
		return errors.New("bench: duration must be positive")
	}
	if o.Warmup < 0 || o.Prefill < 0 {
		return errors.New("bench: warmup and prefill must not be negative")
	}
	if o.Slices < 1 {
		o.Slices = 5
	}
	if o.PrefillConcurrency < 1 {
		o.PrefillConcurrency = 16
	}
	if len(o.Phases) == 0 {
		o.Phases = AllPhases
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	return nil
}

// Row is one phase of one round.
type Row struct {
	Round         int
	Phase         Phase
	LedgerEntries int64 // ledger entries this run had added when the round started

	OK         int64            // actions recorded (HTTP: 201 responses) in the measured window
	Failed     map[string]int64 // other outcomes in the window, by kind
	FailSample map[string]string
	Throughput float64       // OK per second of the measured windows
	SliceRates []float64     // OK per second in each slice, in order
	P50, P99   time.Duration // of the successful calls, exact (nearest rank)
	Max        time.Duration
	// CPUPerAction is the process's CPU time (user+system; HTTP: client and
	// server) during the window divided by the calls completed in it.
	CPUPerAction time.Duration
	// Calls are the calls into the store per attempted action over the whole
	// phase (warm-ups included).
	Calls CallCounts
	// GCCycles and GCCPUPerAction are the garbage collector's cycles and CPU
	// time (process-wide) in the windows; HeapLive is the live heap at the end.
	GCCycles       int64
	GCCPUPerAction time.Duration
	HeapLive       uint64
	// CommitsPerAction are the store's write transactions per attempted action
	// over the whole phase, if System.Commits is set; otherwise -1.
	CommitsPerAction float64
}

// Report is the outcome of Run.
type Report struct {
	Machine     Machine
	Adapter     string
	Options     Options
	Kinds       []Kind
	Rows        []Row
	Prefill     int
	PrefillTime time.Duration
	// Checked citizens whose balance equals their ledger sums, and those that do not.
	Consistent, Inconsistent int
	Started                  time.Time
	Finished                 time.Time
	// SQLite, if set by the caller (MeasureSQLite), details the adapter's work.
	SQLite []SQLiteCounts
}

// Row returns the row of a round and phase, or nil.
func (r *Report) Row(round int, p Phase) *Row {
	for i := range r.Rows {
		if r.Rows[i].Round == round && r.Rows[i].Phase == p {
			return &r.Rows[i]
		}
	}
	return nil
}

// Machine describes where the benchmark ran.
type Machine struct {
	OS, Arch, CPUModel, GoVersion string
	NumCPU, GOMAXPROCS            int
}

func machine() Machine {
	return Machine{
		OS: runtime.GOOS, Arch: runtime.GOARCH, CPUModel: cpuModel(), GoVersion: runtime.Version(),
		NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
	}
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// Run benchmarks sys. It creates opt.Citizens citizens in the store, serves the
// HTTP app on a loopback port, runs round 1, prefills, runs round 2 and checks
// that every citizen's balance still equals their ledger.
//
// Within a round the phases are interleaved: each phase's measured time is cut
// into opt.Slices slices, run in turn (direct, service, http, direct, ...), so
// that slow drifts and stalls of the machine (disk flushes, WAL checkpoints,
// noisy neighbours) fall on every phase alike and the ratios stay meaningful.
func Run(ctx context.Context, sys System, opt Options) (*Report, error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	e, err := newEnv(ctx, sys, opt.Citizens, opt.Progress)
	if err != nil {
		return nil, err
	}
	defer e.close()
	rep := &Report{Machine: machine(), Adapter: sys.Adapter, Options: opt, Kinds: e.kinds, Prefill: opt.Prefill, Started: time.Now()}

	rounds := 1
	if opt.Prefill > 0 {
		rounds = 2
	}
	for round := 1; round <= rounds; round++ {
		if round == 2 {
			t0 := time.Now()
			if err := e.prefill(ctx, opt.Prefill, opt.PrefillConcurrency); err != nil {
				return nil, err
			}
			rep.PrefillTime = time.Since(t0)
		}
		rows, err := e.round(ctx, round, opt)
		if err != nil {
			return nil, err
		}
		rep.Rows = append(rep.Rows, rows...)
	}
	fmt.Fprintln(opt.Progress, "checking that every balance equals its ledger ...")
	if rep.Consistent, rep.Inconsistent, err = checkBalances(ctx, e.counter); err != nil {
		return nil, err
	}
	rep.Finished = time.Now()
	return rep, nil
}

// phaseRun accumulates one phase of a round over its slices.
type phaseRun struct {
	row      Row
	workers  []worker
	lat      []time.Duration
	attempts int64
	calls    CallCounts // summed over the slices, warm-ups included
	cpu      time.Duration
	gc       runtimeStats
	commits  int64
	measured time.Duration
}

// round measures every phase of one round, interleaved in slices.
func (e *env) round(ctx context.Context, round int, opt Options) ([]Row, error) {
	if err := e.mintTokens(); err != nil { // fresh ones: a long prefill may outlast the TTL
		return nil, err
	}
	runs := make([]*phaseRun, len(opt.Phases))
	for k, p := range opt.Phases {
		r := &phaseRun{row: Row{Round: round, Phase: p, Failed: map[string]int64{}, FailSample: map[string]string{}}}
		for i := range opt.Concurrency {
			w, err := e.newWorker(p, fmt.Sprintf("r%d%c%d-", round, p[0], i), uint64(round*1000+i))
			if err != nil {
				return nil, err
			}
			r.workers = append(r.workers, w)
		}
		runs[k] = r
	}
	stop, err := startProfiles(opt, round)
	if err != nil {
		return nil, err
	}
	defer stop()

	entries := e.counter.ledgerEntries.Load()
	for _, r := range runs {
		r.row.LedgerEntries = entries
	}
	slice := opt.Duration / time.Duration(opt.Slices)
	for s := range opt.Slices {
		warmup := opt.Warmup
		if s > 0 {
			warmup = min(opt.Warmup, 200*time.Millisecond)
		}
		for _, r := range runs {
			ok, err := e.slice(ctx, r, warmup, slice)
			if err != nil {
				return nil, err
			}
			r.row.SliceRates = append(r.row.SliceRates, float64(ok)/slice.Seconds())
		}
	}

	rows := make([]Row, len(runs))
	for k, r := range runs {
		row := r.row
		slices.Sort(r.lat)
		row.OK = int64(len(r.lat))
		row.Throughput = float64(row.OK) / r.measured.Seconds()
		row.P50, row.P99 = percentile(r.lat, 0.50), percentile(r.lat, 0.99)
		if len(r.lat) > 0 {
			row.Max = r.lat[len(r.lat)-1]
		}
		if done := row.OK + sum(row.Failed); done > 0 {
			row.CPUPerAction = r.cpu / time.Duration(done)
			row.GCCPUPerAction = r.gc.gcCPU / time.Duration(done)
		}
		row.GCCycles, row.HeapLive = r.gc.gcCycles, r.gc.heapLive
		row.Calls = r.calls.per(r.attempts)
		row.CommitsPerAction = -1
		if e.sys.Commits != nil && r.attempts > 0 {
			row.CommitsPerAction = float64(r.commits) / float64(r.attempts)
		}
		rows[k] = row
		fmt.Fprintf(opt.Progress, "round %d %-7s %8.0f actions/s  p50 %-9s p99 %-9s failed %d\n",
			round, row.Phase, row.Throughput, fmtDur(row.P50), fmtDur(row.P99), sum(row.Failed))
	}
	return rows, nil
}

// startProfiles starts the CPU profile and execution trace of a round, if asked.
func startProfiles(opt Options, round int) (stop func(), err error) {
	var closers []func()
	stop = func() {
		for _, c := range closers {
			c()
		}
	}
	if opt.CPUProfile != "" {
		f, err := os.Create(fmt.Sprintf("%s.r%d", opt.CPUProfile, round))
		if err != nil {
			return stop, fmt.Errorf("bench: cpu profile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return stop, fmt.Errorf("bench: cpu profile: %w", err)
		}
		closers = append(closers, func() { pprof.StopCPUProfile(); f.Close() })
	}
	if opt.Trace != "" {
		f, err := os.Create(fmt.Sprintf("%s.r%d", opt.Trace, round))
		if err != nil {
			stop()
			return func() {}, fmt.Errorf("bench: trace: %w", err)
		}
		if err := trace.Start(f); err != nil {
			f.Close()
			stop()
			return func() {}, fmt.Errorf("bench: trace: %w", err)
		}
		closers = append(closers, func() { trace.Stop(); f.Close() })
	}
	return stop, nil
}

// slice runs r's workers for warmup, then dur measured, and adds what completed
// inside the measured window to r; ok is the successes among them. Only calls
// that complete inside the window count, so the rate is unbiased by calls in
// flight at either edge.
func (e *env) slice(ctx context.Context, r *phaseRun, warmup, dur time.Duration) (ok int64, err error) {
	before := e.counter.snapshot()
	commits0 := e.commits()
	var attempts atomic.Int64
	from := time.Now().Add(warmup)
	until := from.Add(dur)

	// The process's CPU time and GC work over exactly the measured window.
	var cpu0, cpu1 time.Duration
	var rt0, rt1 runtimeStats
	watch := make(chan struct{})
	go func() {
		defer close(watch)
		time.Sleep(time.Until(from))
		cpu0, rt0 = processCPU(), readRuntimeStats()
		time.Sleep(time.Until(until))
		cpu1, rt1 = processCPU(), readRuntimeStats()
	}()

	// The store calls get a context that is never cancelled, as the HTTP
	// handlers' (Fiber's UserContext is context.Background()): a cancellable one
	// makes the SQLite driver start a goroutine per statement to watch it.
	callCtx := context.WithoutCancel(ctx)
	results := make([]workerResult, len(r.workers))
	capHint := max(256, int(dur.Seconds()*60000)/len(r.workers)) // ~60k/s before the slices grow
	var wg sync.WaitGroup
	for i, w := range r.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := workerResult{lat: make([]time.Duration, 0, capHint), failed: map[string]int64{}, sample: map[string]string{}}
			var n int64
			for ctx.Err() == nil {
				w.next()
				t0 := time.Now()
				if !t0.Before(until) {
					break
				}
				out := w.do(callCtx)
				t1 := time.Now()
				n++
				if t1.Before(from) || t1.After(until) {
					continue
				}
				if out.ok {
					res.lat = append(res.lat, t1.Sub(t0))
					continue
				}
				res.failed[out.key]++
				if _, ok := res.sample[out.key]; !ok {
					res.sample[out.key] = out.detail
				}
			}
			attempts.Add(n)
			results[i] = res
		}()
	}
	wg.Wait()
	<-watch
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	for i := range results {
		res := &results[i]
		r.lat = append(r.lat, res.lat...)
		ok += int64(len(res.lat))
		for k, v := range res.failed {
			r.row.Failed[k] += v
			if _, ok := r.row.FailSample[k]; !ok {
				r.row.FailSample[k] = res.sample[k]
			}
		}
	}
	after := e.counter.snapshot()
	r.commits += e.commits() - commits0
	for i := range r.calls {
		r.calls[i] += after[i] - before[i]
	}
	r.attempts += attempts.Load()
	r.cpu += cpu1 - cpu0
	r.gc.gcCPU += rt1.gcCPU - rt0.gcCPU
	r.gc.gcCycles += rt1.gcCycles - rt0.gcCycles
	r.gc.heapLive = rt1.heapLive
	r.measured += dur
	return ok, nil
}

type workerResult struct {
	lat    []time.Duration
	failed map[string]int64
	sample map[string]string
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// checkBalances pages through every citizen's balance check.
func checkBalances(ctx context.Context, store domain.ActionStore) (consistent, inconsistent int, err error) {
	after := ""
	for {
		page, err := store.CheckBalances(ctx, after, 1000)
		if err != nil {
			return 0, 0, fmt.Errorf("bench: check balances: %w", err)
		}
		if len(page) == 0 {
			return consistent, inconsistent, nil
		}
		for _, b := range page {
			if b.Consistent() {
				consistent++
			} else {
				inconsistent++
			}
		}
		after = page[len(page)-1].CitizenID
	}
}
