package redis

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// openLeaderboard opens a Leaderboard under a prefix of its own and deletes
// every key under that prefix when the test ends.
func openLeaderboard(t testing.TB) (*Leaderboard, *goredis.Client, string) {
	t.Helper()
	var s *SharedState
	var prefix string
	if tt, ok := t.(*testing.T); ok {
		s, prefix = openTest(tt)
	} else {
		s, prefix = openBench(t)
	}
	raw := goredis.NewClient(s.client.Options())
	t.Cleanup(func() {
		deletePrefix(t, raw, prefix)
		_ = raw.Close()
		_ = s.Close()
	})
	return NewLeaderboard(s), raw, prefix
}

func deletePrefix(t testing.TB, raw *goredis.Client, prefix string) {
	ctx := context.Background()
	keys := scanKeys(t, raw, prefix+"*")
	for i := 0; i < len(keys); i += 500 {
		if err := raw.Unlink(ctx, keys[i:min(i+500, len(keys))]...).Err(); err != nil {
			t.Errorf("cleaning up: %v", err)
		}
	}
}

func scanKeys(t testing.TB, raw *goredis.Client, match string) []string {
	t.Helper()
	ctx := context.Background()
	var keys []string
	iter := raw.Scan(ctx, 0, match, 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatalf("SCAN %s: %v", match, err)
	}
	slices.Sort(keys)
	return keys
}

// t0 is a recent time, so dedup marks made at it live through the test.
var t0 = time.Now().Add(-time.Hour).Truncate(time.Second).UTC()

func credit(entry, citizen string, grams int64, at time.Time, instances ...domain.BoardInstance) domain.BoardCredit {
	if len(instances) == 0 {
		instances = []domain.BoardInstance{{ID: "all"}}
	}
	return domain.BoardCredit{EntryID: entry, CitizenID: citizen, CO2eGrams: grams, At: at, Instances: instances}
}

func mustApply(t *testing.T, lb *Leaderboard, credits ...domain.BoardCredit) []string {
	t.Helper()
	unknown, err := lb.Apply(t.Context(), credits)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	return unknown
}

func mustQuery(t *testing.T, lb *Leaderboard, q domain.BoardQuery) domain.BoardPage {
	t.Helper()
	page, err := lb.Query(t.Context(), q)
	if err != nil {
		t.Fatalf("Query: %v", err)
	}
	return page
}

func ids(rows []domain.BoardRow) []string {
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i] = fmt.Sprintf("%d:%s:%d", r.Rank, r.CitizenID, r.CO2eGrams)
	}
	return out
}

