package redis

import (
	"context"
	"errors"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

const nsValue = "kv"

func (s *SharedState) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := s.client.Get(ctx, s.key(nsValue, key)).Bytes()
	if errors.Is(err, goredis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redis: get: %w", err)
	}
	return v, true, nil
}

func (s *SharedState) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := checkTTL("set", ttl); err != nil {
		return err
	}
	if err := s.client.Set(ctx, s.key(nsValue, key), value, roundUpToMs(ttl)).Err(); err != nil {
		return fmt.Errorf("redis: set: %w", err)
	}
	return nil
}

// SetIfAbsent is one SET NX PX, so the check and the write are atomic.
func (s *SharedState) SetIfAbsent(ctx context.Context, key string, value []byte, ttl time.Duration) (bool, error) {
	if err := checkTTL("set if absent", ttl); err != nil {
		return false, err
	}
	ok, err := s.client.SetNX(ctx, s.key(nsValue, key), value, roundUpToMs(ttl)).Result()
	if err != nil {
		return false, fmt.Errorf("redis: set if absent: %w", err)
	}
	return ok, nil
}

func (s *SharedState) Delete(ctx context.Context, key string) error {
	if err := s.client.Del(ctx, s.key(nsValue, key)).Err(); err != nil {
		return fmt.Errorf("redis: delete: %w", err)
	}
	return nil
}
