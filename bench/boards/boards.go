// Package boards measures the leaderboards (domain.Leaderboard) on each adapter,
// in-process and Redis, with one city-wide board of a million members, directly
// and through the real HTTP app, and times rebuilding every board from a ledger
// of a million entries. It prints the figures and their ratios as a markdown
// report (see Report.Print).
//
// For each adapter in turn, with Concurrency closed-loop callers per phase:
//
//   - load: one Leaderboard.Replace of a snapshot with Members members (board
//     instance "all", random districts, random scores with many ties);
//   - read: Leaderboard.Query of the top 50 and a random member's standing with
//     2 neighbours;
//   - update: Leaderboard.Apply of one credit to a random member;
//   - http-read: GET /v1/leaderboards?period=all&limit=50&neighbours=2 as a
//     random member, through the real app on a loopback port;
//   - http-update: POST /v1/actions as one of Citizens real citizens (who are
//     members of the board): recording in the store, then the board update;
//   - rebuild: LeaderboardService.Rebuild from a store holding RebuildEntries
//     ledger entries, then a check of the rebuilt boards against SQL.
//
// The wired LeaderboardService (the one the HTTP app serves) has its Boards
// field pointed at the adapter under test before that adapter's phases, while no
// request is in flight: the app is served on a fresh listener for each adapter
// and shut down after its HTTP phases.
//
// Run it with the real wiring (see bench_leaderboards_command.go):
//
//	go run . bench-leaderboards -redis redis://127.0.0.1:6379/15
//	go run . bench-leaderboards -members 100000 -rebuild-entries 0 -duration 2s
//	go run . bench-leaderboards -phases load,read -cpuprofile /tmp/boards.prof
package boards

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"runtime"
	"runtime/debug"
	"slices"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/api/token"
	"github.com/huzhou-lvdaitong/carbon-account/bench"
	"github.com/huzhou-lvdaitong/carbon-account/bench/measure"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Adapter is one domain.Leaderboard implementation under test.
type Adapter struct {
	Name string // "in-process", "redis"
	Desc string // for the report, e.g. the Redis URL (without password) and key prefix
	// New returns fresh, empty boards. Run drops them after the adapter's phases.
	New func(ctx context.Context) (domain.Leaderboard, error)
	// ServerMemory, if set, is the memory the boards' server uses (Redis INFO
	// used_memory), to show what the loaded board costs there.
	ServerMemory func(ctx context.Context) (int64, error)
	// ServerCPU, if set, is the CPU time the boards' server has used (Redis
	// INFO used_cpu_user + used_cpu_sys), to show its share per call.
	ServerCPU func(ctx context.Context) (time.Duration, error)
	// Cleanup, if set, runs after the adapter's phases (Redis: delete its keys).
	Cleanup func(ctx context.Context) error
}

// System is the wired application under test.
type System struct {
	// Store holds the citizens and ledger; the real citizens are created in it.
	Store domain.Store
	// SQLitePath is the store's SQLite file, which the rebuild phase fills with
	// bulk SQL and checks against; "" skips the rebuild phase.
	SQLitePath string
	// Boards is the wired service the HTTP app serves. Run points its Boards
	// field at each adapter in turn and puts the original back at the end.
	Boards  *domain.LeaderboardService
	Actions *domain.ActionService // only checked: PerMinute and DailyPoints should be 0
	Catalog *domain.Catalog
	Tokens  *token.Authority
	// NewApp builds the HTTP application; Run calls it once and serves it on a
	// fresh loopback listener for each adapter.
	NewApp   func() *fiber.App
	Adapters []Adapter
	// Skipped names adapters that were not run, and why (for the report).
	Skipped []string
	// StoreDesc names the store for the report.
	StoreDesc string
}

// Phase is one measurement of an adapter.
type Phase string

const (
	PhaseLoad       Phase = "load"
	PhaseRead       Phase = "read"
	PhaseUpdate     Phase = "update"
	PhaseHTTPRead   Phase = "http-read"
	PhaseHTTPUpdate Phase = "http-update"
	PhaseRebuild    Phase = "rebuild"
)

// AllPhases in the order they run for each adapter.
var AllPhases = []Phase{PhaseLoad, PhaseRead, PhaseUpdate, PhaseHTTPRead, PhaseHTTPUpdate, PhaseRebuild}

// measured are the phases run by closed-loop callers.
var measured = []Phase{PhaseRead, PhaseUpdate, PhaseHTTPRead, PhaseHTTPUpdate}