// A smoke test of the rules the contract suite holds every adapter to, kept
// here to exercise the Lua directly.
func TestLeaderboardOrdersExactly(t *testing.T) {
	lb, _, _ := openLeaderboard(t)
	ctx := t.Context()
	if err := lb.SetMembers(ctx, []domain.BoardMember{
		{CitizenID: "a", Nickname: "A: \x00 绿|1", District: "wuxing", Version: 1},
		{CitizenID: "b", Nickname: "B", District: "nanxun", Version: 1},
		{CitizenID: "c", Nickname: "C", District: "wuxing", Version: 1},
		{CitizenID: "d", Nickname: "D", Hidden: true, Version: 1},
	}); err != nil {
		t.Fatal(err)
	}
	big := int64(1<<53 - 1)
	unknown := mustApply(t, lb,
		credit("e1", "a", big, t0),
		credit("e2", "b", big-1, t0),
		credit("e3", "c", big, t0.Add(time.Millisecond)), // same score, later: below a
		credit("e4", "d", 10, t0),
		credit("e5", "x", 10, t0),
		credit("e6", "y", 5, t0),
		credit("e6", "y", 5, t0), // duplicate in the same call
	)
	if want := []string{"x", "y"}; !slices.Equal(unknown, want) {
		t.Errorf("unknown = %v, want %v", unknown, want)
	}
	// Applied again: nothing changes.
	mustApply(t, lb, credit("e1", "a", big, t0))

	page := mustQuery(t, lb, domain.BoardQuery{Board: domain.BoardID{Instance: "all"}, Limit: 10, CitizenID: "c", Neighbours: 1})
	want := []string{
		fmt.Sprintf("1:a:%d", big), fmt.Sprintf("2:c:%d", big), fmt.Sprintf("3:b:%d", big-1),
	}
	if got := ids(page.Top); !slices.Equal(got, want) || page.Ranked != 3 {
		t.Fatalf("top = %v (ranked %d), want %v", got, page.Ranked, want)
	}
	if page.Top[0].Nickname != "A: \x00 绿|1" {
		t.Errorf("nickname = %q", page.Top[0].Nickname)
	}
	if page.Me == nil || page.Me.Rank != 2 || page.Me.CO2eGrams != big ||
		!slices.Equal(ids(page.Me.Above), want[:1]) || !slices.Equal(ids(page.Me.Below), want[2:]) {
		t.Fatalf("me = %+v", page.Me)
	}

	// Hidden citizens keep their score but are not ranked.
	page = mustQuery(t, lb, domain.BoardQuery{Board: domain.BoardID{Instance: "all"}, Limit: 1, CitizenID: "d"})
	if page.Me.Rank != 0 || page.Me.CO2eGrams != 10 || len(page.Top) != 1 {
		t.Fatalf("hidden: %+v", page)
	}

	// Districts: c moves from wuxing to nanxun with its whole score.
	if err := lb.SetMembers(ctx, []domain.BoardMember{{CitizenID: "c", Nickname: "C", District: "nanxun", Version: 2}}); err != nil {
		t.Fatal(err)
	}
	// An older version is ignored.
	if err := lb.SetMembers(ctx, []domain.BoardMember{{CitizenID: "c", District: "wuxing", Version: 1}}); err != nil {
		t.Fatal(err)
	}
	page = mustQuery(t, lb, domain.BoardQuery{Board: domain.BoardID{Instance: "all", District: "nanxun"}, Limit: 10})
	if got, want := ids(page.Top), []string{fmt.Sprintf("1:c:%d", big), fmt.Sprintf("2:b:%d", big-1)}; !slices.Equal(got, want) {
		t.Fatalf("nanxun = %v, want %v", got, want)
	}
	page = mustQuery(t, lb, domain.BoardQuery{Board: domain.BoardID{Instance: "all", District: "wuxing"}, Limit: 10, CitizenID: "c"})
	if got, want := ids(page.Top), []string{fmt.Sprintf("1:a:%d", big)}; !slices.Equal(got, want) || page.Me.Rank != 0 || page.Me.CO2eGrams != big {
		t.Fatalf("wuxing = %v, me %+v; want %v", got, page.Me, want)
	}

	// A reversal takes a citizen off the boards, and x shows up once known.
	mustApply(t, lb, credit("e7", "b", -(big-1), t0.Add(time.Second)))
	if err := lb.SetMembers(ctx, []domain.BoardMember{{CitizenID: "x", Nickname: "X", Version: 1}}); err != nil {
		t.Fatal(err)
	}
	page = mustQuery(t, lb, domain.BoardQuery{Board: domain.BoardID{Instance: "all"}, Limit: 10})
	if got, want := ids(page.Top), []string{fmt.Sprintf("1:a:%d", big), fmt.Sprintf("2:c:%d", big), "3:x:10"}; !slices.Equal(got, want) {
		t.Fatalf("after reversal = %v, want %v", got, want)
	}
}

