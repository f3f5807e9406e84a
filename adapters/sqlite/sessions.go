package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

const (
	sessionColumns = "id, subject_id, role, created_at, revoked_at"
	tokenColumns   = "hash, session_id, issued_at, expires_at, used_at"
)

func scanSession(r rowScanner) (domain.Session, error) {
	var s domain.Session
	var created int64
	var revoked sql.NullInt64
	if err := r.Scan(&s.ID, &s.SubjectID, &s.Role, &created, &revoked); err != nil {
		return domain.Session{}, err
	}
	s.CreatedAt = fromMillis(created)
	s.RevokedAt = fromNullMillis(revoked)
	return s, nil
}

func scanToken(r rowScanner) (domain.RefreshToken, error) {
	var t domain.RefreshToken
	var issued, expires int64
	var used sql.NullInt64
	if err := r.Scan(&t.Hash, &t.SessionID, &issued, &expires, &used); err != nil {
		return domain.RefreshToken{}, err
	}
	t.IssuedAt = fromMillis(issued)
	t.ExpiresAt = fromMillis(expires)
	t.UsedAt = fromNullMillis(used)
	return t, nil
}

// CreateSession stores the session and its first token in one transaction, so a
// session never exists without a way to refresh it.
func (s *Store) CreateSession(ctx context.Context, sess domain.Session, first domain.RefreshToken) error {
	return s.writeTx(ctx, "create session", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO sessions ("+sessionColumns+") VALUES (?, ?, ?, ?, ?)",
			sess.ID, sess.SubjectID, string(sess.Role), millis(sess.CreatedAt), nullMillis(sess.RevokedAt))
		if isUniqueViolation(err) {
			return domain.ErrConflict
		}
		if err != nil {
			return fmt.Errorf("sqlite: create session: %w", err)
		}
		return insertToken(ctx, tx, first)
	})
}

// AddRefreshToken stores the next token of an existing session.
func (s *Store) AddRefreshToken(ctx context.Context, t domain.RefreshToken) error {
	return s.writeTx(ctx, "add refresh token", func(tx *sql.Tx) error { return insertToken(ctx, tx, t) })
}

func insertToken(ctx context.Context, tx *sql.Tx, t domain.RefreshToken) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO refresh_tokens ("+tokenColumns+") VALUES (?, ?, ?, ?, ?)",
		t.Hash, t.SessionID, millis(t.IssuedAt), millis(t.ExpiresAt), nullMillis(t.UsedAt))
	switch {
	case isUniqueViolation(err):
		return domain.ErrConflict
	case isForeignKeyViolation(err):
		return domain.ErrNotFound // no such session
	case err != nil:
		return fmt.Errorf("sqlite: insert refresh token: %w", err)
	}
	// Same transaction as the insert, so PruneSessions (which reads this column)
	// never sees a token the column does not account for.
	_, err = tx.ExecContext(ctx, `UPDATE sessions SET last_token_expires_at = MAX(COALESCE(last_token_expires_at, ?1), ?1) WHERE id = ?2`,
		millis(t.ExpiresAt), t.SessionID)
	if err != nil {
		return fmt.Errorf("sqlite: insert refresh token: update session: %w", err)
	}
	return nil
}

// GetSession returns the session with id.
func (s *Store) GetSession(ctx context.Context, id string) (domain.Session, error) {
	sess, err := scanSession(s.read.QueryRowContext(ctx, "SELECT "+sessionColumns+" FROM sessions WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Session{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Session{}, fmt.Errorf("sqlite: get session: %w", err)
	}
	return sess, nil
}

// RevokeSession keeps the first revocation time (COALESCE), so revoking again is
// a no-op. SQLite counts every row the WHERE matched as affected, even if its
// value did not change, so zero rows means the session does not exist.
func (s *Store) RevokeSession(ctx context.Context, id string, at time.Time) error {
	res, err := s.write.ExecContext(ctx, "UPDATE sessions SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", millis(at), id)
	if err != nil {
		return fmt.Errorf("sqlite: revoke session: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: revoke session: %w", err)
	}
	if n == 0 {
		return domain.ErrNotFound
	}
	return nil
}

// RevokeSubjectSessions revokes the subject's sessions that are still live.
func (s *Store) RevokeSubjectSessions(ctx context.Context, subjectID string, at time.Time) error {
	_, err := s.write.ExecContext(ctx, "UPDATE sessions SET revoked_at = ? WHERE subject_id = ? AND revoked_at IS NULL", millis(at), subjectID)
	if err != nil {
		return fmt.Errorf("sqlite: revoke subject sessions: %w", err)
	}
	return nil
}

// GetRefreshToken returns the token with hash.
func (s *Store) GetRefreshToken(ctx context.Context, hash string) (domain.RefreshToken, error) {
	t, err := scanToken(s.read.QueryRowContext(ctx, "SELECT "+tokenColumns+" FROM refresh_tokens WHERE hash = ?", hash))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.RefreshToken{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.RefreshToken{}, fmt.Errorf("sqlite: get refresh token: %w", err)
	}
	return t, nil
}

// SpendRefreshToken is a guarded update on used_at IS NULL: of racing spends only
// the first matches the row; the rest see it spent and get ErrConflict.
func (s *Store) SpendRefreshToken(ctx context.Context, hash string, at time.Time) error {
	return s.writeTx(ctx, "spend refresh token", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "UPDATE refresh_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL", millis(at), hash)
		if err != nil {
			return fmt.Errorf("sqlite: spend refresh token: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: spend refresh token: %w", err)
		}
		if n == 1 {
			return nil
		}
		return missingOrConflict(ctx, tx, "SELECT 1 FROM refresh_tokens WHERE hash = ?", hash)
	})
}
