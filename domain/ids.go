package domain

import (
	"crypto/rand"
	"encoding/base64"
	"time"

	"github.com/oklog/ulid/v2"
)

// NewID returns a new identifier: a ULID, so ids sort by creation time and can serve
// as pagination cursors.
func NewID(now time.Time) string {
	return ulid.MustNew(ulid.Timestamp(now), rand.Reader).String()
}

// RandomToken returns n random bytes encoded as unpadded base64url, for secrets
// such as refresh tokens and generated passwords.
func RandomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms.
	return base64.RawURLEncoding.EncodeToString(b)
}
