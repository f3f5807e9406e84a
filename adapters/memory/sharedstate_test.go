package memory

import (
	"sync"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/sharedstatetest"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func TestSharedStateContract(t *testing.T) {
	sharedstatetest.Run(t, func(t *testing.T) domain.SharedState {
		// A short sweep interval so the sweeper runs (and races) during the suite.
		return NewSharedState(WithSweepInterval(10 * time.Millisecond))
	})
}

// fakeClock lets tests move time without sleeping.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func newFake(t *testing.T, opts ...Option) (*SharedState, *fakeClock) {
	clock := &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	s := NewSharedState(append([]Option{WithClock(clock.Now)}, opts...)...)
	t.Cleanup(func() { _ = s.Close() })
	return s, clock
}

func (s *SharedState) sizes() (values, counters, leases int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.values), len(s.counters), len(s.leases)
}

func TestSweeperDropsExpiredEntriesNobodyReads(t *testing.T) {
	s, clock := newFake(t, WithSweepInterval(time.Millisecond))
	ctx := t.Context()
	for _, k := range []string{"a", "b", "c"} {
		if err := s.Set(ctx, k, []byte("v"), time.Second); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Allow(ctx, k, 1, time.Second); err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.TryLock(ctx, k, time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Set(ctx, "keep", []byte("v"), time.Hour); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, c, l := s.sizes()
		if v == 1 && c == 0 && l == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after expiry: %d values, %d counters, %d leases; want 1, 0, 0", v, c, l)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestExpiredEntriesAreDroppedOnAccessWithoutSweeper(t *testing.T) {
	s, clock := newFake(t, WithSweepInterval(0))
	ctx := t.Context()
	if err := s.Set(ctx, "k", []byte("v"), time.Second); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second - time.Nanosecond)
	if _, found, _ := s.Get(ctx, "k"); !found {
		t.Fatal("value gone before its ttl")
	}
	clock.Advance(time.Nanosecond)
	if _, found, _ := s.Get(ctx, "k"); found {
		t.Fatal("value present at its expiry instant")
	}
	if v, _, _ := s.sizes(); v != 0 {
		t.Fatalf("expired value still stored after Get: %d values", v)
	}
}

func TestFixedWindowWithClock(t *testing.T) {
	s, clock := newFake(t)
	ctx := t.Context()
	allow := func() domain.RateDecision {
		t.Helper()
		d, err := s.Allow(ctx, "k", 2, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	allow()
	clock.Advance(20 * time.Second)
	if d := allow(); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("second attempt = %+v", d)
	}
	clock.Advance(10 * time.Second)
	// The window started at the first attempt, so 30s of it are left.
	if d := allow(); d.Allowed || d.RetryAfter != 30*time.Second {
		t.Fatalf("third attempt = %+v, want refused with RetryAfter 30s", d)
	}
	clock.Advance(30 * time.Second)
	if d := allow(); !d.Allowed || d.Remaining != 1 {
		t.Fatalf("first attempt of the next window = %+v", d)
	}
}

func TestLeaseExpiresWithClock(t *testing.T) {
	s, clock := newFake(t)
	ctx := t.Context()
	stale, ok, _ := s.TryLock(ctx, "k", time.Minute)
	if !ok {
		t.Fatal("first TryLock failed")
	}
	clock.Advance(time.Minute - time.Nanosecond)
	if _, ok, _ := s.TryLock(ctx, "k", time.Minute); ok {
		t.Fatal("lock taken before the lease ran out")
	}
	clock.Advance(time.Nanosecond)
	if _, ok, _ := s.TryLock(ctx, "k", time.Minute); !ok {
		t.Fatal("lock not free once the lease ran out")
	}
	if err := stale.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.TryLock(ctx, "k", time.Minute); ok {
		t.Fatal("stale Release freed the new holder's lock")
	}
}

func TestCloseStopsSweeperAndIsIdempotent(t *testing.T) {
	s := NewSharedState(WithSweepInterval(time.Millisecond))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
