// Package sharedstatetest is the contract every domain.SharedState adapter must meet.
// Each adapter's tests call Run, so the in-process and Redis implementations are held
// to exactly the same rules.
//
// Every subtest uses keys unique to itself and runs in parallel, so the suite can run
// against one shared real Redis from several packages or machines at once. Keys are
// always written with a bounded ttl, so nothing the suite writes outlives it by long.
package sharedstatetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// longTTL is for values that must not expire during a subtest, yet still vanish soon
// after the run so a shared Redis is not littered.
const longTTL = time.Minute

// expiryTimeout bounds how long the suite waits for something to expire; generous,
// because a loaded CI machine running -race can stall for a long time.
const expiryTimeout = 10 * time.Second

// earlyTolerance is how much sooner than its ttl a key may vanish: Redis keeps expiry
// times in whole milliseconds, so a key can go up to about 1ms before the exact ttl.
const earlyTolerance = 5 * time.Millisecond

// Run runs the SharedState contract against the adapter that open returns. open must
// return a fresh, working SharedState; the suite closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) domain.SharedState) {
	t.Run("KeyValue", func(t *testing.T) { runKeyValue(t, open) })
	t.Run("RateLimiter", func(t *testing.T) { runRateLimiter(t, open) })
	t.Run("Locker", func(t *testing.T) { runLocker(t, open) })
	t.Run("Lifecycle", func(t *testing.T) { runLifecycle(t, open) })
}

// rule runs one rule as a parallel subtest with its own SharedState.
func rule(t *testing.T, name string, open func(t *testing.T) domain.SharedState, body func(t *testing.T, s domain.SharedState)) {
	t.Run(name, func(t *testing.T) {
		t.Parallel()
		s := open(t)
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		body(t, s)
	})
}

// key returns a key unique to this test and this run, so parallel runs against one
// shared backend never see each other's data.
func key(t *testing.T, suffix string) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatalf("random key: %v", err)
	}
	return "sstest:" + t.Name() + ":" + hex.EncodeToString(b[:]) + ":" + suffix
}

func ctx(t *testing.T) context.Context { return t.Context() }

// eventually polls cond until it holds or timeout passes, and returns when it first
// held, measured from start.
func eventually(t *testing.T, start time.Time, timeout time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %v", what, timeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// noErr fails the test at once on an unexpected error.
func noErr(t *testing.T, err error, op string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", op, err)
	}
}

func runLifecycle(t *testing.T, open func(t *testing.T) domain.SharedState) {
	rule(t, "Ping succeeds on an open backend", open, func(t *testing.T, s domain.SharedState) {
		noErr(t, s.Ping(ctx(t)), "Ping")
	})
	t.Run("Ping fails after Close", func(t *testing.T) {
		t.Parallel()
		s := open(t) // closed here, not by rule's cleanup: Close is called exactly once
		noErr(t, s.Close(), "Close")
		if err := s.Ping(ctx(t)); err == nil {
			t.Fatal("Ping after Close returned nil; callers rely on it to detect a dead backend")
		}
	})
	rule(t, "keys of KeyValue, RateLimiter and Locker do not collide", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "shared-name")
		noErr(t, s.Set(ctx(t), k, []byte("not a counter"), longTTL), "Set")
		d, err := s.Allow(ctx(t), k, 5, longTTL)
		noErr(t, err, "Allow on a name also used as a value")
		if !d.Allowed || d.Remaining != 4 {
			t.Fatalf("Allow on a fresh counter name = %+v, want allowed with 4 remaining", d)
		}
		lock, ok, err := s.TryLock(ctx(t), k, longTTL)
		noErr(t, err, "TryLock on a name also used as a value")
		if !ok {
			t.Fatal("TryLock failed because a value of the same name exists")
		}
		noErr(t, lock.Release(ctx(t)), "Release")
		v, found, err := s.Get(ctx(t), k)
		noErr(t, err, "Get")
		if !found || string(v) != "not a counter" {
			t.Fatalf("value changed by Allow/TryLock/Release: %q, %v", v, found)
		}
	})
}
