package jobs

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/redis"
)

// A replica whose timer fires after another replica's run has already finished
// must not run the job again in the same period; a RunOnce by hand still may.
func TestSlotLockSkipsASecondRunInOnePeriod(t *testing.T) {
	m := miniredis.RunT(t)
	m.ClockTTL(true)
	locker, err := redis.Open(t.Context(), "redis://"+m.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = locker.Close() })
	s, err := New(Options{Locker: locker, Logger: slog.New(slog.DiscardHandler)},
		Job{Name: "hourly", Every: time.Hour, Run: func(context.Context) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	l := s.lockers["hourly"]

	ctx, cancel := context.WithCancel(t.Context())
	lock, err := l.Lock(ctx, "hourly")
	if err != nil {
		t.Fatalf("first Lock: %v", err)
	}
	if _, err := l.Lock(t.Context(), "hourly"); !errors.Is(err, errSkipped) {
		t.Errorf("Lock while running = %v, want errSkipped", err)
	}
	// gocron unlocks with the job's context, which shutdown has cancelled.
	cancel()
	if err := lock.Unlock(ctx); err != nil {
		t.Fatalf("Unlock with a cancelled context: %v", err)
	}
	if _, err := l.Lock(t.Context(), "hourly"); !errors.Is(err, errSkipped) {
		t.Errorf("Lock later in the same period = %v, want errSkipped", err)
	}
	if err := s.RunOnce(t.Context(), "hourly"); err != nil {
		t.Errorf("RunOnce in the same period: %v (the run lock was not released?)", err)
	}
}
