package domain

import (
	"context"
	"time"
)

// KeyValue holds short-lived shared values (Redis in production, in-process in the
// embedded mode). Nothing in it may be the only copy of business data.
type KeyValue interface {
	// Get returns the value and true, or nil and false if the key is absent or expired.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Set stores value under key for ttl (ttl must be > 0).
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// SetIfAbsent stores value only if key is absent; it reports whether it stored.
	SetIfAbsent(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error)
	// Delete removes key; deleting an absent key is not an error.
	Delete(ctx context.Context, key string) error
	// Ping reports whether the backing service is reachable.
	Ping(ctx context.Context) error
}

// RateDecision is the outcome of one RateLimiter.Allow call.
type RateDecision struct {
	Allowed    bool
	Remaining  int           // attempts left in the current window
	RetryAfter time.Duration // when not allowed: how long until the window resets
}

// RateLimiter counts attempts in fixed windows.
type RateLimiter interface {
	// Allow counts one attempt under key and reports whether it is within limit
	// attempts per window. Counting is atomic across processes sharing the backend.
	Allow(ctx context.Context, key string, limit int, window time.Duration) (RateDecision, error)
}

// Lock is a held lease on a name.
type Lock interface {
	// Release gives the lock up if this holder still owns it; releasing a lock that
	// expired or was taken over by another holder does nothing.
	Release(ctx context.Context) error
}

// Locker hands out leases that expire on their own, so a crashed holder cannot block
// others for longer than the lease.
type Locker interface {
	// TryLock takes the lock named key for ttl; ok is false if someone else holds it.
	TryLock(ctx context.Context, key string, ttl time.Duration) (lock Lock, ok bool, err error)
}

// SharedState is the whole port a Redis-like backend implements.
type SharedState interface {
	KeyValue
	RateLimiter
	Locker
	Close() error
}
