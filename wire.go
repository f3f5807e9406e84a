package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/firebase"
	"github.com/huzhou-lvdaitong/carbon-account/adapters/memory"
	"github.com/huzhou-lvdaitong/carbon-account/adapters/mongo"
	"github.com/huzhou-lvdaitong/carbon-account/adapters/redis"
	"github.com/huzhou-lvdaitong/carbon-account/adapters/sqlite"
	"github.com/huzhou-lvdaitong/carbon-account/api"
	"github.com/huzhou-lvdaitong/carbon-account/api/token"
	"github.com/huzhou-lvdaitong/carbon-account/config"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
	"github.com/huzhou-lvdaitong/carbon-account/jobs"
	"github.com/huzhou-lvdaitong/carbon-account/seeds"
)

// services is the wired application: adapters chosen by configuration, domain
// services on top of them. The one place where the pieces meet.
type services struct {
	cfg       config.Config
	log       *slog.Logger
	store     domain.Store
	state     domain.SharedState
	auth      *domain.AuthService
	citizens  *domain.CitizenService
	operators *domain.OperatorService
	catalog   *domain.Catalog
	actions   *domain.ActionService
	benefits  *domain.BenefitService
	banks     *domain.BankService
	boards    *domain.LeaderboardService
	tokens    *token.Authority
	metrics   *prometheus.Registry // served at /metrics: HTTP, jobs, Go runtime
}

func newLogger(cfg config.Config, w *os.File) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: cfg.LogLevel}))
}

// openStore picks MongoDB when MONGODB_URI is set, else the embedded SQLite file.
func openStore(ctx context.Context, cfg config.Config) (domain.Store, error) {
	if cfg.Production() {
		return mongo.Open(ctx, cfg.MongoURI, cfg.MongoDatabase)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data dir %s: %w", cfg.DataDir, err)
	}
	return sqlite.Open(ctx, cfg.SQLitePath())
}

// openSharedState picks Redis when REDIS_URL is set, else in-process state (which
// is only correct with a single replica), and the leaderboards that go with it.
func openSharedState(ctx context.Context, cfg config.Config) (domain.SharedState, domain.Leaderboard, error) {
	if cfg.RedisURL != "" {
		rs, err := redis.Open(ctx, cfg.RedisURL, redis.WithKeyPrefix(cfg.RedisKeyPrefix))
		if err != nil {
			return nil, nil, err
		}
		return rs, redis.NewLeaderboard(rs), nil
	}
	return memory.NewSharedState(), memory.NewLeaderboard(time.Now), nil
}

func loadTokenAuthority(cfg config.Config, log *slog.Logger) (*token.Authority, error) {
	var signing token.Key
	var err error
	if cfg.JWTKeyFile != "" {
		signing, err = token.LoadKeyFile(cfg.JWTKeyFile)
	} else {
		var created bool
		signing, created, err = token.LoadOrGenerateKeyFile(cfg.SigningKeyFile())
		if created {
			log.Info("generated a token signing key", "file", cfg.SigningKeyFile(), "kid", signing.ID)
		}
	}
	if err != nil {
		return nil, err
	}
	if signing.Private == nil {
		return nil, errors.New("CARBON_JWT_KEY_FILE must hold a private key")
	}
	var previous []token.Key
	for _, f := range cfg.JWTPreviousKeyFiles {
		k, err := token.LoadKeyFile(f)
		if err != nil {
			return nil, fmt.Errorf("CARBON_JWT_PREVIOUS_KEY_FILES: %w", err)
		}
		previous = append(previous, k)
	}
	return token.NewAuthority(signing, previous, cfg.JWTIssuer, cfg.JWTAudience, cfg.AccessTokenTTL, time.Now), nil
}

func wire(ctx context.Context, cfg config.Config, log *slog.Logger) (*services, error) {
	s := &services{cfg: cfg, log: log, metrics: prometheus.NewRegistry()}
	var err error
	if s.store, err = openStore(ctx, cfg); err != nil {
		return nil, err
	}
	var boards domain.Leaderboard
	if s.state, boards, err = openSharedState(ctx, cfg); err != nil {
		s.close()
		return nil, err
	}
	if s.tokens, err = loadTokenAuthority(cfg, log); err != nil {
		s.close()
		return nil, err
	}
	var verifier domain.IDTokenVerifier
	if cfg.FirebaseEnabled() {
		v, err := firebase.NewVerifier(ctx, cfg.FirebaseProjectID, cfg.GoogleCredentials)
		if err != nil {
			s.close()
			return nil, err
		}
		verifier = v
	}
	s.auth = &domain.AuthService{
		Citizens: s.store, Operators: s.store, Sessions: s.store, Limiter: s.state, Verifier: verifier,
		Now: domain.Now, RefreshTTL: cfg.RefreshTokenTTL, LoginAttempts: cfg.LoginAttempts, LoginWindow: cfg.LoginWindow,
	}
	s.boards = &domain.LeaderboardService{
		Boards: boards, Citizens: s.store, Ledger: s.store, Locker: s.state, Now: domain.Now,
		Retention: cfg.BoardRetention, Overlap: domain.DefaultBoardOverlap, RebuildWait: domain.DefaultBoardRebuildWait, Log: log,
	}
	s.citizens = &domain.CitizenService{Citizens: s.store, Sessions: s.store, Actions: s.store, Now: domain.Now, Members: s.boards}
	s.operators = &domain.OperatorService{Operators: s.store, Now: domain.Now}
	s.catalog = &domain.Catalog{Store: s.store, Now: domain.Now, Lead: cfg.CoefficientLead}
	s.actions = &domain.ActionService{Actions: s.store, Catalog: s.catalog, Limiter: s.state, Now: domain.Now, Rules: domain.ActionRules{
		MaxAge: cfg.ActionMaxAge, FutureSkew: cfg.ActionFutureSkew, DailyPoints: cfg.DailyPointsCap, PerMinute: cfg.ActionsPerMinute,
		ReplayWaitStep: domain.DefaultActionRules.ReplayWaitStep, ReplayWaitMax: domain.DefaultActionRules.ReplayWaitMax,
	}, Credited: s.boards}
	s.benefits = &domain.BenefitService{Benefits: s.store, Banks: s.store, Levels: seeds.Levels(), Now: domain.Now,
		ReplayWaitStep: domain.DefaultActionRules.ReplayWaitStep, ReplayWaitMax: domain.DefaultActionRules.ReplayWaitMax}
	s.banks = &domain.BankService{Banks: s.store, Credentials: s.store, Limiter: s.state, Now: domain.Now, TokenTTL: cfg.BankTokenTTL}
	if !cfg.SkipSeed {
		if err := s.seed(ctx); err != nil {
			s.close()
			return nil, err
		}
	}
	if err := s.catalog.Reload(ctx); err != nil {
		s.close()
		return nil, fmt.Errorf("loading the activity catalog: %w", err)
	}
	return s, nil
}

