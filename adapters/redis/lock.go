package redis

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

const nsLock = "lock"

// releaseScript deletes the lock only if it still holds this holder's token. A plain
// DEL would let a holder whose lease ran out delete the next holder's lock.
//
// KEYS[1] = lock, ARGV[1] = owner token.
var releaseScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

type lock struct {
	s     *SharedState
	key   string
	token string
}

// TryLock is one SET NX PX with a random owner token, so taking a lock and starting
// its lease are atomic and the lease runs out even if this process dies.
func (s *SharedState) TryLock(ctx context.Context, key string, ttl time.Duration) (domain.Lock, bool, error) {
	if err := checkTTL("try lock", ttl); err != nil {
		return nil, false, err
	}
	// A random token identifies this holder across processes and restarts.
	token := rand.Text()
	k := s.key(nsLock, key)
	ok, err := s.client.SetNX(ctx, k, token, roundUpToMs(ttl)).Result()
	if err != nil {
		return nil, false, fmt.Errorf("redis: try lock: %w", err)
	}
	if !ok {
		return nil, false, nil // an untyped nil, so callers' lock != nil checks hold
	}
	return &lock{s: s, key: k, token: token}, true, nil
}

func (l *lock) Release(ctx context.Context) error {
	if err := releaseScript.Run(ctx, l.s.client, []string{l.key}, l.token).Err(); err != nil {
		return fmt.Errorf("redis: release lock: %w", err)
	}
	return nil
}
