package token

import (
	"fmt"
	"strings"
	"testing"
	"time"
	"unsafe"
)

// A token verified once is served from the cache afterwards; these check that the
// cache changes nothing about which tokens are accepted.

func TestCachedTokensStillExpireOnTime(t *testing.T) {
	now := epoch
	a := NewAuthority(newKey(t), nil, "iss", "aud", 15*time.Minute, func() time.Time { return now })
	raw, err := a.Mint(citizen)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range []struct {
		at     time.Time
		accept bool
	}{
		{epoch, true}, // verified in full, then cached
		{epoch.Add(15*time.Minute + clockSkew - time.Millisecond), true},
		{epoch.Add(15*time.Minute + clockSkew), false},
		{epoch.Add(-clockSkew), true},
		{epoch.Add(-clockSkew - time.Millisecond), false}, // before iat, less the leeway
	} {
		now = step.at
		_, err := a.Verify(raw)
		if (err == nil) != step.accept {
			t.Errorf("at %s: error %v, want accepted %v", step.at.Sub(epoch), err, step.accept)
		}
	}
}

func TestCachingAVerifiedTokenAcceptsNoOtherToken(t *testing.T) {
	a := NewAuthority(newKey(t), nil, "iss", "aud", 15*time.Minute, fixedClock(epoch))
	raw, err := a.Mint(citizen)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Verify(raw); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(raw, ".")
	sig := []byte(parts[2])
	sig[0] ^= 1
	for name, other := range map[string]string{
		"another signature": parts[0] + "." + parts[1] + "." + string(sig),
		"a prefix":          raw[:len(raw)-1],
		"with a space":      raw + " ",
	} {
		if _, err := a.Verify(other); err == nil {
			t.Errorf("%s: accepted after the real token was cached", name)
		}
	}
	// The raw text may sit in a buffer the HTTP server reuses: the cache keeps its own copy.
	buf := []byte(raw)
	b := NewAuthority(newKey(t), nil, "iss", "aud", 15*time.Minute, fixedClock(epoch))
	tok, _ := b.Mint(citizen)
	buf = append(buf[:0], tok...)
	// As fasthttp hands out header values: a string over the request buffer.
	if _, err := b.Verify(unsafe.String(&buf[0], len(buf))); err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = 'x'
	}
	if _, ok := b.cache.get(tok, epoch); !ok {
		t.Fatal("the cached copy changed with the caller's buffer")
	}
}

func TestVerifiedCacheStaysBounded(t *testing.T) {
	c := newVerifiedCache(100)
	for i := range 1000 {
		c.put(fmt.Sprint("token-", i), verified{expires: epoch.Add(time.Hour)}, epoch)
		if len(c.entries) > 100 {
			t.Fatalf("%d entries after %d puts; want at most 100", len(c.entries), i+1)
		}
	}
	if _, ok := c.get("token-999", epoch); !ok {
		t.Fatal("the newest entry is missing")
	}
}
