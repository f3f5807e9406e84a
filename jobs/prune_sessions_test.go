package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
	"github.com/huzhou-lvdaitong/carbon-account/jobs"
)

// pruneRecorder is a SessionStore that only records PruneSessions calls.
type pruneRecorder struct {
	domain.SessionStore
	before []time.Time
	err    error
}

func (p *pruneRecorder) PruneSessions(_ context.Context, before time.Time) (int, int, error) {
	p.before = append(p.before, before)
	return 3, 1, p.err
}

func TestPruneSessionsJob(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	store := &pruneRecorder{}
	job := jobs.PruneSessions(store, func() time.Time { return now })
	if job.Name != jobs.PruneSessionsName || job.Every != time.Hour {
		t.Errorf("job %s every %s, want %s every hour", job.Name, job.Every, jobs.PruneSessionsName)
	}
	if err := job.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	if want := now.Add(-7 * 24 * time.Hour); len(store.before) != 1 || !store.before[0].Equal(want) {
		t.Errorf("PruneSessions called with %v, want [%v]", store.before, want)
	}
	store.err = errors.New("store down")
	if err := job.Run(t.Context()); !errors.Is(err, store.err) {
		t.Errorf("Run = %v, want the store's error", err)
	}
}
