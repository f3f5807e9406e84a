package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/memory"
	"github.com/huzhou-lvdaitong/carbon-account/config"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// TestBoardsEqualTheStoresLedger runs the wired services on a real SQLite store,
// with the in-process boards and (when REDIS_URL is set) the Redis boards: random
// actions recorded concurrently, some of whose live board updates are lost, plus
// opt-outs and district moves. After catch-up every board must equal what the
// store's ledger says; after losing the boards and rebuilding, the same.
func TestBoardsEqualTheStoresLedger(t *testing.T) {
	t.Run("in-process", func(t *testing.T) {
		s := wireForBoards(t, "")
		exerciseBoards(t, s, func() { s.boards.Boards = memory.NewLeaderboard(time.Now) })
	})
	t.Run("redis", func(t *testing.T) {
		url := os.Getenv("REDIS_URL")
		if url == "" {
			t.Skip("REDIS_URL is not set")
		}
		prefix := fmt.Sprintf("boards-it-%d:", time.Now().UnixNano())
		s := wireForBoards(t, prefix)
		t.Cleanup(func() { wipeRedisPrefix(t, url, prefix) })
		exerciseBoards(t, s, func() {
			if wipeRedisPrefix(t, url, prefix) == 0 {
				t.Fatal("no Redis keys under the prefix: the boards are not in Redis")
			}
		})
	})
}

func wireForBoards(t *testing.T, redisPrefix string) *services {
	vars := map[string]string{
		"CARBON_DATA_DIR": t.TempDir(), "CARBON_DAILY_POINTS_CAP": "0", "CARBON_ACTIONS_PER_MINUTE": "0",
	}
	if redisPrefix != "" {
		vars["REDIS_URL"] = os.Getenv("REDIS_URL")
		vars["CARBON_REDIS_PREFIX"] = redisPrefix
	}
	cfg, err := config.LoadFrom(vars)
	if err != nil {
		t.Fatal(err)
	}
	s, err := wire(t.Context(), cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.close)
	if err := s.prepareBoards(t.Context()); err != nil {
		t.Fatal(err)
	}
	return s
}

// kinds are seeded types whose caps this test does not reach, with quantities
// that give different CO2e, so scores differ and also tie.
var boardKinds = []struct{ typ, quantity, source string }{
	{"waste.paper", "0.5", "smart_bin"},
	{"waste.paper", "1", "smart_bin"},
	{"travel.cycling", "1.2", "shared_bike"},
	{"travel.walking", "300", "step_counter"},
}

func exerciseBoards(t *testing.T, s *services, loseBoards func()) {
	ctx := t.Context()
	districts := []string{"", "wuxing", "anji", "deqing"}
	var ids []string
	for i := range 24 {
		nick, district := fmt.Sprintf("市民%02d", i), districts[i%len(districts)]
		in := domain.DevLoginInput{Phone: fmt.Sprintf("138%08d", i), Nickname: &nick}
		if district != "" {
			in.District = &district
		}
		signed, err := s.auth.DevLogin(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, signed.SubjectID)
	}
	record := func(worker, n int) {
		rng := rand.New(rand.NewPCG(uint64(worker), uint64(time.Now().UnixNano())))
		for j := range n {
			k := boardKinds[rng.IntN(len(boardKinds))]
			ref := fmt.Sprintf("w%d-%d-%d", worker, j, rng.Uint64())
			_, err := s.actions.Record(ctx, domain.RecordActionInput{
				CitizenID: ids[rng.IntN(len(ids))], IdempotencyKey: ref, TypeCode: k.typ, Quantity: k.quantity,
				OccurredAt: time.Now().Add(-time.Minute), Evidence: &domain.Evidence{Source: k.source, Reference: ref},
			})
			if err != nil {
				t.Error(err)
				return
			}
		}
	}
	// Live updates lost (as if the process died after each commit) ...
	credited := s.actions.Credited
	s.actions.Credited = nil
	record(0, 40)
	s.actions.Credited = credited
	// ... then concurrent recording with live updates, and profile changes.
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() { record(w+1, 40) })
	}
	wg.Wait()
	yes, anji := true, "anji"
	for _, id := range ids[:3] {
		if _, err := s.citizens.UpdateProfile(ctx, id, domain.ProfileUpdate{LeaderboardOptOut: &yes}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.citizens.UpdateProfile(ctx, ids[5], domain.ProfileUpdate{District: &anji}); err != nil {
		t.Fatal(err)
	}
	if t.Failed() {
		return
	}

	if _, err := s.boards.CatchUp(ctx); err != nil {
		t.Fatal(err)
	}
	checkBoardsAgainstLedger(t, s, ids[5], "after catch-up")

	loseBoards()
	rep, err := s.boards.Rebuild(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Entries != 200 {
		t.Errorf("rebuild read %d ledger entries, want 200", rep.Entries)
	}
	checkBoardsAgainstLedger(t, s, ids[5], "after losing the boards and rebuilding")
}

// checkBoardsAgainstLedger compares every current board with one computed from
// the store: citizens' ledger entries summed per period, visible citizens only,
// ordered by grams desc, latest entry asc, ID asc.
func checkBoardsAgainstLedger(t *testing.T, s *services, viewer, when string) {
	t.Helper()
	ctx := context.Background()
	type score struct {
		nick, district string
		grams          int64
		reached        time.Time
		id             string
	}
	now := time.Now()
	expected := map[domain.Period][]score{}
	after := ""
	for {
		citizens, err := s.store.ScanCitizens(ctx, after, 100)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range citizens {
			entries, err := s.store.ListLedgerEntries(ctx, c.ID, "", 1000)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range domain.Periods {
				sc := score{nick: c.Nickname, district: c.District, id: c.ID}
				for _, e := range entries {
					if domain.SpanOf(p, e.CreatedAt).ID == domain.SpanOf(p, now).ID {
						sc.grams += e.CO2eGrams
						if e.CreatedAt.After(sc.reached) {
							sc.reached = e.CreatedAt
						}
					}
				}
				if sc.grams > 0 && !c.LeaderboardOptOut {
					expected[p] = append(expected[p], sc)
				}
			}
		}
		if len(citizens) < 100 {
			break
		}
		after = citizens[len(citizens)-1].ID
	}
	for _, p := range domain.Periods {
		slices.SortFunc(expected[p], func(a, b score) int {
			return cmp.Or(cmp.Compare(b.grams, a.grams), a.reached.Compare(b.reached), cmp.Compare(a.id, b.id))
		})
		for _, district := range []string{"", "wuxing", "anji", "deqing"} {
			var want []string
			for _, sc := range expected[p] {
				if district == "" || sc.district == district {
					want = append(want, fmt.Sprintf("%s=%d", sc.nick, sc.grams))
				}
			}
			view, err := s.boards.View(ctx, viewer, domain.LeaderboardQuery{Period: p, District: district, Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i, r := range view.Page.Top {
				if r.Rank != int64(i+1) {
					t.Errorf("%s: %s/%q row %d has rank %d", when, p, district, i, r.Rank)
				}
				got = append(got, fmt.Sprintf("%s=%d", r.Nickname, r.CO2eGrams))
			}
			if !slices.Equal(got, want) || view.Page.Ranked != int64(len(want)) {
				t.Errorf("%s: board %s/%q\n got %v (ranked %d)\nwant %v", when, p, district, got, view.Page.Ranked, want)
			}
		}
	}
}
