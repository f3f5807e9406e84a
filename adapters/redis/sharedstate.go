// Package redis implements domain.SharedState on Redis (go-redis v9) for production,
// where several replicas must share rate limits and locks. It uses only long-standing
// commands (GET, SET PX NX, DEL, and INCR/PTTL/PEXPIRE inside Lua scripts), so any
// Redis from the last decade works, including 7.0.
package redis

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

var _ domain.SharedState = (*SharedState)(nil)

// SharedState is a domain.SharedState backed by one Redis client.
//
// Keys are laid out as <prefix><namespace>:<key>, with namespaces kv, rate and lock,
// so a value, a rate counter and a lock of the same name never collide (INCR on a
// stored value would fail with "not an integer", and a lock would be refused because
// a value exists). The prefix lets several deployments share one Redis.
type SharedState struct {
	client    *goredis.Client
	prefix    string
	closeOnce sync.Once
	closeErr  error
}

// Option configures Open.
type Option func(*SharedState)

// WithKeyPrefix puts prefix (for example "carbon:") in front of every key, so several
// deployments or test runs can share one Redis without seeing each other's keys.
func WithKeyPrefix(prefix string) Option {
	return func(s *SharedState) { s.prefix = prefix }
}

// Open connects to the redis:// or rediss:// URL and pings the server, so a wrong
// REDIS_URL fails at start rather than on the first request.
func Open(ctx context.Context, rawURL string, opts ...Option) (*SharedState, error) {
	o, err := goredis.ParseURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redis: parse url: %w", withoutURL(err))
	}
	s := &SharedState{client: goredis.NewClient(o)}
	for _, opt := range opts {
		opt(s)
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.client.Close()
		return nil, err
	}
	return s, nil
}

// withoutURL drops the URL that net/url puts in its parse errors: it may hold the
// Redis password, and these errors end up in logs.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}

func (s *SharedState) Ping(ctx context.Context) error {
	if err := s.client.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis: ping: %w", err)
	}
	return nil
}

// Close closes the client; calling it again returns the first result, so shutdown
// code does not have to track whether it already ran.
func (s *SharedState) Close() error {
	s.closeOnce.Do(func() {
		if err := s.client.Close(); err != nil {
			s.closeErr = fmt.Errorf("redis: close: %w", err)
		}
	})
	return s.closeErr
}

func (s *SharedState) key(namespace, key string) string {
	return s.prefix + namespace + ":" + key
}

// checkTTL rejects durations that would make a key live forever (Redis treats a
// missing expiry as "never") or be refused by the server.
func checkTTL(op string, ttl time.Duration) error {
	if ttl <= 0 {
		return fmt.Errorf("redis: %s: ttl must be positive, got %v", op, ttl)
	}
	return nil
}

// roundUpToMs rounds up to Redis's millisecond resolution, so a key never expires
// before the ttl the caller asked for (and a sub-millisecond ttl is not sent as 0).
func roundUpToMs(d time.Duration) time.Duration {
	return (d + time.Millisecond - 1) / time.Millisecond * time.Millisecond
}