// seed loads the default activity types that are not in the store yet. It never
// changes a type that exists: after seeding, operators own the catalog.
func (s *services) seed(ctx context.Context) error {
	created, err := seeds.Load(ctx, s.store, domain.Now())
	if err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	if created > 0 {
		s.log.Info("seeded default activity types", "created", created)
	}
	banks, benefits, err := seeds.LoadBanks(ctx, s.store, domain.Now())
	if err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	if banks > 0 {
		s.log.Info("seeded pilot banks", "banks", banks, "benefits", benefits)
	}
	return nil
}

// refreshCatalog reloads the activity catalog every CARBON_CATALOG_REFRESH until
// ctx ends, so versions added on another replica are known here before they apply.
func (s *services) refreshCatalog(ctx context.Context) {
	t := time.NewTicker(s.cfg.CatalogRefresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := s.catalog.Reload(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("reloading the activity catalog", "error", err)
			}
		}
	}
}

func (s *services) httpApp() *fiber.App {
	return api.New(api.Deps{
		Auth: s.auth, Citizens: s.citizens, Operators: s.operators, Tokens: s.tokens, Logger: s.log,
		Actions: s.actions, Catalog: s.catalog, Levels: seeds.Levels(), Leaderboards: s.boards,
		Banks:    s.banks,
		Benefits: s.benefits,
		Consents: &domain.ConsentService{Consents: s.store, Banks: s.store, Citizens: s.store, Levels: seeds.Levels(), Now: domain.Now,
			Limiter: s.state},
		Redemptions: &domain.RedemptionService{Redemptions: s.store, Benefits: s.store, Now: domain.Now,
			ReversalWindow: s.cfg.RedemptionReversalWindow},
		Readiness: []api.ReadinessCheck{
			{Name: "store", Check: s.store.Ping},
			{Name: "shared_state", Check: s.state.Ping},
		},
		OpenAPI:        openAPISpec,
		Metrics:        s.metrics,
		DevLogin:       s.cfg.DevLoginEnabled(),
		BodyLimitBytes: s.cfg.BodyLimitBytes,
		TrustedProxies: s.cfg.TrustedProxies,
		Version:        version,
	})
}

// scheduler returns this process's scheduled work. Every replica runs the same
// jobs; the shared Locker (Redis in production) gives each run to one of them.
func (s *services) scheduler() (*jobs.Scheduler, error) {
	return jobs.New(jobs.Options{Locker: s.state, Logger: s.log, Metrics: s.metrics},
		jobs.PruneSessions(s.store, domain.Now),
		jobs.Reconcile(&domain.Reconciler{Actions: s.store, Claims: s.store, Now: domain.Now, Grace: time.Minute, Recovered: s.boards.Rebuild}, s.cfg.ReconcileEvery),
		jobs.ExpireVouchers(s.store, domain.Now, 10*time.Minute),
		jobs.LeaderboardCatchUp(s.boards, s.cfg.BoardCatchUpEvery),
		jobs.LeaderboardRebuild(s.boards, s.cfg.BoardRebuildCron),
	)
}

// prepareBoards brings the leaderboards up to date before serving. The
// in-process boards start empty and are rebuilt from the store here; Redis keeps
// them across restarts, so only what was credited while no replica ran is caught
// up (or everything rebuilt, if Redis lost them). Another replica doing the same
// at this moment is fine: the boards are then its business.
func (s *services) prepareBoards(ctx context.Context) error {
	start := time.Now()
	rep, err := s.boards.CatchUp(ctx)
	switch {
	case errors.Is(err, domain.ErrBoardsBusy):
		s.log.Info("leaderboards are being maintained by another replica")
		return nil
	case err != nil:
		return fmt.Errorf("preparing leaderboards: %w", err)
	case rep.Rebuilt != nil:
		s.log.Info("rebuilt leaderboards from the store", "citizens", rep.Rebuilt.Citizens,
			"ledger_entries", rep.Rebuilt.Entries, "duration", time.Since(start).String())
	default:
		s.log.Info("leaderboards caught up", "ledger_entries", rep.Entries, "duration", time.Since(start).String())
	}
	return nil
}

func (s *services) close() {
	if s.state != nil {
		_ = s.state.Close()
	}
	if s.store != nil {
		_ = s.store.Close()
	}
}
