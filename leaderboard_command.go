package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/huzhou-lvdaitong/carbon-account/config"
)

// rebuildLeaderboards recomputes the Redis leaderboards from the store and swaps
// them in, then reports what it read. The in-process boards of the embedded mode
// live inside the server and are rebuilt whenever it starts, so there is nothing
// for this command to do there.
func rebuildLeaderboards(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) != 0 {
		return errors.New("usage: carbon-account rebuild-leaderboards")
	}
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	if cfg.RedisURL == "" {
		return errors.New("without REDIS_URL the leaderboards live inside the server process and are rebuilt each time it starts; restart the server instead")
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := wire(ctx, cfg, newLogger(cfg, os.Stderr))
	if err != nil {
		return err
	}
	defer s.close()
	rep, err := s.boards.Rebuild(ctx)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "rebuilt leaderboards: %d citizens, %d ledger entries, %d period instances, %d scores, %d caught up, in %s\n",
		rep.Citizens, rep.Entries, rep.Instances, rep.Scores, rep.CaughtUp, rep.Duration.Round(1e6))
	return err
}
