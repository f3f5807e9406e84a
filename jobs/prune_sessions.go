package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// PruneSessionsName is the name of the PruneSessions job, for `run-job`.
const PruneSessionsName = "prune-sessions"

// PruneSessionsRetention is how long an expired refresh token or a revoked
// session is kept. Until then, presenting the token still gets the precise
// answer (expired, reused, session ended) rather than "unknown", and support
// can see what happened to a sign-in.
const PruneSessionsRetention = 7 * 24 * time.Hour

// PruneSessions returns the hourly job that deletes refresh tokens and sessions
// that ended more than PruneSessionsRetention ago; without it they accumulate
// forever. It is idempotent: a run that stops halfway is finished by the next.
func PruneSessions(sessions domain.SessionStore, now func() time.Time) Job {
	return Job{
		Name:    PruneSessionsName,
		Every:   time.Hour,
		Timeout: 10 * time.Minute,
		Run: func(ctx context.Context) error {
			before := now().Add(-PruneSessionsRetention)
			tokens, n, err := sessions.PruneSessions(ctx, before)
			// Logged even on error: what was deleted before it stays deleted.
			Logger(ctx).InfoContext(ctx, "pruned sessions", "before", before, "refresh_tokens", tokens, "sessions", n)
			if err != nil {
				return fmt.Errorf("prune sessions: %w", err)
			}
			return nil
		},
	}
}
