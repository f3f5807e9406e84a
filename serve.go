package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/huzhou-lvdaitong/carbon-account/config"
)

// serve runs the HTTP server until SIGINT or SIGTERM, then drains in-flight
// requests for up to CARBON_SHUTDOWN_TIMEOUT before closing the stores.
func serve(ctx context.Context, stderr io.Writer) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	log := newLogger(cfg, os.Stdout)
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	s, err := wire(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer s.close()
	if err := bootstrapAdmin(ctx, s, stderr); err != nil {
		return err
	}
	if cfg.DevLoginEnabled() {
		log.Warn("dev login is ON: anyone can sign in as any phone number at POST /v1/auth/dev-login; set CARBON_DEV_LOGIN=false in production")
	}
	if !cfg.Production() && cfg.RedisURL == "" {
		log.Info("embedded mode: SQLite store, in-process leaderboards and rate limits; run a single replica", "data_dir", cfg.DataDir)
	}

	if err := s.prepareBoards(ctx); err != nil {
		return err
	}
	app := s.httpApp()
	sched, err := s.scheduler()
	if err != nil {
		return err
	}
	sched.Start()
	go s.refreshCatalog(ctx)
	// Deferred after s.close, so it runs first: running jobs still use the store.
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
		defer cancel()
		if err := sched.Shutdown(ctx); err != nil {
			log.Warn("scheduled jobs did not stop in time", "error", err)
		}
	}()
	errc := make(chan error, 1)
	addr := ":" + strconv.Itoa(cfg.Port)
	go func() { errc <- app.Listen(addr) }()
	log.Info("listening", "addr", addr, "docs", fmt.Sprintf("http://localhost:%d/docs/", cfg.Port), "version", version)

	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	if err := app.ShutdownWithTimeout(cfg.ShutdownTimeout); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("stopped")
	return nil
}

// bootstrapAdmin creates the first operator. In embedded mode without
// CARBON_ADMIN_PASSWORD it makes up a password and prints it once, to stderr
// rather than the log stream, so it does not end up in log storage.
func bootstrapAdmin(ctx context.Context, s *services, stderr io.Writer) error {
	generated, created, err := s.operators.EnsureBootstrapAdmin(ctx, s.cfg.AdminPassword, !s.cfg.Production())
	if err != nil {
		return fmt.Errorf("creating the admin operator: %w", err)
	}
	switch {
	case created && generated != "":
		fmt.Fprintf(stderr, "\n  Created operator %q with password: %s\n  It is shown only this once. Sign in at POST /v1/admin/auth/login.\n\n", "admin", generated)
		s.log.Warn("created the admin operator with a generated password (printed once on stderr)")
	case created:
		s.log.Info("created the admin operator from CARBON_ADMIN_PASSWORD")
	default:
		if _, err := s.store.GetOperatorByUsername(ctx, "admin"); err != nil {
			s.log.Warn("no admin operator exists: set CARBON_ADMIN_PASSWORD or run `carbon-account create-operator`")
		}
	}
	return nil
}
