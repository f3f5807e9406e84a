package redis

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/sharedstatetest"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// backendURL returns REDIS_URL when set, so the same tests prove the adapter against a
// real server; otherwise it starts an in-process miniredis for this test.
func backendURL(t *testing.T) string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	m := miniredis.RunT(t)
	// miniredis only expires keys on FastForward by default; ClockTTL makes TTLs run
	// on the wall clock like a real server, so the suite's expiry rules mean the same
	// thing here and need not be skipped.
	m.ClockTTL(true)
	return "redis://" + m.Addr()
}

// openTest opens the adapter under a random prefix, so runs sharing a real Redis (and
// a real deployment using that Redis) never see each other's keys.
func openTest(t *testing.T) (*SharedState, string) {
	t.Helper()
	prefix := "carbontest:" + rand.Text() + ":"
	s, err := Open(t.Context(), backendURL(t), WithKeyPrefix(prefix))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, prefix
}

func TestSharedStateContract(t *testing.T) {
	if os.Getenv("REDIS_URL") != "" {
		t.Log("running against REDIS_URL")
	} else {
		t.Log("REDIS_URL not set: running against in-process miniredis")
	}
	sharedstatetest.Run(t, func(t *testing.T) domain.SharedState {
		s, _ := openTest(t)
		return s
	})
}

// rawClient talks to the same server without the adapter, to check what it stores.
func rawClient(t *testing.T, s *SharedState) *goredis.Client {
	c := goredis.NewClient(s.client.Options())
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestEveryKeyIsPrefixedAndExpires(t *testing.T) {
	s, prefix := openTest(t)
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	raw := rawClient(t, s)

	if err := s.Set(ctx, "v", []byte("x"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Allow(ctx, "r", 3, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.TryLock(ctx, "l", time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{prefix + "kv:v", prefix + "rate:r", prefix + "lock:l"} {
		ttl, err := raw.PTTL(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		if ttl <= 0 || ttl > time.Minute {
			t.Errorf("PTTL(%q) = %v, want the key to exist with a ttl of at most 1m", k, ttl)
		}
	}
}

func TestCounterWithoutExpiryGetsOne(t *testing.T) {
	s, prefix := openTest(t)
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	raw := rawClient(t, s)
	k := prefix + "rate:k"
	t.Cleanup(func() { raw.Del(context.Background(), k) })

	// A counter left without an expiry (say, by a manual PERSIST) would block for ever.
	if err := raw.Set(ctx, k, "7", 0).Err(); err != nil {
		t.Fatal(err)
	}
	d, err := s.Allow(ctx, "k", 5, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if d.Allowed || d.RetryAfter <= 0 || d.RetryAfter > time.Minute {
		t.Fatalf("Allow over a stale counter = %+v, want refused with RetryAfter in (0, 1m]", d)
	}
	if ttl := raw.PTTL(ctx, k).Val(); ttl <= 0 {
		t.Fatalf("counter still has no expiry: PTTL = %v", ttl)
	}
}

func TestOpenFailsFast(t *testing.T) {
	ctx := t.Context()
	for name, u := range map[string]string{
		"bad url":     "redis://:s3cret@host:abc/0",
		"bad scheme":  "http://:s3cret@127.0.0.1:6379",
		"unreachable": "redis://:s3cret@127.0.0.1:1/0?dial_timeout=200ms&max_retries=-1",
	} {
		t.Run(name, func(t *testing.T) {
			s, err := Open(ctx, u)
			if err == nil {
				_ = s.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.HasPrefix(err.Error(), "redis: ") {
				t.Errorf("error %q is not marked as coming from redis", err)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error %q leaks the password", err)
			}
		})
	}
}

func TestCloseIsIdempotent(t *testing.T) {
	s, _ := openTest(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}