func TestLeaderboardRefusesScoresFrom2To53(t *testing.T) {
	lb, raw, prefix := openLeaderboard(t)
	ctx := t.Context()
	before := scanKeys(t, raw, prefix+"*")

	if _, err := lb.Apply(ctx, []domain.BoardCredit{credit("e1", "a", 1<<53, t0)}); err == nil {
		t.Fatal("Apply of 2^53 g succeeded")
	}
	if _, err := lb.Apply(ctx, []domain.BoardCredit{credit("e1", "a", -(1 << 53), t0)}); err == nil {
		t.Fatal("Apply of -2^53 g succeeded")
	}
	// Two credits that only reach 2^53 together are refused as a whole, and the
	// refused call leaves nothing behind: not the first credit, not a dedup mark.
	_, err := lb.Apply(ctx, []domain.BoardCredit{
		credit("e1", "a", 1<<52, t0),
		credit("e2", "b", 5, t0),
		credit("e3", "a", 1<<52, t0),
	})
	if err == nil || !strings.Contains(err.Error(), "2^53") {
		t.Fatalf("Apply reaching 2^53 g: err = %v", err)
	}
	if after := scanKeys(t, raw, prefix+"*"); !slices.Equal(after, before) {
		t.Fatalf("refused Apply wrote keys %v", after)
	}
	// Just below is exact.
	mustApply(t, lb, credit("e1", "a", 1<<52, t0), credit("e3", "a", 1<<52-1, t0))
	page := mustQuery(t, lb, domain.BoardQuery{Board: domain.BoardID{Instance: "all"}, CitizenID: "a"})
	if page.Me.CO2eGrams != 1<<53-1 {
		t.Fatalf("score = %d, want %d", page.Me.CO2eGrams, int64(1<<53-1))
	}
	if _, err := lb.Apply(ctx, []domain.BoardCredit{credit("e4", "a", 1, t0)}); err == nil {
		t.Fatal("Apply reaching 2^53 g across calls succeeded")
	}

	gen := raw.Get(ctx, prefix+"lb:gen").Val()
	err = lb.Replace(ctx, &domain.BoardSnapshot{
		Instances: []domain.BoardInstance{{ID: "all"}},
		Scores:    map[string][]domain.BoardScore{"all": {{CitizenID: "a", CO2eGrams: 1 << 53, ReachedAt: t0}}},
		Watermark: t0,
	})
	if err == nil {
		t.Fatal("Replace with 2^53 g succeeded")
	}
	if got := raw.Get(ctx, prefix+"lb:gen").Val(); got != gen {
		t.Fatalf("refused Replace switched generation %q to %q", gen, got)
	}
}

