package main

import (
	"context"
	"crypto/rand"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/memory"
	"github.com/huzhou-lvdaitong/carbon-account/adapters/redis"
	"github.com/huzhou-lvdaitong/carbon-account/bench/boards"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// benchLeaderboardsCommand benchmarks the leaderboards on both adapters, with
// the real wiring for everything else (SQLite store, in-process shared state):
// see package bench/boards.
func benchLeaderboardsCommand(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("bench-leaderboards", flag.ContinueOnError)
	members := fs.Int("members", 1_000_000, "members of the city-wide all-time board")
	citizens := fs.Int("citizens", 1000, "real citizens in the store, members of the board, who record actions in http-update")
	concurrency := fs.Int("concurrency", 16, "concurrent callers (HTTP: keep-alive client connections)")
	duration := fs.Duration("duration", 5*time.Second, "measured time per phase")
	warmup := fs.Duration("warmup", time.Second, "unmeasured time before each phase")
	rebuildEntries := fs.Int("rebuild-entries", 1_000_000, "ledger entries written to the store for the rebuild phase; 0 skips it")
	rebuildCitizens := fs.Int("rebuild-citizens", 100_000, "citizens the rebuild's ledger entries are spread over")
	redisURL := fs.String("redis", os.Getenv("REDIS_URL"), "Redis URL for the Redis adapter (keys under a unique prefix, deleted afterwards); empty skips it")
	phases := fs.String("phases", "load,read,update,http-read,http-update,rebuild", "phases to run for each adapter, comma-separated")
	adapters := fs.String("adapters", "in-process,redis", "adapters to run, comma-separated")
	dir := fs.String("dir", "", "data directory (kept afterwards); default a temporary one, removed afterwards")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the whole run to FILE")
	if err := fs.Parse(args); err != nil {
		return err
	}
	selected, err := boards.ParsePhases(*phases)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	// Request logs formatted at info level as in production, then dropped.
	setup, err := newBenchSetup(*dir, "carbon-bench-boards-", "", 0, 0)
	if err != nil {
		return err
	}
	defer setup.close()
	// No REDIS_URL in the setup: wire() picks in-process shared state and
	// boards; the Redis boards are opened below, and the service is pointed at
	// each.
	s, err := wire(ctx, setup.cfg, setup.log)
	if err != nil {
		return err
	}
	defer s.close()

	sys := boards.System{
		Store: s.store, SQLitePath: setup.cfg.SQLitePath(), Boards: s.boards, Actions: s.actions, Catalog: s.catalog,
		Tokens: s.tokens, NewApp: s.httpApp,
		StoreDesc: "SQLite " + setup.cfg.SQLitePath() + " and in-process shared state, wired as `serve` (wire()) without the scheduled jobs",
	}
	want := strings.Split(*adapters, ",")
	for _, a := range want {
		if a = strings.TrimSpace(a); a != boards.InProcess && a != boards.Redis {
			return fmt.Errorf("unknown adapter %q (want %s or %s)", a, boards.InProcess, boards.Redis)
		}
	}
	if slicesContains(want, boards.InProcess) {
		sys.Adapters = append(sys.Adapters, boards.Adapter{
			Name: boards.InProcess, Desc: "adapters/memory NewLeaderboard(time.Now), in this process",
			New: func(context.Context) (domain.Leaderboard, error) { return memory.NewLeaderboard(time.Now), nil },
		})
	}
	if slicesContains(want, boards.Redis) {
		a, closeRedis, err := redisAdapter(ctx, *redisURL)
		if err != nil {
			sys.Skipped = append(sys.Skipped, "redis: "+err.Error())
		} else {
			defer closeRedis()
			sys.Adapters = append(sys.Adapters, a)
		}
	}
	if len(sys.Adapters) == 0 {
		return fmt.Errorf("no adapter to run: %v", sys.Skipped)
	}

	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	rep, err := boards.Run(ctx, sys, boards.Options{
		Members: *members, Citizens: *citizens, Concurrency: *concurrency, Duration: *duration, Warmup: *warmup,
		RebuildEntries: *rebuildEntries, RebuildCitizens: *rebuildCitizens, Phases: selected, Progress: os.Stderr,
		Notes: []string{
			fmt.Sprintf("data dir %s; CARBON_DAILY_POINTS_CAP=0, CARBON_ACTIONS_PER_MINUTE=0, per-type caps as seeded; %s",
				setup.dataDir, setup.logDesc),
		},
	})
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout)
	rep.Print(stdout)
	return nil
}

