// Package benchtest wires the application the benchmarks' tests run on, as
// api/harness_test.go does: a fresh SQLite file with the seeded catalog,
// in-process shared state and boards, with no rate limit and no daily points
// cap. The commands use the real wiring (wire() in package main) instead.
package benchtest

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
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

// Wiring is the test application.
type Wiring struct {
	Store   *sqlite.Store
	DBPath  string // the store's SQLite file
	State   *memory.SharedState
	Tokens  *token.Authority
	Catalog *domain.Catalog
	// Boards are the in-process leaderboards, updated as actions are credited
	// and profiles change, as in production; nothing runs catch-up or
	// rebuilding in the background.
	Boards *domain.LeaderboardService
	// Actions has no rate limit and no daily points cap, so that neither turns
	// a benchmark's call into a failure.
	Actions *domain.ActionService
	// Benefits claims benefits (of the seeded pilot banks) for points.
	Benefits *domain.BenefitService
	// NewApp builds the HTTP application on the above.
	NewApp func() *fiber.App
}

// New wires the test application in tb.TempDir(), closed by tb.Cleanup.
func New(tb testing.TB) Wiring {
	tb.Helper()
	ctx := context.Background()
	dir := tb.TempDir()
	w := Wiring{DBPath: filepath.Join(dir, "carbon.db")}
	var err error
	if w.Store, err = sqlite.Open(ctx, w.DBPath); err != nil {
		tb.Fatal(err)
	}
	w.State = memory.NewSharedState()
	store, state := w.Store, w.State
	tb.Cleanup(func() { _ = state.Close(); _ = store.Close() })
	key, _, err := token.LoadOrGenerateKeyFile(filepath.Join(dir, "k.pem"))
	if err != nil {
		tb.Fatal(err)
	}
	w.Tokens = token.NewAuthority(key, nil, "carbon-account", "carbon-account-api", 15*time.Minute, time.Now)
	if _, err := seeds.Load(ctx, store, domain.Now()); err != nil {
		tb.Fatal(err)
	}
	if _, _, err := seeds.LoadBanks(ctx, store, domain.Now()); err != nil {
		tb.Fatal(err)
	}
	w.Catalog = &domain.Catalog{Store: store, Now: domain.Now}
	if err := w.Catalog.Reload(ctx); err != nil {
		tb.Fatal(err)
	}
	// Request logs formatted as in production, then dropped.
	log := slog.New(slog.NewJSONHandler(io.Discard, nil))
	w.Boards = &domain.LeaderboardService{
		Boards: memory.NewLeaderboard(time.Now), Citizens: store, Ledger: store, Locker: state, Now: domain.Now,
		Retention: domain.DefaultBoardRetention, Overlap: domain.DefaultBoardOverlap, Log: log,
	}
	rules := domain.DefaultActionRules
	rules.DailyPoints, rules.PerMinute = 0, 0
	w.Actions = &domain.ActionService{Actions: store, Catalog: w.Catalog, Limiter: state, Now: domain.Now, Rules: rules, Credited: w.Boards}
	auth := &domain.AuthService{Citizens: store, Operators: store, Sessions: store, Limiter: state,
		Now: domain.Now, RefreshTTL: 24 * time.Hour, LoginAttempts: 5, LoginWindow: time.Minute}
	w.Benefits = &domain.BenefitService{Benefits: store, Banks: store, Levels: seeds.Levels(), Now: domain.Now,
		ReplayWaitStep: rules.ReplayWaitStep, ReplayWaitMax: rules.ReplayWaitMax}
	banks := &domain.BankService{Banks: store, Credentials: store, Limiter: state, Now: domain.Now, TokenTTL: 10 * time.Minute}
	actions, catalog, tokens, boards, benefits := w.Actions, w.Catalog, w.Tokens, w.Boards, w.Benefits
	w.NewApp = func() *fiber.App {
		return api.New(api.Deps{
			Auth: auth, Actions: actions, Catalog: catalog, Levels: seeds.Levels(), Tokens: tokens, Leaderboards: boards,
			Benefits: benefits, Banks: banks,
			Consents: &domain.ConsentService{Consents: store, Banks: store, Citizens: store, Levels: seeds.Levels(), Now: domain.Now},
			Redemptions: &domain.RedemptionService{Redemptions: store, Benefits: store, Now: domain.Now,
				ReversalWindow: domain.DefaultReversalWindow},
			Citizens:  &domain.CitizenService{Citizens: store, Sessions: store, Actions: store, Now: domain.Now, Members: boards},
			Operators: &domain.OperatorService{Operators: store, Now: domain.Now},
			Logger:    log, BodyLimitBytes: 64 << 10, Version: "bench",
		})
	}
	return w
}