// pexpireAt returns when key expires, from PTTL.
func pexpireAt(t *testing.T, raw *goredis.Client, key string) time.Time {
	t.Helper()
	d, err := raw.PTTL(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	if d < 0 {
		t.Fatalf("%s: PTTL = %v, want an expiry", key, d)
	}
	return time.Now().Add(d)
}

func near(a, b time.Time) bool { return a.Sub(b).Abs() < 5*time.Second }

func TestLeaderboardKeysExpireWithTheirInstance(t *testing.T) {
	lb, raw, prefix := openLeaderboard(t)
	ctx := t.Context()
	now := time.Now()
	day := domain.BoardInstance{ID: "day:x", Expires: now.Add(48 * time.Hour).Truncate(time.Millisecond)}
	all := domain.BoardInstance{ID: "all"}
	if err := lb.SetMembers(ctx, []domain.BoardMember{{CitizenID: "a", District: "wuxing", Version: 1}}); err != nil {
		t.Fatal(err)
	}
	at := now.Add(-time.Minute)
	mustApply(t, lb, credit("e1", "a", 5, at, day, all))

	base := prefix + "lb:g0:"
	for _, k := range []string{base + "h:day:x", base + "z:day:x:city", base + "z:day:x:d:wuxing"} {
		if got := pexpireAt(t, raw, k); !near(got, day.Expires) {
			t.Errorf("%s expires at %v, want %v", k, got, day.Expires)
		}
	}
	minute := at.Truncate(time.Minute)
	mark := fmt.Sprintf("%sm:%d", base, minute.Unix()/60)
	if got, want := pexpireAt(t, raw, mark), minute.Add(time.Minute+domain.BoardDedupWindow); !near(got, want) {
		t.Errorf("%s expires at %v, want %v", mark, got, want)
	}
	for _, k := range []string{base + "h:all", base + "z:all:city", base + "z:all:d:wuxing", base + "members", base + "inst"} {
		if d := raw.PTTL(ctx, k).Val(); d != -1 {
			t.Errorf("%s: PTTL = %v, want no expiry", k, d)
		}
	}

	// Moving district puts the score on a board that expires with the instance too.
	if err := lb.SetMembers(ctx, []domain.BoardMember{{CitizenID: "a", District: "nanxun", Version: 2}}); err != nil {
		t.Fatal(err)
	}
	if got := pexpireAt(t, raw, base+"z:day:x:d:nanxun"); !near(got, day.Expires) {
		t.Errorf("moved-to board expires at %v, want %v", got, day.Expires)
	}

	// Replace sets the same expiries on the new generation's keys.
	if err := lb.Replace(ctx, &domain.BoardSnapshot{
		Members:   []domain.BoardMember{{CitizenID: "a", District: "wuxing", Version: 3}},
		Instances: []domain.BoardInstance{day, all},
		Scores: map[string][]domain.BoardScore{
			"day:x": {{CitizenID: "a", CO2eGrams: 5, ReachedAt: at}},
			"all":   {{CitizenID: "a", CO2eGrams: 5, ReachedAt: at}},
		},
		Applied:   []domain.BoardCredit{credit("e1", "a", 5, at, day, all)},
		Watermark: now,
	}); err != nil {
		t.Fatal(err)
	}
	base = prefix + "lb:g" + raw.Get(ctx, prefix+"lb:gen").Val() + ":"
	for _, k := range []string{base + "h:day:x", base + "z:day:x:city", base + "z:day:x:d:wuxing"} {
		if got := pexpireAt(t, raw, k); !near(got, day.Expires) {
			t.Errorf("after Replace, %s expires at %v, want %v", k, got, day.Expires)
		}
	}
	mark = fmt.Sprintf("%sm:%d", base, minute.Unix()/60)
	if got, want := pexpireAt(t, raw, mark), minute.Add(time.Minute+domain.BoardDedupWindow); !near(got, want) {
		t.Errorf("after Replace, %s expires at %v, want %v", mark, got, want)
	}

	// An instance whose expiry has passed is gone.
	past := domain.BoardInstance{ID: "day:old", Expires: now.Add(-time.Second)}
	mustApply(t, lb, credit("e2", "a", 5, at, past))
	if keys := scanKeys(t, raw, base+"*day:old*"); len(keys) != 0 {
		t.Errorf("expired instance left keys %v", keys)
	}
}

func TestReplaceDeletesTheOldGeneration(t *testing.T) {
	lb, raw, prefix := openLeaderboard(t)
	ctx := t.Context()
	mustApply(t, lb, credit("e1", "a", 5, time.Now()))
	if keys := scanKeys(t, raw, prefix+"lb:g0:*"); len(keys) == 0 {
		t.Fatal("Apply wrote nothing under generation 0")
	}
	snap := func(grams int64) *domain.BoardSnapshot {
		return &domain.BoardSnapshot{
			Members:   []domain.BoardMember{{CitizenID: "a", Nickname: "A", Version: 1}},
			Instances: []domain.BoardInstance{{ID: "all"}},
			Scores:    map[string][]domain.BoardScore{"all": {{CitizenID: "a", CO2eGrams: grams, ReachedAt: t0}}},
			Watermark: t0,
		}
	}
	for i, grams := range []int64{7, 9} {
		if err := lb.Replace(ctx, snap(grams)); err != nil {
			t.Fatal(err)
		}
		gen := raw.Get(ctx, prefix+"lb:gen").Val()
		var stray []string
		for _, k := range scanKeys(t, raw, prefix+"lb:g*") {
			if !strings.HasPrefix(k, prefix+"lb:g"+gen+":") && k != prefix+"lb:gen" &&
				k != prefix+"lb:gen:next" && k != prefix+"lb:gens" {
				stray = append(stray, k)
			}
		}
		if len(stray) > 0 {
			t.Fatalf("Replace %d left old keys %v", i+1, stray)
		}
		if n := raw.ZCard(ctx, prefix+"lb:gens").Val(); n != 0 {
			t.Errorf("lb:gens holds %d generations after Replace", n)
		}
		page := mustQuery(t, lb, domain.BoardQuery{Board: domain.BoardID{Instance: "all"}, Limit: 5})
		if got, want := ids(page.Top), []string{fmt.Sprintf("1:a:%d", grams)}; !slices.Equal(got, want) || page.Top[0].Nickname != "A" {
			t.Fatalf("after Replace %d: %+v, want %v", i+1, page.Top, want)
		}
		wm, err := lb.Watermark(ctx)
		if err != nil || !wm.Equal(t0) {
			t.Fatalf("Watermark = %v, %v; want %v", wm, err, t0)
		}
	}
}

func TestReplaceThatFailsLeavesNothing(t *testing.T) {
	lb, raw, prefix := openLeaderboard(t)
	ctx := t.Context()
	mustApply(t, lb, credit("e1", "a", 5, time.Now()))
	if err := lb.SetMembers(ctx, []domain.BoardMember{{CitizenID: "a", Version: 1}}); err != nil {
		t.Fatal(err)
	}
	before := scanKeys(t, raw, prefix+"lb:g0:*")

	// Enough to take two pipelines.
	n := replacePipeline/4 + 1000
	members := make([]domain.BoardMember, n)
	scores := make([]domain.BoardScore, n)
	for i := range members {
		id := fmt.Sprintf("c%06d", i)
		members[i] = domain.BoardMember{CitizenID: id, District: "wuxing", Version: 1}
		scores[i] = domain.BoardScore{CitizenID: id, CO2eGrams: int64(i + 1), ReachedAt: t0}
	}
	snap := &domain.BoardSnapshot{
		Members: members, Instances: []domain.BoardInstance{{ID: "all"}},
		Scores: map[string][]domain.BoardScore{"all": scores}, Watermark: t0,
	}
	check := func(t *testing.T, gen string) {
		t.Helper()
		if keys := scanKeys(t, raw, prefix+"lb:g"+gen+":*"); len(keys) != 0 {
			t.Fatalf("failed Replace left %v", keys)
		}
		if n := raw.ZCard(ctx, prefix+"lb:gens").Val(); n != 0 {
			t.Errorf("lb:gens holds %d generations", n)
		}
		if after := scanKeys(t, raw, prefix+"lb:g0:*"); !slices.Equal(after, before) {
			t.Fatalf("live generation changed: %v, was %v", after, before)
		}
		page := mustQuery(t, lb, domain.BoardQuery{Board: domain.BoardID{Instance: "all"}, Limit: 5})
		if got := ids(page.Top); !slices.Equal(got, []string{"1:a:5"}) {
			t.Fatalf("boards after a failed Replace = %v", got)
		}
	}

	t.Run("failing before the swap", func(t *testing.T) {
		boom := errors.New("boom")
		var built string
		lb.beforeSwap = func(ctx context.Context, gen string) error {
			built = gen
			if n := len(scanKeys(t, raw, prefix+"lb:g"+gen+":*")); n < 4 {
				t.Errorf("generation %s has %d keys before the swap", gen, n)
			}
			return boom
		}
		defer func() { lb.beforeSwap = nil }()
		if err := lb.Replace(ctx, snap); !errors.Is(err, boom) {
			t.Fatalf("Replace = %v, want boom", err)
		}
		check(t, built)
	})

	t.Run("cancelled between pipelines", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		defer cancel()
		hook := &cancelAfterPipeline{cancel: cancel}
		lb.client.AddHook(hook)
		if err := lb.Replace(cctx, snap); !errors.Is(err, context.Canceled) {
			t.Fatalf("Replace = %v, want context.Canceled", err)
		}
		if hook.gen == "" {
			t.Fatal("no pipeline ran")
		}
		check(t, hook.gen)
	})
}

