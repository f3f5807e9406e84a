package jobs

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"
)

type loggerKey struct{}

// Logger returns the logger of the run that ctx belongs to (it carries the job's
// name), or slog.Default() outside a run. Jobs log what they did with it.
func Logger(ctx context.Context) *slog.Logger {
	if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok {
		return l
	}
	return slog.Default()
}

// run runs j once, however it was triggered: it bounds the run by j.Timeout,
// turns a panic into an error, logs start and finish, and counts the outcome.
// Shutdown waits for it and cancels ctx.
func (s *Scheduler) run(ctx context.Context, j Job, trigger string) (err error) {
	if !s.begin() {
		return ErrShutdown
	}
	defer s.running.Done()
	ctx, cancel := context.WithTimeout(ctx, j.Timeout)
	defer cancel()
	stop := context.AfterFunc(s.stopping, cancel) // RunOnce's ctx is the caller's
	defer stop()

	log := s.log.With("job", j.Name, "trigger", trigger)
	ctx = context.WithValue(ctx, loggerKey{}, log)
	start := time.Now()
	log.InfoContext(ctx, "job started")
	defer func() {
		outcome := outcomeOK
		elapsed := slog.Duration("duration", time.Since(start))
		if r := recover(); r != nil {
			outcome = outcomePanic
			err = fmt.Errorf("jobs: %s panicked: %v", j.Name, r)
			log.ErrorContext(ctx, "job panicked", elapsed, slog.Any("panic", r), slog.String("stack", string(debug.Stack())))
		} else if err != nil {
			outcome = outcomeError
			log.ErrorContext(ctx, "job failed", elapsed, slog.Any("error", err))
		} else {
			log.InfoContext(ctx, "job finished", elapsed)
		}
		s.runs.WithLabelValues(j.Name, outcome).Inc()
	}()
	return j.Run(ctx)
}
