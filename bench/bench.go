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
	"runtime/pprof"
	"runtime/trace"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/api/token"
	"github.com/huzhou-lvdaitong/carbon-account/bench/measure"
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

// ParsePhases reads a comma-separated list of phases (direct, service or http)
// into the order of AllPhases.
func ParsePhases(s string) ([]Phase, error) { return measure.ParsePhases(s, AllPhases) }

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
	Machine     measure.Machine
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
	rep := &Report{Machine: measure.ThisMachine(), Adapter: sys.Adapter, Options: opt, Kinds: e.kinds, Prefill: opt.Prefill, Started: time.Now()}

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
	workers  []measure.Worker
	done     measure.Calls // summed over the slices
	calls    CallCounts    // summed over the slices, warm-ups included
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
		r := &phaseRun{row: Row{Round: round, Phase: p}}
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
		row.Failed, row.FailSample = r.done.Failed, r.done.Sample
		row.OK = int64(len(r.done.Lat))
		row.Throughput = float64(row.OK) / r.measured.Seconds()
		row.P50, row.P99, row.Max = r.done.Latency()
		if done := row.OK + measure.Sum(row.Failed); done > 0 {
			row.CPUPerAction = r.cpu / time.Duration(done)
			row.GCCPUPerAction = r.gc.gcCPU / time.Duration(done)
		}
		row.GCCycles, row.HeapLive = r.gc.gcCycles, r.gc.heapLive
		row.Calls = r.calls.per(r.done.Attempts)
		row.CommitsPerAction = -1
		if e.sys.Commits != nil && r.done.Attempts > 0 {
			row.CommitsPerAction = float64(r.commits) / float64(r.done.Attempts)
		}
		rows[k] = row
		fmt.Fprintf(opt.Progress, "round %d %-7s %8.0f actions/s  p50 %-9s p99 %-9s failed %d\n",
			round, row.Phase, row.Throughput, measure.Dur(row.P50), measure.Dur(row.P99), measure.Sum(row.Failed))
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

// slice runs r's workers for warmup, then dur measured (measure.ClosedLoop),
// and adds what completed inside the measured window to r; ok is the successes
// among them.
func (e *env) slice(ctx context.Context, r *phaseRun, warmup, dur time.Duration) (ok int64, err error) {
	before := e.counter.snapshot()
	commits0 := e.commits()
	// The process's CPU time and GC work over exactly the measured window.
	var cpu [2]time.Duration
	var rt [2]runtimeStats
	done := measure.ClosedLoop(ctx, r.workers, warmup, dur, 60000, // ~60k/s before the slices grow
		func(edge int) { cpu[edge], rt[edge] = measure.ProcessCPU(), readRuntimeStats() })
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	r.done.Add(done)
	after := e.counter.snapshot()
	r.commits += e.commits() - commits0
	for i := range r.calls {
		r.calls[i] += after[i] - before[i]
	}
	r.cpu += cpu[1] - cpu[0]
	r.gc.gcCPU += rt[1].gcCPU - rt[0].gcCPU
	r.gc.gcCycles += rt[1].gcCycles - rt[0].gcCycles
	r.gc.heapLive = rt[1].heapLive
	r.measured += dur
	return int64(len(done.Lat)), nil
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