// cancelAfterPipeline cancels a context once the first pipeline has run, and
// notes the generation it wrote.
type cancelAfterPipeline struct {
	cancel context.CancelFunc
	gen    string
}

func (h *cancelAfterPipeline) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (h *cancelAfterPipeline) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return next
}

func (h *cancelAfterPipeline) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error {
		err := next(ctx, cmds)
		if h.gen == "" && len(cmds) > 0 {
			if key, ok := cmds[0].Args()[1].(string); ok {
				_, rest, _ := strings.Cut(key, "lb:g")
				h.gen, _, _ = strings.Cut(rest, ":")
			}
			h.cancel()
		}
		return err
	}
}

func TestReplaceSweepsAbandonedBuilds(t *testing.T) {
	lb, raw, prefix := openLeaderboard(t)
	ctx := t.Context()
	// A build whose process died an hour and more ago, and one still running.
	long := time.Now().Add(-2 * buildLease).UnixMilli()
	raw.ZAdd(ctx, prefix+"lb:gens", goredis.Z{Score: float64(long), Member: "900"}, goredis.Z{Score: float64(time.Now().UnixMilli()), Member: "901"})
	raw.HSet(ctx, prefix+"lb:g900:members", "a", "x")
	raw.HSet(ctx, prefix+"lb:g901:members", "a", "x")

	if err := lb.Replace(ctx, &domain.BoardSnapshot{Watermark: t0}); err != nil {
		t.Fatal(err)
	}
	if keys := scanKeys(t, raw, prefix+"lb:g900:*"); len(keys) != 0 {
		t.Errorf("abandoned build left %v", keys)
	}
	if keys := scanKeys(t, raw, prefix+"lb:g901:*"); len(keys) != 1 {
		t.Errorf("running build was deleted")
	}
	if got := raw.ZRange(ctx, prefix+"lb:gens", 0, -1).Val(); !slices.Equal(got, []string{"901"}) {
		t.Errorf("lb:gens = %v, want [901]", got)
	}
	// A swept build can never go live.
	err := swapScript.Run(ctx, raw, []string{prefix + "lb:gen", prefix + "lb:gens"}, "900").Err()
	if err == nil || !strings.Contains(err.Error(), "abandoned") {
		t.Fatalf("swap to a swept generation: %v", err)
	}
}

