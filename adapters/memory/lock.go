package memory

import (
	"context"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// lease records who holds a lock: the owner token lets Release tell the current
// holder from a stale one whose lease already ran out.
type lease struct {
	owner   uint64
	expires time.Time
}

type lock struct {
	s     *SharedState
	key   string
	owner uint64
}

func (s *SharedState) TryLock(_ context.Context, key string, ttl time.Duration) (domain.Lock, bool, error) {
	if err := checkTTL("try lock", ttl); err != nil {
		return nil, false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if l, ok := s.leases[key]; ok && !expired(l.expires, now) {
		return nil, false, nil
	}
	s.nextID++
	s.leases[key] = lease{owner: s.nextID, expires: now.Add(ttl)}
	return &lock{s: s, key: key, owner: s.nextID}, true, nil
}

// Release deletes the lease only if this holder still owns it.
func (l *lock) Release(context.Context) error {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	if cur, ok := l.s.leases[l.key]; ok && cur.owner == l.owner {
		delete(l.s.leases, l.key)
	}
	return nil
}
