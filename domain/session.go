package domain

import (
	"context"
	"time"
)

// Session is one sign-in of a citizen or operator: the family of refresh tokens that
// descend from it. Revoking the session ends every refresh token in the family.
type Session struct {
	ID        string
	SubjectID string // citizen or operator id
	Role      Role
	CreatedAt time.Time
	RevokedAt *time.Time
}

// RefreshToken is one link in a session's chain. Only a hash of the secret is kept.
// A token is spent once; presenting a spent token again means it leaked, so the
// whole session is revoked.
type RefreshToken struct {
	Hash      string // hex SHA-256 of the secret part
	SessionID string
	IssuedAt  time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

// SessionStore keeps sessions and their refresh tokens.
type SessionStore interface {
	// CreateSession stores s together with its first refresh token.
	CreateSession(ctx context.Context, s Session, first RefreshToken) error
	// GetSession returns ErrNotFound if there is none.
	GetSession(ctx context.Context, id string) (Session, error)
	// RevokeSession marks the session revoked at `at` (a no-op if already revoked).
	// Returns ErrNotFound if there is none.
	RevokeSession(ctx context.Context, id string, at time.Time) error
	// RevokeSubjectSessions revokes every session of the subject.
	RevokeSubjectSessions(ctx context.Context, subjectID string, at time.Time) error
	// GetRefreshToken returns ErrNotFound if no token has this hash.
	GetRefreshToken(ctx context.Context, hash string) (RefreshToken, error)
	// SpendRefreshToken marks the token used at `at` only if it is unused, atomically.
	// Returns ErrConflict if it was already used, ErrNotFound if unknown. Of racing
	// calls for one token exactly one succeeds.
	SpendRefreshToken(ctx context.Context, hash string, at time.Time) error
	// AddRefreshToken stores the next token of an existing session.
	AddRefreshToken(ctx context.Context, t RefreshToken) error
	// PruneSessions deletes refresh tokens that expired before `before`, and sessions
	// that were revoked before `before` or whose every token expired before it,
	// together with whatever tokens those sessions still have. Returns how many
	// refresh tokens and sessions it deleted. Idempotent; safe to run concurrently
	// with sign-ins: a session that is not revoked and has a token expiring at or
	// after `before` is never deleted. Callers pass now minus a retention period, so
	// a recently expired or spent token still gets its precise answer (expired,
	// reused, revoked) rather than "unknown".
	PruneSessions(ctx context.Context, before time.Time) (tokens, sessions int, err error)
}