func TestWatermarkMovesForwardOnly(t *testing.T) {
	lb, _, _ := openLeaderboard(t)
	ctx := t.Context()
	if wm, err := lb.Watermark(ctx); err != nil || !wm.IsZero() {
		t.Fatalf("new boards' watermark = %v, %v", wm, err)
	}
	t1 := time.Date(2026, 11, 27, 10, 0, 0, 123456789, time.UTC)
	for _, set := range []time.Time{t1, t1.Add(-time.Nanosecond), t1.Add(-time.Hour)} {
		if err := lb.SetWatermark(ctx, set); err != nil {
			t.Fatal(err)
		}
	}
	if wm, err := lb.Watermark(ctx); err != nil || !wm.Equal(t1) {
		t.Fatalf("watermark = %v, %v; want %v", wm, err, t1)
	}
	if err := lb.SetWatermark(ctx, t1.Add(time.Nanosecond)); err != nil {
		t.Fatal(err)
	}
	if wm, _ := lb.Watermark(ctx); !wm.Equal(t1.Add(time.Nanosecond)) {
		t.Fatalf("watermark = %v, want %v", wm, t1.Add(time.Nanosecond))
	}
}

func TestMemberRecordsRoundTrip(t *testing.T) {
	for _, m := range []domain.BoardMember{
		{Version: -5, Nickname: "x"},
		{Version: 1<<63 - 1, Hidden: true, District: "a:b", Nickname: "12:c\x00"},
		{Version: 0},
	} {
		if got := decodeMember(encodeMember(m)); got != m {
			t.Errorf("decode(encode(%+v)) = %+v", m, got)
		}
	}
	if a, b := encodeVersion(-1), encodeVersion(0); a >= b {
		t.Errorf("version -1 encodes as %s, not below 0's %s", a, b)
	}
}
