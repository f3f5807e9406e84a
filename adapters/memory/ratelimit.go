package memory

import (
	"context"
	"fmt"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// counter is one fixed window: it starts at the first attempt and ends at expires.
type counter struct {
	count   int
	expires time.Time
}

func (s *SharedState) Allow(_ context.Context, key string, limit int, window time.Duration) (domain.RateDecision, error) {
	if limit <= 0 {
		return domain.RateDecision{}, fmt.Errorf("memory: allow: limit must be positive, got %d", limit)
	}
	if err := checkTTL("allow", window); err != nil {
		return domain.RateDecision{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	c, ok := s.counters[key]
	if !ok || expired(c.expires, now) {
		c = counter{expires: now.Add(window)}
	}
	// Refused attempts are not counted past limit+1: the outcome is the same and the
	// counter cannot overflow under a flood.
	if c.count <= limit {
		c.count++
	}
	s.counters[key] = c
	if c.count > limit {
		return domain.RateDecision{Allowed: false, RetryAfter: c.expires.Sub(now)}, nil
	}
	return domain.RateDecision{Allowed: true, Remaining: limit - c.count}, nil
}
