package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Names of the leaderboard jobs, for `run-job`.
const (
	LeaderboardCatchUpName = "leaderboard-catchup"
	LeaderboardRebuildName = "leaderboard-rebuild"
)

// LeaderboardCatchUp returns the job that applies to the boards every credit made
// since their watermark, for credits whose immediate update was lost (a crash
// after the store's commit, a Redis outage). It rebuilds the boards when they are
// empty or too far behind. Credits count once however often they are delivered.
func LeaderboardCatchUp(boards *domain.LeaderboardService, every time.Duration) Job {
	return Job{
		Name:    LeaderboardCatchUpName,
		Every:   every,
		Timeout: 30 * time.Minute,
		Run: func(ctx context.Context) error {
			rep, err := boards.CatchUp(ctx)
			if errors.Is(err, domain.ErrBoardsBusy) {
				Logger(ctx).InfoContext(ctx, "leaderboards are being rebuilt elsewhere; catch-up skipped")
				return nil
			}
			if rep.Rebuilt != nil {
				logRebuild(ctx, *rep.Rebuilt)
			} else {
				Logger(ctx).DebugContext(ctx, "leaderboards caught up", "entries_read", rep.Entries)
			}
			if err != nil {
				return fmt.Errorf("leaderboard catch-up: %w", err)
			}
			return nil
		},
	}
}

// LeaderboardRebuild returns the job that recomputes every board from the store
// and swaps the result in; run daily (cron) it bounds how long any drift between
// boards and ledger can last, and `run-job leaderboard-rebuild` runs it by hand.
func LeaderboardRebuild(boards *domain.LeaderboardService, cron string) Job {
	return Job{
		Name:    LeaderboardRebuildName,
		Cron:    cron,
		Timeout: 30 * time.Minute,
		Run: func(ctx context.Context) error {
			rep, err := boards.Rebuild(ctx)
			if errors.Is(err, domain.ErrBoardsBusy) {
				return fmt.Errorf("leaderboard rebuild: %w", err)
			}
			logRebuild(ctx, rep)
			if err != nil {
				return fmt.Errorf("leaderboard rebuild: %w", err)
			}
			return nil
		},
	}
}

func logRebuild(ctx context.Context, rep domain.RebuildReport) {
	Logger(ctx).InfoContext(ctx, "rebuilt leaderboards", "citizens", rep.Citizens, "ledger_entries", rep.Entries,
		"period_instances", rep.Instances, "scores", rep.Scores, "caught_up", rep.CaughtUp, "duration", rep.Duration.String())
}
