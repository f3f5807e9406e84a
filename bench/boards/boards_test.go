package boards

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/memory"
	"github.com/huzhou-lvdaitong/carbon-account/adapters/redis"
	"github.com/huzhou-lvdaitong/carbon-account/bench/internal/benchtest"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// newTestSystem wires the API on a fresh SQLite file and in-process shared
// state and boards (benchtest), with no rate limit and no daily points cap, and
// the in-process boards, plus the Redis boards when REDIS_URL is set, as the
// adapters under test. The root command uses the real wiring (wire()) instead.
func newTestSystem(t *testing.T) System {
	t.Helper()
	w := benchtest.New(t)
	sys := System{
		Store: w.Store, SQLitePath: w.DBPath, Boards: w.Boards, Actions: w.Actions, Catalog: w.Catalog, Tokens: w.Tokens,
		NewApp: w.NewApp, StoreDesc: "SQLite (test wiring)",
		Adapters: []Adapter{{
			Name: InProcess, Desc: "memory.NewLeaderboard",
			New: func(context.Context) (domain.Leaderboard, error) { return memory.NewLeaderboard(time.Now), nil },
		}},
	}
	if url := os.Getenv("REDIS_URL"); url != "" {
		sys.Adapters = append(sys.Adapters, redisTestAdapter(t, url))
	} else {
		sys.Skipped = append(sys.Skipped, "redis: REDIS_URL not set")
	}
	return sys
}

// redisTestAdapter opens the Redis boards under a random prefix and checks, at
// the end of the test, that the adapter's cleanup left no key behind.
func redisTestAdapter(t *testing.T, url string) Adapter {
	t.Helper()
	prefix := "carbontest:boards:" + rand.Text() + ":"
	rs, err := redis.Open(t.Context(), url, redis.WithKeyPrefix(prefix))
	if err != nil {
		t.Fatalf("REDIS_URL is set but: %v", err)
	}
	o, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	raw := goredis.NewClient(o)
	keys := func(ctx context.Context) ([]string, error) { return raw.Keys(ctx, prefix+"*").Result() }
	t.Cleanup(func() {
		ctx := context.Background()
		if left, err := keys(ctx); err != nil || len(left) > 0 {
			t.Errorf("keys left under %s: %v %v", prefix, left, err)
			if len(left) > 0 {
				_ = raw.Del(ctx, left...).Err()
			}
		}
		_ = raw.Close()
		_ = rs.Close()
	})
	return Adapter{
		Name: Redis, Desc: "redis.NewLeaderboard, prefix " + prefix,
		New: func(context.Context) (domain.Leaderboard, error) { return redis.NewLeaderboard(rs), nil },
		Cleanup: func(ctx context.Context) error {
			left, err := keys(ctx)
			if err != nil || len(left) == 0 {
				return err
			}
			return raw.Del(ctx, left...).Err()
		},
	}
}

