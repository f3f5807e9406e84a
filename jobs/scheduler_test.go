package jobs_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/memory"
	"github.com/huzhou-lvdaitong/carbon-account/jobs"
)

func TestJobRunsOnSchedule(t *testing.T) {
	var runs atomic.Int32
	var sawDeadline, sawLogger atomic.Bool
	s := newScheduler(t, memory.NewSharedState(), nil, jobs.Job{
		Name: "tick", Every: 20 * time.Millisecond, Timeout: time.Second,
		Run: func(ctx context.Context) error {
			_, ok := ctx.Deadline()
			sawDeadline.Store(ok)
			sawLogger.Store(jobs.Logger(ctx) != nil)
			runs.Add(1)
			return nil
		},
	})
	s.Start()
	waitFor(t, "three runs", func() bool { return runs.Load() >= 3 })
	if !sawDeadline.Load() || !sawLogger.Load() {
		t.Errorf("run context: deadline %v, logger %v; want both", sawDeadline.Load(), sawLogger.Load())
	}
}

func TestPanicIsRecoveredAndTheJobKeepsRunning(t *testing.T) {
	reg := prometheus.NewRegistry()
	var runs atomic.Int32
	s := newScheduler(t, memory.NewSharedState(), reg, jobs.Job{
		Name: "boom", Every: 20 * time.Millisecond,
		Run: func(context.Context) error {
			if runs.Add(1) == 1 {
				panic("first run fails")
			}
			return nil
		},
	})
	s.Start()
	waitFor(t, "a run after the panic", func() bool { return runs.Load() >= 2 })
	if n := runCount(t, reg, "boom", "panic"); n != 1 {
		t.Errorf("panic runs = %d, want 1", n)
	}
	err := s.RunOnce(t.Context(), "boom")
	if err != nil {
		t.Errorf("RunOnce after the panic: %v", err)
	}
}

func TestShutdownCancelsAndWaitsForRuns(t *testing.T) {
	started := make(chan struct{}, 2)
	var finished atomic.Int32
	slow := func(ctx context.Context) error {
		started <- struct{}{}
		<-ctx.Done()
		time.Sleep(50 * time.Millisecond) // cleanup that Shutdown must wait for
		finished.Add(1)
		return ctx.Err()
	}
	s, err := jobs.New(jobs.Options{Locker: memory.NewSharedState(), Logger: testLog(t)},
		jobs.Job{Name: "scheduled", Every: 10 * time.Millisecond, Run: slow},
		jobs.Job{Name: "manual", Every: time.Hour, Run: slow})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	once := make(chan error, 1)
	go func() { once <- s.RunOnce(context.Background(), "manual") }()
	<-started
	<-started

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := finished.Load(); n != 2 {
		t.Errorf("Shutdown returned with %d of 2 runs finished", n)
	}
	if err := <-once; !errors.Is(err, context.Canceled) {
		t.Errorf("RunOnce during Shutdown = %v, want context.Canceled", err)
	}
	if err := s.RunOnce(context.Background(), "manual"); !errors.Is(err, jobs.ErrShutdown) {
		t.Errorf("RunOnce after Shutdown = %v, want ErrShutdown", err)
	}
	if err := s.Shutdown(ctx); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

func TestRunOnce(t *testing.T) {
	reg := prometheus.NewRegistry()
	var runs atomic.Int32
	release := make(chan struct{})
	entered := make(chan struct{})
	s := newScheduler(t, memory.NewSharedState(), reg,
		jobs.Job{Name: "ok", Every: time.Hour, Run: func(context.Context) error { runs.Add(1); return nil }},
		jobs.Job{Name: "fails", Cron: "0 3 * * *", Run: func(context.Context) error { return errors.New("no luck") }},
		jobs.Job{Name: "panics", Every: time.Hour, Run: func(context.Context) error { panic("oops") }},
		jobs.Job{Name: "blocks", Every: time.Hour, Run: func(context.Context) error { close(entered); <-release; return nil }},
	)
	ctx := t.Context()

	if err := s.RunOnce(ctx, "ok"); err != nil || runs.Load() != 1 {
		t.Errorf("RunOnce(ok) = %v after %d runs, want nil after 1", err, runs.Load())
	}
	if err := s.RunOnce(ctx, "fails"); err == nil || !strings.Contains(err.Error(), "no luck") {
		t.Errorf("RunOnce(fails) = %v, want the job's error", err)
	}
	if err := s.RunOnce(ctx, "panics"); err == nil || !strings.Contains(err.Error(), "oops") {
		t.Errorf("RunOnce(panics) = %v, want an error carrying the panic", err)
	}
	if err := s.RunOnce(ctx, "nope"); !errors.Is(err, jobs.ErrUnknownJob) || !strings.Contains(err.Error(), "blocks, fails, ok, panics") {
		t.Errorf("RunOnce(unknown) = %v, want ErrUnknownJob listing the jobs", err)
	}

	done := make(chan error, 1)
	go func() { done <- s.RunOnce(ctx, "blocks") }()
	<-entered
	if err := s.RunOnce(ctx, "blocks"); !errors.Is(err, jobs.ErrBusy) {
		t.Errorf("RunOnce while it runs = %v, want ErrBusy", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Errorf("RunOnce(blocks) = %v", err)
	}

	for _, c := range []struct {
		job, outcome string
		want         int
	}{
		{"ok", "ok", 1}, {"ok", "error", 0}, {"fails", "error", 1}, {"panics", "panic", 1},
		{"blocks", "skipped", 1}, {"blocks", "ok", 1}, {"blocks", "lock_failed", 0},
	} {
		if n := runCount(t, reg, c.job, c.outcome); n != c.want {
			t.Errorf("jobs_runs_total{job=%s,outcome=%s} = %d, want %d", c.job, c.outcome, n, c.want)
		}
	}
}

func TestNewRejectsBadJobs(t *testing.T) {
	run := func(context.Context) error { return nil }
	locker := memory.NewSharedState()
	for name, js := range map[string][]jobs.Job{
		"no name":          {{Every: time.Hour, Run: run}},
		"bad name":         {{Name: "Prune Sessions", Every: time.Hour, Run: run}},
		"no schedule":      {{Name: "a", Run: run}},
		"two schedules":    {{Name: "a", Every: time.Hour, Cron: "0 * * * *", Run: run}},
		"bad cron":         {{Name: "a", Cron: "every day", Run: run}},
		"negative timeout": {{Name: "a", Every: time.Hour, Timeout: -time.Second, Run: run}},
		"no run":           {{Name: "a", Every: time.Hour}},
		"duplicate":        {{Name: "a", Every: time.Hour, Run: run}, {Name: "a", Every: time.Minute, Run: run}},
	} {
		s, err := jobs.New(jobs.Options{Locker: locker, Logger: testLog(t)}, js...)
		if err == nil {
			_ = s.Shutdown(t.Context())
			t.Errorf("%s: New accepted %+v", name, js)
		}
	}
	if _, err := jobs.New(jobs.Options{}); err == nil {
		t.Errorf("New without a Locker: no error")
	}
	// Two schedulers may share one registry, as replicas in one test process or a
	// scheduler re-created after a config reload would.
	reg := prometheus.NewRegistry()
	newScheduler(t, locker, reg, jobs.Job{Name: "a", Every: time.Hour, Run: run})
	newScheduler(t, locker, reg, jobs.Job{Name: "a", Every: time.Hour, Run: run})
}