// ParsePhases reads a comma-separated list of phases (load, read, update,
// http-read, http-update or rebuild) into the order of AllPhases.
func ParsePhases(s string) ([]Phase, error) { return measure.ParsePhases(s, AllPhases) }

// Options size the benchmark.
type Options struct {
	Members     int           // members of the board "all"
	Citizens    int           // real citizens (in the store) among them, for http-update
	Concurrency int           // concurrent callers (HTTP: keep-alive connections)
	Duration    time.Duration // measured time per phase
	Warmup      time.Duration // unmeasured time before each phase
	// RebuildEntries are the ledger entries written to the store for the
	// rebuild, spread over RebuildCitizens citizens and the last 40 days;
	// 0 skips the rebuild phase.
	RebuildEntries  int
	RebuildCitizens int
	// TokenSample is how many members http-read picks from (each needs a
	// minted access token); default min(Members, 10 000).
	TokenSample int
	Phases      []Phase // default AllPhases; load runs whenever a 1M-board phase does
	Progress    io.Writer
	Notes       []string
	// Seed makes the board's data reproducible; 0 picks one.
	Seed uint64
}

func (o *Options) defaults() error {
	if o.Members < 1 || o.Concurrency < 1 || o.Duration <= 0 || o.Warmup < 0 || o.Citizens < 0 || o.RebuildEntries < 0 {
		return errors.New("boards: members and concurrency must be at least 1, duration positive, the rest not negative")
	}
	if o.Citizens > o.Members {
		return fmt.Errorf("boards: %d real citizens cannot be members of a board of %d", o.Citizens, o.Members)
	}
	if o.RebuildCitizens < 1 {
		o.RebuildCitizens = max(1, o.RebuildEntries/10)
	}
	if o.TokenSample < 1 {
		o.TokenSample = min(o.Members, 10_000)
	}
	o.TokenSample = min(o.TokenSample, o.Members)
	if len(o.Phases) == 0 {
		o.Phases = AllPhases
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Seed == 0 {
		o.Seed = rand.Uint64()
	}
	return nil
}

func (o *Options) has(p Phase) bool { return slices.Contains(o.Phases, p) }

// loads reports whether the 1M board is loaded: for load itself, or any phase on it.
func (o *Options) loads() bool {
	return o.has(PhaseLoad) || slices.ContainsFunc(measured, o.has)
}

// Row is one measured phase of one adapter.
type Row struct {
	Adapter    string
	Phase      Phase
	OK         int64
	Failed     map[string]int64
	FailSample map[string]string
	Throughput float64       // OK per second of the measured window
	P50, P99   time.Duration // of the successful calls, exact (nearest rank)
	Max        time.Duration
	CPUPerOp   time.Duration // process CPU time (user+system) per call completed in the window
	// ServerCPUPerOp is the boards' server's CPU time per call in the window
	// (Adapter.ServerCPU); 0 when not measured.
	ServerCPUPerOp time.Duration
	GCCycles       int64
}

// AdapterResult is what one adapter did outside the measured phases.
type AdapterResult struct {
	Name, Desc string
	Loaded     bool
	Load       time.Duration // one Replace of the whole board
	// Process memory with the board loaded and the snapshot dropped (after a
	// GC and returning freed memory to the OS), and before loading.
	RSSBefore, RSSAfter   uint64
	AnonBefore, AnonAfter uint64 // RssAnon: without file pages (SQLite's memory map)
	HeapBefore, HeapAfter uint64 // live heap
	// Server memory (Redis used_memory) before and after loading; -1 if unknown.
	ServerBefore, ServerAfter int64
	// HTTPCheck compares one GET /v1/leaderboards with a direct Query.
	HTTPCheck string
	Rebuilt   bool
	Rebuild   time.Duration // LeaderboardService.Rebuild, timed by the caller
	RebuildOf domain.RebuildReport
	// RebuildCheck compares the rebuilt boards with SQL over the ledger; "" if
	// they agree.
	RebuildCheck    []string
	RebuildChecked  string // what was compared
	CleanupErr      error
	RebuildErr      error
	RebuildCheckErr error
}

// Report is the outcome of Run.
type Report struct {
	Machine  measure.Machine
	Options  Options
	Store    string
	Adapters []AdapterResult
	Skipped  []string
	Rows     []Row
	Fill     *FillResult // the rebuild's ledger, if written
	Started  time.Time
	Finished time.Time
	// The machine's load averages when the run started and finished (other
	// processes compete for the CPUs), the process's CPU time over the run, and
	// its peak RSS.
	LoadStart, LoadEnd string
	CPU                time.Duration
	PeakRSS            uint64
}

// Row returns an adapter's row of a phase, or nil.
func (r *Report) Row(adapter string, p Phase) *Row {
	for i := range r.Rows {
		if r.Rows[i].Adapter == adapter && r.Rows[i].Phase == p {
			return &r.Rows[i]
		}
	}
	return nil
}

// run is the state of one Run.
type run struct {
	sys  System
	opt  Options
	rep  *Report
	pop  *population
	real []realCitizen
	// nonce makes evidence references unique across runs on one data dir.
	nonce string
	app   *fiber.App
}

// Run benchmarks every adapter of sys in turn.
func Run(ctx context.Context, sys System, opt Options) (*Report, error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	if sys.Store == nil || sys.Boards == nil || sys.Catalog == nil || sys.Tokens == nil || sys.NewApp == nil {
		return nil, errors.New("boards: incomplete System")
	}
	r := &run{sys: sys, opt: opt, nonce: domain.RandomToken(6),
		rep: &Report{Machine: measure.ThisMachine(), Options: opt, Store: sys.StoreDesc, Skipped: sys.Skipped, Started: time.Now(), LoadStart: loadAvg()}}
	cpu0 := measure.ProcessCPU()
	original := sys.Boards.Boards
	defer func() { sys.Boards.Boards = original }()

	if opt.has(PhaseHTTPUpdate) {
		for _, k := range bench.Kinds {
			if _, v, ok := sys.Catalog.InForce(k.Type, domain.Now()); !ok || !v.Enabled {
				return nil, fmt.Errorf("boards: activity type %s is not in force and enabled (were the seeds loaded?)", k.Type)
			}
		}
	}
	if opt.loads() {
		fmt.Fprintf(opt.Progress, "creating %d real citizens ...\n", opt.Citizens)
		if err := r.createCitizens(ctx); err != nil {
			return nil, err
		}
		r.pop = newPopulation(opt.Members, r.real, opt.Seed)
	}
	if opt.has(PhaseRebuild) && opt.RebuildEntries > 0 {
		if sys.SQLitePath == "" {
			r.rep.Skipped = append(r.rep.Skipped, "rebuild: the store is not SQLite, so it cannot be filled by bulk SQL")
		} else {
			fmt.Fprintf(opt.Progress, "writing %d ledger entries for %d citizens into %s ...\n", opt.RebuildEntries, opt.RebuildCitizens, sys.SQLitePath)
			fill, err := fillLedger(ctx, sys.SQLitePath, opt.RebuildCitizens, opt.RebuildEntries, time.Now(), opt.Seed)
			if err != nil {
				return nil, err
			}
			r.rep.Fill = &fill
			fmt.Fprintf(opt.Progress, "wrote them in %s\n", fill.Took.Round(time.Millisecond))
		}
	}
	if len(sys.Adapters) > 0 && slices.ContainsFunc([]Phase{PhaseHTTPRead, PhaseHTTPUpdate}, opt.has) {
		r.app = sys.NewApp()
	}
	for _, a := range sys.Adapters {
		if err := r.adapter(ctx, a); err != nil {
			return nil, fmt.Errorf("boards: %s: %w", a.Name, err)
		}
	}
	r.rep.Finished, r.rep.LoadEnd = time.Now(), loadAvg()
	r.rep.CPU, r.rep.PeakRSS = measure.ProcessCPU()-cpu0, peakRSS()
	return r.rep, nil
}

// adapter runs every selected phase on fresh boards of a.
func (r *run) adapter(ctx context.Context, a Adapter) (err error) {
	res := AdapterResult{Name: a.Name, Desc: a.Desc, ServerBefore: -1, ServerAfter: -1}
	defer func() {
		if a.Cleanup != nil {
			res.CleanupErr = a.Cleanup(context.WithoutCancel(ctx))
		}
		r.rep.Adapters = append(r.rep.Adapters, res)
	}()
	boards, err := a.New(ctx)
	if err != nil {
		return err
	}
	r.sys.Boards.Boards = boards // no request in flight: the app is not being served

	if r.opt.loads() {
		if err := r.load(ctx, a, boards, &res); err != nil {
			return err
		}
		for _, p := range []Phase{PhaseRead, PhaseUpdate} {
			if r.opt.has(p) {
				if err := r.measure(ctx, a, p, boards); err != nil {
					return err
				}
			}
		}
		if r.app != nil {
			if err := r.serveHTTP(ctx, a, boards, &res); err != nil {
				return err
			}
		}
	}
	if r.opt.has(PhaseRebuild) && r.rep.Fill != nil {
		r.rebuild(ctx, a.Name, boards, &res)
		if res.RebuildErr != nil {
			return res.RebuildErr
		}
	}
	return nil
}

// load replaces the (empty) boards with the snapshot of the population and
// measures what that costs in memory, here and on the server.
func (r *run) load(ctx context.Context, a Adapter, boards domain.Leaderboard, res *AdapterResult) error {
	gcNow()
	res.RSSBefore, res.AnonBefore, res.HeapBefore = rss(), anonRSS(), heapLive()
	if a.ServerMemory != nil {
		if m, err := a.ServerMemory(ctx); err == nil {
			res.ServerBefore = m
		}
	}
	var err error
	if res.Load, err = r.replace(ctx, a.Name, boards); err != nil {
		return err
	}
	res.Loaded = true
	gcNow() // the snapshot is garbage now: what stays is the adapter's
	res.RSSAfter, res.AnonAfter, res.HeapAfter = rss(), anonRSS(), heapLive()
	if a.ServerMemory != nil {
		if m, err := a.ServerMemory(ctx); err == nil {
			res.ServerAfter = m
		}
	}
	fmt.Fprintf(r.opt.Progress, "%s: loaded %d members in %s; RSS %d MiB\n", a.Name, r.opt.Members, res.Load.Round(time.Millisecond), res.RSSAfter>>20)
	return nil
}

// replace builds the snapshot of the population and times its Replace.
func (r *run) replace(ctx context.Context, name string, boards domain.Leaderboard) (time.Duration, error) {
	fmt.Fprintf(r.opt.Progress, "%s: building a snapshot of %d members ...\n", name, r.opt.Members)
	snap := r.pop.snapshot(time.Now())
	fmt.Fprintf(r.opt.Progress, "%s: loading it (Replace) ...\n", name)
	t0 := time.Now()
	if err := boards.Replace(ctx, snap); err != nil {
		return 0, fmt.Errorf("replace: %w", err)
	}
	return time.Since(t0), nil
}

func gcNow() {
	runtime.GC()
	debug.FreeOSMemory()
}

// serveHTTP serves the app on a fresh loopback listener, runs the HTTP phases
// and shuts the server down, so that the next adapter's switch happens while
// no handler can read the service's Boards.
func (r *run) serveHTTP(ctx context.Context, a Adapter, boards domain.Leaderboard, res *AdapterResult) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	served := make(chan error, 1)
	go func() { served <- r.app.Listener(ln) }()
	defer func() {
		_ = r.app.ShutdownWithTimeout(10 * time.Second)
		<-served
	}()
	addr := ln.Addr().String()
	if r.opt.has(PhaseHTTPRead) {
		if err := r.mintSample(); err != nil {
			return err
		}
		if err := r.measureHTTP(ctx, a, PhaseHTTPRead, addr); err != nil {
			return err
		}
		res.HTTPCheck = r.checkHTTP(ctx, addr, boards)
	}
	if r.opt.has(PhaseHTTPUpdate) && len(r.real) > 0 {
		if err := r.mintReal(); err != nil {
			return err
		}
		if err := r.measureHTTP(ctx, a, PhaseHTTPUpdate, addr); err != nil {
			return err
		}
	}
	return nil
}

// rebuild times LeaderboardService.Rebuild on the adapter and checks the result.
func (r *run) rebuild(ctx context.Context, name string, boards domain.Leaderboard, res *AdapterResult) {
	fmt.Fprintf(r.opt.Progress, "%s: rebuilding from the store ...\n", name)
	gcNow()
	t0 := time.Now()
	at := r.sys.Boards.Now() // the instances the rebuild builds are those containing this
	rep, err := r.sys.Boards.Rebuild(ctx)
	res.Rebuild = time.Since(t0)
	if err != nil {
		res.RebuildErr = fmt.Errorf("rebuild: %w", err)
		return
	}
	res.Rebuilt, res.RebuildOf = true, rep
	fmt.Fprintf(r.opt.Progress, "%s: rebuilt %d entries, %d citizens, %d scores in %s; checking ...\n",
		name, rep.Entries, rep.Citizens, rep.Scores, res.Rebuild.Round(time.Millisecond))
	res.RebuildChecked, res.RebuildCheck, res.RebuildCheckErr = checkRebuild(ctx, r.sys.SQLitePath, boards, at)
}
