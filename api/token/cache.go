package token

import (
	"strings"
	"sync"
	"time"
)

// verifiedCache remembers tokens whose signature and claims were verified, so a
// client sending the same access token on every request costs one map lookup
// instead of an Ed25519 verification each time (about a quarter of the CPU of a
// cheap request, measured with bench-leaderboards). Only successful verifications
// are kept, under the exact token text, so a token differing in any byte is
// verified in full; the lifetime is checked on every hit with the same clock and
// leeway as a full verification, so a cached token expires exactly as it would
// uncached.
type verifiedCache struct {
	mu      sync.RWMutex
	entries map[string]verified
	max     int
}

type verified struct {
	principal Principal
	notBefore time.Time // iat, nbf and the leeway folded in: accepted from here ...
	expires   time.Time // ... until here
}

// verifiedCacheSize bounds the cache: tokens live 15 minutes, so this covers a
// busy replica's active clients; beyond it, entries are dropped at random.
const verifiedCacheSize = 100_000

func newVerifiedCache(max int) *verifiedCache {
	return &verifiedCache{entries: make(map[string]verified), max: max}
}

func (c *verifiedCache) get(raw string, now time.Time) (Principal, bool) {
	c.mu.RLock()
	v, ok := c.entries[raw]
	c.mu.RUnlock()
	if !ok || now.Before(v.notBefore) || !now.Before(v.expires) {
		return Principal{}, false
	}
	return v.principal, true
}

func (c *verifiedCache) put(raw string, v verified, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		// Expired entries go first; if that frees too little, an arbitrary tenth
		// (Go's map order is randomised) makes room for a while.
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.max*9/10 {
				break
			}
			delete(c.entries, k)
		}
	}
	// raw may live in a buffer the HTTP server reuses for the next request.
	c.entries[strings.Clone(raw)] = v
}
