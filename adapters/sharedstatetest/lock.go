package sharedstatetest

import (
	"sync"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func runLocker(t *testing.T, open func(t *testing.T) domain.SharedState) {
	rule(t, "a held lock cannot be taken until released", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "lock")
		first := mustLock(t, s, k, longTTL)
		mustNotLock(t, s, k)
		noErr(t, first.Release(ctx(t)), "Release")
		second := mustLock(t, s, k, longTTL)
		noErr(t, second.Release(ctx(t)), "Release")
	})

	rule(t, "releasing twice is harmless", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "lock")
		l := mustLock(t, s, k, longTTL)
		noErr(t, l.Release(ctx(t)), "Release")
		noErr(t, l.Release(ctx(t)), "second Release")
		again := mustLock(t, s, k, longTTL)
		noErr(t, l.Release(ctx(t)), "Release of a lock that is held by someone else")
		mustNotLock(t, s, k)
		noErr(t, again.Release(ctx(t)), "Release")
	})

	rule(t, "different names are locked independently", open, func(t *testing.T, s domain.SharedState) {
		mustLock(t, s, key(t, "a"), longTTL)
		mustLock(t, s, key(t, "b"), longTTL)
	})

	rule(t, "a lease expires on its own", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "lock")
		const ttl = 150 * time.Millisecond
		start := time.Now()
		mustLock(t, s, k, ttl)
		_, ok, err := s.TryLock(ctx(t), k, longTTL)
		noErr(t, err, "TryLock")
		if ok && time.Since(start) < ttl-earlyTolerance {
			t.Fatal("second TryLock succeeded while the first lease was still running")
		}
		taken := eventually(t, start, expiryTimeout, "lease expiry", func() bool {
			if ok {
				return true
			}
			_, ok, err = s.TryLock(ctx(t), k, longTTL)
			noErr(t, err, "TryLock")
			return ok
		})
		if taken < ttl-earlyTolerance {
			t.Fatalf("lock taken over after %v, before the %v lease ran out", taken, ttl)
		}
	})

	rule(t, "a stale holder's Release does not free the new holder's lock", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "lock")
		stale := mustLock(t, s, k, 50*time.Millisecond)
		var current domain.Lock
		eventually(t, time.Now(), expiryTimeout, "lease expiry", func() bool {
			l, ok, err := s.TryLock(ctx(t), k, longTTL)
			noErr(t, err, "TryLock")
			current = l
			return ok
		})
		noErr(t, stale.Release(ctx(t)), "stale Release")
		mustNotLock(t, s, k)
		noErr(t, current.Release(ctx(t)), "Release")
		mustLock(t, s, k, longTTL)
	})

	rule(t, "exactly one of 20 racing TryLock wins", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "race")
		const n = 20
		oks := make([]bool, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				_, oks[i], errs[i] = s.TryLock(ctx(t), k, longTTL)
			})
		}
		close(start)
		wg.Wait()
		won := 0
		for i := range n {
			noErr(t, errs[i], "TryLock")
			if oks[i] {
				won++
			}
		}
		if won != 1 {
			t.Fatalf("%d of %d racing TryLock succeeded, want exactly 1", won, n)
		}
	})

	rule(t, "non-positive ttl is rejected", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "lock")
		if _, ok, err := s.TryLock(ctx(t), k, 0); err == nil || ok {
			t.Fatalf("TryLock with ttl 0 = %v, %v; want an error: a lease must expire", ok, err)
		}
		mustLock(t, s, k, longTTL)
	})
}

func mustLock(t *testing.T, s domain.SharedState, k string, ttl time.Duration) domain.Lock {
	t.Helper()
	l, ok, err := s.TryLock(ctx(t), k, ttl)
	noErr(t, err, "TryLock")
	if !ok || l == nil {
		t.Fatalf("TryLock(%q) = %v, %v; want a held lock", k, l, ok)
	}
	return l
}

func mustNotLock(t *testing.T, s domain.SharedState, k string) {
	t.Helper()
	l, ok, err := s.TryLock(ctx(t), k, longTTL)
	noErr(t, err, "TryLock")
	if ok {
		t.Fatalf("TryLock(%q) succeeded while another holder has it", k)
	}
	if l != nil {
		t.Fatalf("failed TryLock(%q) returned a non-nil lock", k)
	}
}
