// Package memory implements domain.SharedState inside the process, for the embedded
// default mode where no Redis is installed. It keeps the same semantics as the Redis
// adapter (held to the same contract suite) but is only shared within one process.
package memory

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

var _ domain.SharedState = (*SharedState)(nil)

// errClosed is returned by Ping after Close, so health checks see a dead backend.
var errClosed = errors.New("memory: shared state is closed")

// DefaultSweepInterval is how often expired entries are dropped when nobody reads
// them again; rate-limit keys (one per client IP, say) are rarely read twice.
const DefaultSweepInterval = time.Minute

// SharedState is a mutex-protected set of maps with expiry times. KeyValue, RateLimiter
// and Locker each have their own map, so the same name used by two of them never
// collides (the Redis adapter gives them separate key namespaces for the same reason).
type SharedState struct {
	now           func() time.Time
	sweepInterval time.Duration

	mu       sync.Mutex
	values   map[string]value
	counters map[string]counter
	leases   map[string]lease
	nextID   uint64 // lock owner tokens; unique for the life of the process

	stop      chan struct{}
	sweeping  sync.WaitGroup
	closeOnce sync.Once
	closed    bool // guarded by mu
}

// Option configures a SharedState.
type Option func(*SharedState)

// WithClock replaces time.Now, so tests can move time without sleeping.
func WithClock(now func() time.Time) Option {
	return func(s *SharedState) { s.now = now }
}

// WithSweepInterval sets how often the background sweeper drops expired entries;
// zero or negative disables the sweeper (entries are then only dropped on access).
func WithSweepInterval(d time.Duration) Option {
	return func(s *SharedState) { s.sweepInterval = d }
}

// NewSharedState returns an empty SharedState and starts its sweeper; call Close to
// stop it.
func NewSharedState(opts ...Option) *SharedState {
	s := &SharedState{
		now:           time.Now,
		sweepInterval: DefaultSweepInterval,
		values:        make(map[string]value),
		counters:      make(map[string]counter),
		leases:        make(map[string]lease),
		stop:          make(chan struct{}),
	}
	for _, opt := range opts {
		opt(s)
	}
	if s.sweepInterval > 0 {
		s.sweeping.Add(1)
		go s.sweepEvery(s.sweepInterval)
	}
	return s
}

// Ping reports an error only once the state is closed: there is nothing to reach.
func (s *SharedState) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory: ping: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errClosed
	}
	return nil
}

// Close stops the sweeper and waits for it to exit. The maps stay usable so a late
// caller during shutdown does not crash; only Ping reports the state as closed.
func (s *SharedState) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.stop)
		s.sweeping.Wait()
	})
	return nil
}

func (s *SharedState) sweepEvery(interval time.Duration) {
	defer s.sweeping.Done()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-tick.C:
			s.sweep()
		}
	}
}

// sweep drops every expired entry. It holds the lock for one pass over the maps,
// which is fine at the sizes the embedded mode serves.
func (s *SharedState) sweep() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for k, v := range s.values {
		if expired(v.expires, now) {
			delete(s.values, k)
		}
	}
	for k, c := range s.counters {
		if expired(c.expires, now) {
			delete(s.counters, k)
		}
	}
	for k, l := range s.leases {
		if expired(l.expires, now) {
			delete(s.leases, k)
		}
	}
}

// expired uses the same rule everywhere: an entry is gone at its expiry instant.
func expired(expires, now time.Time) bool { return !now.Before(expires) }

// checkTTL rejects durations that would make an entry live forever or never exist.
func checkTTL(op string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("memory: %s: ttl must be positive, got %v", op, ttl)
	}
	return nil
}
