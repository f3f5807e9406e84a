package redis

import (
	"context"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

const nsRate = "rate"

// countScript counts one attempt in a fixed window. It runs atomically, so the
// counter can never be left without an expiry between INCR and PEXPIRE (a crash or a
// lost connection between two separate commands would make the limit permanent). It
// sets the expiry whenever the key has none, not only when INCR returned 1, so even a
// counter that lost its expiry some other way heals on the next attempt.
//
// KEYS[1] = counter, ARGV[1] = window in ms. Returns {count, ms until the window ends}.
var countScript = goredis.NewScript(`
local count = redis.call('INCR', KEYS[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
	redis.call('PEXPIRE', KEYS[1], ARGV[1])
	ttl = tonumber(ARGV[1])
end
return {count, ttl}
`)

func (s *SharedState) Allow(ctx context.Context, key string, limit int, window time.Duration) (domain.RateDecision, error) {
	if limit <= 0 {
		return domain.RateDecision{}, fmt.Errorf("redis: allow: limit must be positive, got %d", limit)
	}
	if err := checkTTL("allow", window); err != nil {
		return domain.RateDecision{}, err
	}
	windowMs := roundUpToMs(window).Milliseconds()
	res, err := countScript.Run(ctx, s.client, []string{s.key(nsRate, key)}, windowMs).Int64Slice()
	if err != nil {
		return domain.RateDecision{}, fmt.Errorf("redis: allow: %w", err)
	}
	if len(res) != 2 {
		return domain.RateDecision{}, fmt.Errorf("redis: allow: script returned %d values, want 2", len(res))
	}
	count, ttlMs := res[0], res[1]
	if count <= int64(limit) {
		return domain.RateDecision{Allowed: true, Remaining: limit - int(count)}, nil
	}
	// PTTL is 0 in the last millisecond of a window; callers are promised RetryAfter > 0.
	retry := max(time.Duration(ttlMs)*time.Millisecond, time.Millisecond)
	return domain.RateDecision{Allowed: false, RetryAfter: retry}, nil
}
