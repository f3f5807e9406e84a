package jobs_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
	"github.com/huzhou-lvdaitong/carbon-account/jobs"
)

// testLog keeps run logs out of test output unless -v is given.
func testLog(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// newScheduler creates a scheduler that is shut down when the test ends.
func newScheduler(t *testing.T, locker domain.Locker, reg prometheus.Registerer, js ...jobs.Job) *jobs.Scheduler {
	t.Helper()
	s, err := jobs.New(jobs.Options{Locker: locker, Logger: testLog(t), Metrics: reg}, js...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// waitFor polls cond until it holds; the limit only keeps a broken test from
// hanging, it is not a speed requirement.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// runCount reads jobs_runs_total{job,outcome} from reg.
func runCount(t *testing.T, reg *prometheus.Registry, job, outcome string) int {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "jobs_runs_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["job"] == job && labels["outcome"] == outcome {
				return int(m.GetCounter().GetValue())
			}
		}
	}
	t.Fatalf("no jobs_runs_total{job=%q,outcome=%q}", job, outcome)
	return 0
}
