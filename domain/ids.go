package domain

import (
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/oklog/ulid/v2"
)

// Now is the current time in UTC at millisecond precision, the precision the
// stores keep, so a value reads back exactly as it was written and returned.
func Now() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }

// idEntropy makes IDs minted in the same millisecond by this process increase
// (the random part is incremented rather than redrawn), so "newest first" lists
// keep the order things happened in, even within a millisecond.
var idEntropy = &ulid.LockedMonotonicReader{MonotonicReader: ulid.Monotonic(rand.Reader, 0)}

// NewID returns a new identifier: a ULID, so ids sort by creation time and can serve
// as pagination cursors.
func NewID(now time.Time) string {
	return ulid.MustNew(ulid.Timestamp(now), idEntropy).String()
}

// RandomToken returns n random bytes encoded as unpadded base64url, for secrets
// such as refresh tokens and generated passwords.
func RandomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms.
	return base64.RawURLEncoding.EncodeToString(b)
}
