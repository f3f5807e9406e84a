package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// defaultPruneBatch bounds how many rows one prune transaction deletes
// (Store.pruneBatch; tests lower it). Every write in this process queues behind
// the single writer connection, so long transactions would stall sign-ins; small
// ones let them interleave.
const defaultPruneBatch = 500

// endedSessions selects sessions that ended before ?1: revoked, or with every
// token expired. Both terms are served by an index (a multi-index OR).
const endedSessions = `SELECT id FROM sessions WHERE revoked_at < ?1 OR last_token_expires_at < ?1 LIMIT ?2`

// PruneSessions deletes ended sessions with their tokens, then expired tokens,
// in small transactions. Each transaction re-reads what it deletes, so a run
// interrupted halfway leaves consistent data and the next run finishes the job.
func (s *Store) PruneSessions(ctx context.Context, before time.Time) (tokens, sessions int, err error) {
	cutoff := millis(before)
	for {
		var nt, ns int
		err := s.writeTx(ctx, "prune sessions", func(tx *sql.Tx) error {
			var err error
			nt, ns, err = pruneSessionBatch(ctx, tx, cutoff, s.pruneBatch)
			return err
		})
		tokens, sessions = tokens+nt, sessions+ns
		if err != nil {
			return tokens, sessions, err
		}
		if ns < s.pruneBatch {
			break
		}
	}
	for {
		res, err := s.write.ExecContext(ctx, `DELETE FROM refresh_tokens WHERE rowid IN
			(SELECT rowid FROM refresh_tokens WHERE expires_at < ? LIMIT ?)`, cutoff, s.pruneBatch)
		if err != nil {
			return tokens, sessions, fmt.Errorf("sqlite: prune refresh tokens: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return tokens, sessions, fmt.Errorf("sqlite: prune refresh tokens: %w", err)
		}
		tokens += int(n)
		if int(n) < s.pruneBatch {
			return tokens, sessions, nil
		}
	}
}

// pruneSessionBatch deletes up to limit ended sessions and all their tokens.
// The tokens are deleted explicitly, not by the foreign key's cascade, so they are
// counted.
func pruneSessionBatch(ctx context.Context, tx *sql.Tx, cutoff int64, limit int) (tokens, sessions int, err error) {
	rows, err := tx.QueryContext(ctx, endedSessions, cutoff, limit)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: prune sessions: %w", err)
	}
	var ids []any
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, 0, fmt.Errorf("sqlite: prune sessions: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("sqlite: prune sessions: %w", err)
	}
	if len(ids) == 0 {
		return 0, 0, nil
	}
	in := "(" + strings.Repeat("?,", len(ids)-1) + "?)"
	nt, err := execCount(ctx, tx, "DELETE FROM refresh_tokens WHERE session_id IN "+in, ids...)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: prune sessions: tokens: %w", err)
	}
	ns, err := execCount(ctx, tx, "DELETE FROM sessions WHERE id IN "+in, ids...)
	if err != nil {
		return 0, 0, fmt.Errorf("sqlite: prune sessions: %w", err)
	}
	return nt, ns, nil
}

func execCount(ctx context.Context, tx *sql.Tx, query string, args ...any) (int, error) {
	res, err := tx.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
