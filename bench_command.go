package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/bench"
	"github.com/huzhou-lvdaitong/carbon-account/config"
)

// benchCommand benchmarks recording actions on the embedded default (SQLite and
// in-process shared state) with the real wiring: see package bench.
func benchCommand(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	citizens := fs.Int("citizens", 10_000, "citizens the actions are spread over")
	duration := fs.Duration("duration", 10*time.Second, "measured time per phase")
	warmup := fs.Duration("warmup", time.Second, "unmeasured time before each phase's first slice")
	slices := fs.Int("slices", 5, "slices each phase's duration is cut into, interleaved with the other phases'")
	concurrency := fs.Int("concurrency", 64, "concurrent callers (HTTP: keep-alive client connections)")
	prefill := fs.Int("prefill", 1_000_000, "ledger entries (actions) to add before round 2; 0 runs round 1 only")
	prefillConcurrency := fs.Int("prefill-concurrency", 16, "callers during the prefill")
	dir := fs.String("dir", "", "data directory (kept afterwards); default a temporary one, removed afterwards")
	phases := fs.String("phases", "direct,service,http", "phases to run, comma-separated")
	dailyCap := fs.Int64("daily-points-cap", 0, "CARBON_DAILY_POINTS_CAP for the run (0 = no cap)")
	perMinute := fs.Int("actions-per-minute", 120, "CARBON_ACTIONS_PER_MINUTE per citizen for the run (0 = no limit)")
	logFile := fs.String("log", "", "write the request log to FILE (default: formatted at info level as in production, then discarded)")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of each round (all its phases; see -phases) to FILE.r<round>")
	traceFile := fs.String("trace", "", "write a runtime execution trace of each round to FILE.r<round>")
	if err := fs.Parse(args); err != nil {
		return err
	}
	selected, err := bench.ParsePhases(*phases)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	setup, err := newBenchSetup(*dir, "carbon-bench-", *logFile, *dailyCap, *perMinute)
	if err != nil {
		return err
	}
	defer setup.close()
	bench.InstallSQLiteHooks() // before the store opens: counts its commits
	s, err := wire(ctx, setup.cfg, setup.log)
	if err != nil {
		return err
	}
	defer s.close()

	opt := bench.Options{
		Citizens: *citizens, Concurrency: *concurrency, Duration: *duration, Warmup: *warmup, Slices: *slices,
		Prefill: *prefill, PrefillConcurrency: *prefillConcurrency, Phases: selected,
		CPUProfile: *cpuProfile, Trace: *traceFile, Progress: os.Stderr,
		Notes: []string{
			fmt.Sprintf("data dir %s; wiring as `serve` (wire()), without the scheduled jobs", setup.dataDir),
			fmt.Sprintf("CARBON_DAILY_POINTS_CAP=%d (0 = off, so the citizen-wide cap never turns a request into a 422), "+
				"per-type caps as seeded; CARBON_ACTIONS_PER_MINUTE=%d per citizen; %s", *dailyCap, *perMinute, setup.logDesc),
		},
	}
	rep, err := bench.Run(ctx, bench.System{
		Store: s.store, Actions: s.actions, Catalog: s.catalog, Tokens: s.tokens, NewApp: s.httpApp,
		Adapter: "the embedded default: SQLite (" + setup.cfg.SQLitePath() + ") + in-process shared state",
		Commits: bench.SQLiteWriterCommits,
	}, opt)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "counting SQLite work per action on a separate file ...")
	if rep.SQLite, err = bench.MeasureSQLite(ctx, setup.dataDir, 700, 1, *concurrency); err != nil {
		fmt.Fprintln(os.Stderr, "counting SQLite work:", err)
	}
	fmt.Fprintln(stdout)
	rep.Print(stdout)
	fmt.Fprintln(stdout, "MongoDB round trips per action (FerretDB in-process, test-only): go test -run TestRoundTrips -v ./bench/")
	return nil
}

// benchSetup is what the benchmark commands run on besides the wiring: a data
// directory, the configuration for it and the request log.
type benchSetup struct {
	dataDir string
	cfg     config.Config
	log     *slog.Logger
	logDesc string   // where the request log goes, for the report's notes
	closers []func() // run by close, last first
}

// newBenchSetup prepares a benchmark command's run on dir, or on a new
// temporary directory (named after tempPattern, as os.MkdirTemp) that close
// removes. The configuration has no REDIS_URL, so wire() picks in-process
// shared state and boards; dailyCap and perMinute are CARBON_DAILY_POINTS_CAP
// and CARBON_ACTIONS_PER_MINUTE. The request log is formatted at info level,
// as in production, and written to logFile, or discarded when logFile is "".
func newBenchSetup(dir, tempPattern, logFile string, dailyCap int64, perMinute int) (_ *benchSetup, err error) {
	b := &benchSetup{dataDir: dir}
	defer func() {
		if err != nil {
			b.close()
		}
	}()
	if b.dataDir == "" {
		if b.dataDir, err = os.MkdirTemp("", tempPattern); err != nil {
			return nil, err
		}
		b.closers = append(b.closers, func() { os.RemoveAll(b.dataDir) })
	}
	b.cfg, err = config.LoadFrom(map[string]string{
		"CARBON_DATA_DIR":           b.dataDir,
		"CARBON_DAILY_POINTS_CAP":   strconv.FormatInt(dailyCap, 10),
		"CARBON_ACTIONS_PER_MINUTE": strconv.Itoa(perMinute),
		"CARBON_ACCESS_TOKEN_TTL":   "1h",
		"CARBON_LOG_LEVEL":          "info",
	})
	if err != nil {
		return nil, err
	}
	logOut := io.Discard
	b.logDesc = "request log formatted at info level (as in production) and discarded"
	if logFile != "" {
		f, err := os.Create(logFile)
		if err != nil {
			return nil, err
		}
		b.closers = append(b.closers, func() { f.Close() })
		logOut, b.logDesc = f, "request log written to "+logFile
	}
	b.log = slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: b.cfg.LogLevel}))
	return b, nil
}

func (b *benchSetup) close() {
	for i := len(b.closers) - 1; i >= 0; i-- {
		b.closers[i]()
	}
}
