package jobs_test

import (
	"context"
	"crypto/rand"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/memory"
	"github.com/huzhou-lvdaitong/carbon-account/adapters/redis"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
	"github.com/huzhou-lvdaitong/carbon-account/jobs"
)

// checkOneRunnerAtATime runs the same job on two schedulers, as two replicas
// would, and counts runs that start while another is in progress. Each run
// lasts most of the interval and both schedulers fire at the same aligned
// moments, so without the lock they would overlap nearly every time.
func checkOneRunnerAtATime(t *testing.T, a, b domain.Locker) {
	var active, overlaps, runs atomic.Int32
	job := jobs.Job{
		Name: "exclusive", Every: 20 * time.Millisecond, Timeout: 5 * time.Second,
		Run: func(ctx context.Context) error {
			if active.Add(1) > 1 {
				overlaps.Add(1)
			}
			defer active.Add(-1)
			runs.Add(1)
			time.Sleep(15 * time.Millisecond)
			return nil
		},
	}
	first := newScheduler(t, a, nil, job)
	second := newScheduler(t, b, nil, job)
	first.Start()
	second.Start()
	waitFor(t, "ten runs", func() bool { return runs.Load() >= 10 })
	for _, s := range []*jobs.Scheduler{first, second} {
		if err := s.Shutdown(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if n := overlaps.Load(); n != 0 {
		t.Errorf("%d of %d runs overlapped another", n, runs.Load())
	}
}

func TestTwoSchedulersSharingAMemoryLockerNeverOverlap(t *testing.T) {
	shared := memory.NewSharedState()
	checkOneRunnerAtATime(t, shared, shared)
}

// Two Redis clients stand for two replicas. REDIS_URL selects a real server;
// otherwise an in-process miniredis stands in.
func TestTwoSchedulersSharingRedisNeverOverlap(t *testing.T) {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		m := miniredis.RunT(t)
		m.ClockTTL(true) // expire keys on the wall clock, like a server
		url = "redis://" + m.Addr()
	} else {
		t.Log("running against REDIS_URL")
	}
	prefix := "carbontest:jobs:" + rand.Text() + ":" // never meets other runs' keys
	open := func() domain.Locker {
		s, err := redis.Open(t.Context(), url, redis.WithKeyPrefix(prefix))
		if err != nil {
			t.Fatalf("redis: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	checkOneRunnerAtATime(t, open(), open())
}
