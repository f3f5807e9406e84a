package sharedstatetest

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func runRateLimiter(t *testing.T, open func(t *testing.T) domain.SharedState) {
	rule(t, "exactly limit of 50 concurrent attempts are allowed", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "race")
		const n, limit = 50, 10
		decisions := make([]domain.RateDecision, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				decisions[i], errs[i] = s.Allow(ctx(t), k, limit, longTTL)
			})
		}
		close(start)
		wg.Wait()
		var remaining []int
		for i, d := range decisions {
			noErr(t, errs[i], "Allow")
			if d.Allowed {
				remaining = append(remaining, d.Remaining)
				continue
			}
			checkRefused(t, d, longTTL)
		}
		if len(remaining) != limit {
			t.Fatalf("%d of %d attempts allowed, want exactly %d", len(remaining), n, limit)
		}
		// Each allowed attempt saw its own count, so Remaining covers 0..limit-1 once.
		slices.Sort(remaining)
		for i, r := range remaining {
			if r != i {
				t.Fatalf("Remaining of allowed attempts = %v, want each of 0..%d once", remaining, limit-1)
			}
		}
	})

	rule(t, "Remaining counts down and refusals say when to retry", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "k")
		const limit = 5
		for want := limit - 1; want >= 0; want-- {
			d := mustAllow(t, s, k, limit, longTTL)
			if !d.Allowed || d.Remaining != want {
				t.Fatalf("Allow = %+v, want allowed with Remaining %d", d, want)
			}
		}
		for range 3 {
			checkRefused(t, mustAllow(t, s, k, limit, longTTL), longTTL)
		}
	})

	rule(t, "different keys are counted independently", open, func(t *testing.T, s domain.SharedState) {
		a, b := key(t, "a"), key(t, "b")
		mustAllow(t, s, a, 1, longTTL)
		checkRefused(t, mustAllow(t, s, a, 1, longTTL), longTTL)
		if d := mustAllow(t, s, b, 1, longTTL); !d.Allowed || d.Remaining != 0 {
			t.Fatalf("first attempt on another key = %+v, want allowed with Remaining 0", d)
		}
	})

	rule(t, "the window resets after it passes", open, func(t *testing.T, s domain.SharedState) {
		const limit, window = 2, 300 * time.Millisecond
		k, refused := exhaustWithinWindow(t, s, limit, window)
		// RetryAfter is the promise: after it, the next attempt opens a fresh window.
		time.Sleep(refused.RetryAfter + 20*time.Millisecond)
		start := time.Now()
		var d domain.RateDecision
		eventually(t, start, expiryTimeout, "window reset", func() bool {
			d = mustAllow(t, s, k, limit, window)
			return d.Allowed
		})
		if d.Remaining != limit-1 {
			t.Fatalf("first attempt of a fresh window = %+v, want Remaining %d", d, limit-1)
		}
	})

	rule(t, "non-positive limit or window is rejected", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "k")
		if _, err := s.Allow(ctx(t), k, 5, 0); err == nil {
			t.Error("Allow with window 0: no error; a counter must never live forever")
		}
		if _, err := s.Allow(ctx(t), k, 0, time.Minute); err == nil {
			t.Error("Allow with limit 0: no error")
		}
	})
}

// exhaustWithinWindow uses up a fresh key's limit and returns the first refusal. The
// rule can only be judged if all attempts fell into one window, so on a machine too
// slow for that it retries with a new key instead of failing.
func exhaustWithinWindow(t *testing.T, s domain.SharedState, limit int, window time.Duration) (string, domain.RateDecision) {
	t.Helper()
	for range 5 {
		k := key(t, "k")
		start := time.Now()
		for range limit {
			mustAllow(t, s, k, limit, window)
		}
		d := mustAllow(t, s, k, limit, window)
		if time.Since(start) >= window {
			t.Logf("attempts took %v, longer than the %v window; retrying", time.Since(start), window)
			continue
		}
		checkRefused(t, d, window)
		return k, d
	}
	t.Fatalf("could not make %d attempts within %v", limit+1, window)
	return "", domain.RateDecision{}
}

func mustAllow(t *testing.T, s domain.SharedState, k string, limit int, window time.Duration) domain.RateDecision {
	t.Helper()
	d, err := s.Allow(ctx(t), k, limit, window)
	noErr(t, err, "Allow")
	return d
}

func checkRefused(t *testing.T, d domain.RateDecision, window time.Duration) {
	t.Helper()
	if d.Allowed {
		t.Fatalf("attempt over the limit was allowed: %+v", d)
	}
	if d.Remaining != 0 {
		t.Fatalf("refused attempt has Remaining %d, want 0", d.Remaining)
	}
	if d.RetryAfter <= 0 || d.RetryAfter > window {
		t.Fatalf("refused attempt has RetryAfter %v, want in (0, %v]", d.RetryAfter, window)
	}
}
