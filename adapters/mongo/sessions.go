package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// sessionDoc.LastTokenExpiresAt is the latest expires_at of the session's refresh
// tokens, raised with $max whenever a token is added. It lets PruneSessions find
// sessions whose every token expired with one indexed comparison, since a join
// with refresh_tokens ($lookup) is off limits. Absent means unknown: such a
// session is never pruned by expiry.
type sessionDoc struct {
	ID                 string     `bson:"_id"`
	SubjectID          string     `bson:"subject_id"`
	Role               string     `bson:"role"`
	CreatedAt          time.Time  `bson:"created_at"`
	RevokedAt          *time.Time `bson:"revoked_at"`
	LastTokenExpiresAt *time.Time `bson:"last_token_expires_at,omitempty"`
}

// refreshTokenDoc is keyed by the token hash, so looking a presented token up and
// spending it are point operations on _id.
type refreshTokenDoc struct {
	Hash      string     `bson:"_id"`
	SessionID string     `bson:"session_id"`
	IssuedAt  time.Time  `bson:"issued_at"`
	ExpiresAt time.Time  `bson:"expires_at"`
	UsedAt    *time.Time `bson:"used_at"`
}

func sessionToDoc(s domain.Session) sessionDoc {
	return sessionDoc{
		ID:        s.ID,
		SubjectID: s.SubjectID,
		Role:      string(s.Role),
		CreatedAt: toDate(s.CreatedAt),
		RevokedAt: toDatePtr(s.RevokedAt),
	}
}

func (d sessionDoc) toDomain() domain.Session {
	return domain.Session{
		ID:        d.ID,
		SubjectID: d.SubjectID,
		Role:      domain.Role(d.Role),
		CreatedAt: fromDate(d.CreatedAt),
		RevokedAt: fromDatePtr(d.RevokedAt),
	}
}

func refreshTokenToDoc(t domain.RefreshToken) refreshTokenDoc {
	return refreshTokenDoc{
		Hash:      t.Hash,
		SessionID: t.SessionID,
		IssuedAt:  toDate(t.IssuedAt),
		ExpiresAt: toDate(t.ExpiresAt),
		UsedAt:    toDatePtr(t.UsedAt),
	}
}

func (d refreshTokenDoc) toDomain() domain.RefreshToken {
	return domain.RefreshToken{
		Hash:      d.Hash,
		SessionID: d.SessionID,
		IssuedAt:  fromDate(d.IssuedAt),
		ExpiresAt: fromDate(d.ExpiresAt),
		UsedAt:    fromDatePtr(d.UsedAt),
	}
}

// CreateSession inserts the session, then its first token. Without a transaction
// the second insert can fail after the first succeeded; that leaves a session with
// no token, which nobody can use, and the caller gets the error and signs in again.
// The session already carries its first token's expiry, so PruneSessions removes
// it in time, and a prune running between the two inserts leaves it alone.
func (s *Store) CreateSession(ctx context.Context, sess domain.Session, first domain.RefreshToken) error {
	if first.SessionID == "" {
		first.SessionID = sess.ID
	}
	if first.SessionID != sess.ID {
		return fmt.Errorf("mongo: create session: first refresh token belongs to session %q, not %q", first.SessionID, sess.ID)
	}
	doc := sessionToDoc(sess)
	doc.LastTokenExpiresAt = toDatePtr(&first.ExpiresAt)
	if _, err := s.sessions.InsertOne(ctx, doc); err != nil {
		return mapErr("create session", err)
	}
	if _, err := s.refreshTokens.InsertOne(ctx, refreshTokenToDoc(first)); err != nil {
		return mapErr("create first refresh token", err)
	}
	return nil
}

// GetSession reads one session by id.
func (s *Store) GetSession(ctx context.Context, id string) (domain.Session, error) {
	var doc sessionDoc
	if err := s.sessions.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc); err != nil {
		return domain.Session{}, mapErr("get session", err)
	}
	return doc.toDomain(), nil
}

// RevokeSession sets revoked_at only while it is unset, so the first revocation time
// is kept and repeating it is harmless.
func (s *Store) RevokeSession(ctx context.Context, id string, at time.Time) error {
	filter := bson.D{{Key: "_id", Value: id}, {Key: "revoked_at", Value: nil}}
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "revoked_at", Value: toDate(at)}}}}
	res, err := s.sessions.UpdateOne(ctx, filter, update)
	if err != nil {
		return mapErr("revoke session", err)
	}
	if res.MatchedCount > 0 {
		return nil
	}
	found, err := exists(ctx, s.sessions, id)
	if err != nil {
		return err
	}
	if !found {
		return domain.ErrNotFound
	}
	return nil // already revoked
}

// RevokeSubjectSessions revokes every live session of the subject (served by the
// subject_id index). Each document is updated atomically; a session created while
// this runs may survive, which is no worse than one created just after.
func (s *Store) RevokeSubjectSessions(ctx context.Context, subjectID string, at time.Time) error {
	filter := bson.D{{Key: "subject_id", Value: subjectID}, {Key: "revoked_at", Value: nil}}
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "revoked_at", Value: toDate(at)}}}}
	_, err := s.sessions.UpdateMany(ctx, filter, update)
	return mapErr("revoke subject sessions", err)
}

// GetRefreshToken reads a token by its hash.
func (s *Store) GetRefreshToken(ctx context.Context, hash string) (domain.RefreshToken, error) {
	var doc refreshTokenDoc
	if err := s.refreshTokens.FindOne(ctx, bson.D{{Key: "_id", Value: hash}}).Decode(&doc); err != nil {
		return domain.RefreshToken{}, mapErr("get refresh token", err)
	}
	return doc.toDomain(), nil
}

// SpendRefreshToken is a guarded single-document update: of racing calls only one
// can match used_at == null, which is what detects refresh token reuse.
func (s *Store) SpendRefreshToken(ctx context.Context, hash string, at time.Time) error {
	filter := bson.D{{Key: "_id", Value: hash}, {Key: "used_at", Value: nil}}
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "used_at", Value: toDate(at)}}}}
	res, err := s.refreshTokens.UpdateOne(ctx, filter, update)
	if err != nil {
		return mapErr("spend refresh token", err)
	}
	if res.MatchedCount > 0 {
		return nil
	}
	found, err := exists(ctx, s.refreshTokens, hash)
	if err != nil {
		return err
	}
	if found {
		return domain.ErrConflict
	}
	return domain.ErrNotFound
}

// AddRefreshToken stores the next token of an existing session. It first raises
// the session's last_token_expires_at, which also checks that the session exists,
// and only then inserts the token: once the session carries the new expiry,
// PruneSessions no longer matches it (unless it was revoked before the cutoff, and
// a revoked session is never refreshed), so the new token cannot be orphaned by a
// concurrent prune. If the insert fails, the raised expiry only delays pruning.
func (s *Store) AddRefreshToken(ctx context.Context, t domain.RefreshToken) error {
	filter := bson.D{{Key: "_id", Value: t.SessionID}}
	update := bson.D{{Key: "$max", Value: bson.D{{Key: "last_token_expires_at", Value: toDate(t.ExpiresAt)}}}}
	res, err := s.sessions.UpdateOne(ctx, filter, update)
	if err != nil {
		return mapErr("add refresh token: update session", err)
	}
	if res.MatchedCount == 0 {
		return domain.ErrNotFound
	}
	_, err = s.refreshTokens.InsertOne(ctx, refreshTokenToDoc(t))
	return mapErr("add refresh token", err)
}