func slicesContains(list []string, s string) bool {
	for _, v := range list {
		if strings.TrimSpace(v) == s {
			return true
		}
	}
	return false
}

// redisAdapter opens the Redis boards under a unique key prefix. Cleanup deletes
// every key under it; closeRedis closes the connections.
func redisAdapter(ctx context.Context, rawURL string) (boards.Adapter, func(), error) {
	if rawURL == "" {
		return boards.Adapter{}, nil, fmt.Errorf("no Redis URL (-redis or REDIS_URL)")
	}
	prefix := "carbon-bench-boards:" + rand.Text()[:10] + ":"
	rs, err := redis.Open(ctx, rawURL, redis.WithKeyPrefix(prefix))
	if err != nil {
		return boards.Adapter{}, nil, fmt.Errorf("unreachable: %w", err)
	}
	o, err := goredis.ParseURL(rawURL)
	if err != nil {
		_ = rs.Close()
		return boards.Adapter{}, nil, err
	}
	raw := goredis.NewClient(o)
	desc := redactedURL(rawURL)
	if v, err := raw.Info(ctx, "server").Result(); err == nil {
		desc += " (Redis " + infoField(v, "redis_version") + ")"
	}
	a := boards.Adapter{
		Name: boards.Redis, Desc: fmt.Sprintf("adapters/redis NewLeaderboard on %s, key prefix %q, deleted afterwards", desc, prefix),
		New: func(context.Context) (domain.Leaderboard, error) { return redis.NewLeaderboard(rs), nil },
		ServerMemory: func(ctx context.Context) (int64, error) {
			v, err := raw.Info(ctx, "memory").Result()
			if err != nil {
				return 0, err
			}
			return strconv.ParseInt(infoField(v, "used_memory"), 10, 64)
		},
		ServerCPU: func(ctx context.Context) (time.Duration, error) {
			v, err := raw.Info(ctx, "cpu").Result()
			if err != nil {
				return 0, err
			}
			var total float64
			for _, f := range []string{"used_cpu_user", "used_cpu_sys"} {
				s, err := strconv.ParseFloat(infoField(v, f), 64)
				if err != nil {
					return 0, err
				}
				total += s
			}
			return time.Duration(total * float64(time.Second)), nil
		},
		Cleanup: func(ctx context.Context) error { return deletePrefix(ctx, raw, prefix) },
	}
	return a, func() { _ = deletePrefix(context.Background(), raw, prefix); _ = raw.Close(); _ = rs.Close() }, nil
}

// deletePrefix unlinks every key under prefix (UNLINK frees big ones in the
// background).
func deletePrefix(ctx context.Context, c *goredis.Client, prefix string) error {
	iter := c.Scan(ctx, 0, prefix+"*", 1000).Iterator()
	var batch []string
	for iter.Next(ctx) {
		batch = append(batch, iter.Val())
		if len(batch) == 1000 {
			if err := c.Unlink(ctx, batch...).Err(); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	if err := iter.Err(); err != nil {
		return err
	}
	if len(batch) > 0 {
		return c.Unlink(ctx, batch...).Err()
	}
	return nil
}

func infoField(info, name string) string {
	for _, line := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+":"); ok {
			return v
		}
	}
	return ""
}

// redactedURL is the URL without its password.
func redactedURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