// TestRunSmall runs every phase on every adapter at a tiny size: nothing
// fails, the HTTP answer matches the adapter's, and the rebuilt boards match
// SQL over the ledger. No timing is asserted.
func TestRunSmall(t *testing.T) {
	sys := newTestSystem(t)
	rep, err := Run(context.Background(), sys, Options{
		Members: 2000, Citizens: 50, Concurrency: 4, Duration: 200 * time.Millisecond, Warmup: 50 * time.Millisecond,
		RebuildEntries: 5000, RebuildCitizens: 500, TokenSample: 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	rep.Print(&out)
	t.Log("\n" + out.String())

	if len(rep.Adapters) != len(sys.Adapters) {
		t.Fatalf("%d adapters in the report, want %d", len(rep.Adapters), len(sys.Adapters))
	}
	for _, a := range rep.Adapters {
		for _, p := range measured {
			row := rep.Row(a.Name, p)
			if row == nil {
				t.Errorf("%s %s: no row", a.Name, p)
				continue
			}
			if row.OK == 0 || len(row.Failed) > 0 {
				t.Errorf("%s %s: %d ok, failed %v %v", a.Name, p, row.OK, row.Failed, row.FailSample)
			}
			if row.P50 <= 0 || row.P99 < row.P50 || row.Max < row.P99 {
				t.Errorf("%s %s: percentiles p50 %s p99 %s max %s out of order", a.Name, p, row.P50, row.P99, row.Max)
			}
		}
		if !a.Loaded || a.Load <= 0 {
			t.Errorf("%s: not loaded", a.Name)
		}
		if !strings.HasPrefix(a.HTTPCheck, "agrees") {
			t.Errorf("%s: HTTP check: %s", a.Name, a.HTTPCheck)
		}
		if !a.Rebuilt || a.RebuildCheckErr != nil || len(a.RebuildCheck) > 0 {
			t.Errorf("%s: rebuild %v, check %v %v", a.Name, a.RebuildErr, a.RebuildCheckErr, a.RebuildCheck)
		}
		if a.RebuildOf.Entries < 5000 {
			t.Errorf("%s: rebuild read %d entries, want at least the 5000 written", a.Name, a.RebuildOf.Entries)
		}
		if a.CleanupErr != nil {
			t.Errorf("%s: cleanup: %v", a.Name, a.CleanupErr)
		}
	}
	if f := rep.Fill; f == nil || f.Entries != 5000 || f.Citizens != 500 {
		t.Errorf("fill: %+v", rep.Fill)
	}
}

// The synthetic members' IDs are distinct, valid ULIDs, and the real citizens
// come first.
func TestPopulationIDs(t *testing.T) {
	p := newPopulation(5000, []realCitizen{{c: domain.Citizen{ID: "01REAL"}}}, 42)
	seen := map[string]bool{}
	for i := range p.n {
		id := p.id(i)
		if seen[id] {
			t.Fatalf("member %d: duplicate id %s", i, id)
		}
		seen[id] = true
	}
	if p.id(0) != "01REAL" || len(p.id(1)) != 26 {
		t.Errorf("ids %s %s", p.id(0), p.id(1))
	}
	snap := p.snapshot(time.Now())
	if len(snap.Members) != 5000 || len(snap.Scores[string(domain.PeriodAll)]) != 5000 {
		t.Errorf("snapshot of %d members, %d scores", len(snap.Members), len(snap.Scores["all"]))
	}
}

// The rebuild check notices boards that differ from the ledger.
func TestCheckRebuildSeesADifference(t *testing.T) {
	sys := newTestSystem(t)
	ctx := context.Background()
	if _, err := fillLedger(ctx, sys.SQLitePath, 50, 500, time.Now(), 1); err != nil {
		t.Fatal(err)
	}
	at := time.Now()
	if _, err := sys.Boards.Rebuild(ctx); err != nil {
		t.Fatal(err)
	}
	_, problems, err := checkRebuild(ctx, sys.SQLitePath, sys.Boards.Boards, at)
	if err != nil || len(problems) > 0 {
		t.Fatalf("after a rebuild: %v %v", problems, err)
	}
	page, err := sys.Boards.Boards.Query(ctx, domain.BoardQuery{Board: domain.BoardID{Instance: "all"}, Limit: 50})
	if err != nil || len(page.Top) < 2 {
		t.Fatalf("query: %+v %v", page, err)
	}
	// Lift the second above the first: the boards no longer match the ledger.
	last := page.Top[1]
	if _, err := sys.Boards.Boards.Apply(ctx, []domain.BoardCredit{{EntryID: domain.NewID(at), CitizenID: last.CitizenID,
		CO2eGrams: page.Top[0].CO2eGrams - last.CO2eGrams + 1, At: at, Instances: allOnly}}); err != nil {
		t.Fatal(err)
	}
	_, problems, err = checkRebuild(ctx, sys.SQLitePath, sys.Boards.Boards, at)
	if err != nil || len(problems) == 0 {
		t.Fatalf("a changed board passed the check: %v", err)
	}
	t.Log(problems)
}
