package mongo

import (
	"context"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// defaultPruneBatch bounds the ids one round of PruneSessions carries in an $in
// list (Store.pruneBatch; tests lower it).
const defaultPruneBatch = 500

// endedSessions matches sessions that ended before `before`: revoked, or with
// every token expired. Each branch of the $or is served by its own index.
func endedSessions(before time.Time) bson.D {
	cutoff := bson.D{{Key: "$lt", Value: toDate(before)}}
	return bson.D{{Key: "$or", Value: bson.A{
		bson.D{{Key: "revoked_at", Value: cutoff}},
		bson.D{{Key: "last_token_expires_at", Value: cutoff}},
	}}}
}

// PruneSessions deletes ended sessions in batches, then their tokens, then every
// expired token. Without transactions each step stands alone: the session delete
// repeats the ended filter, so a session that changed since it was read is kept,
// and only tokens of sessions that are really gone are deleted. A crash between
// the steps at worst leaves tokens of deleted sessions; they can no longer be used
// and go with the expired-token sweep once they expire.
func (s *Store) PruneSessions(ctx context.Context, before time.Time) (tokens, sessions int, err error) {
	for {
		ids, err := s.endedSessionIDs(ctx, before)
		if err != nil {
			return tokens, sessions, err
		}
		if len(ids) == 0 {
			break
		}
		nt, ns, err := s.pruneSessionBatch(ctx, ids, before)
		tokens, sessions = tokens+nt, sessions+ns
		if err != nil {
			return tokens, sessions, err
		}
		// A short batch means the ended sessions are exhausted; deleting none means
		// the rest changed under us, and reading them again would loop.
		if len(ids) < s.pruneBatch || ns == 0 {
			break
		}
	}
	res, err := s.refreshTokens.DeleteMany(ctx, bson.D{{Key: "expires_at", Value: bson.D{{Key: "$lt", Value: toDate(before)}}}})
	if err != nil {
		return tokens, sessions, mapErr("prune refresh tokens", err)
	}
	return tokens + int(res.DeletedCount), sessions, nil
}

// pruneSessionBatch deletes the sessions among ids that are still ended, then the
// tokens of those that are gone.
func (s *Store) pruneSessionBatch(ctx context.Context, ids []string, before time.Time) (tokens, sessions int, err error) {
	filter := append(bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, endedSessions(before)...)
	res, err := s.sessions.DeleteMany(ctx, filter)
	if err != nil {
		return 0, 0, mapErr("prune sessions", err)
	}
	sessions = int(res.DeletedCount)
	gone := ids
	if sessions < len(ids) {
		if gone, err = s.missingSessions(ctx, ids); err != nil {
			return 0, sessions, err
		}
	}
	if len(gone) == 0 {
		return 0, sessions, nil
	}
	res, err = s.refreshTokens.DeleteMany(ctx, bson.D{{Key: "session_id", Value: bson.D{{Key: "$in", Value: gone}}}})
	if err != nil {
		return 0, sessions, mapErr("prune sessions: tokens", err)
	}
	return int(res.DeletedCount), sessions, nil
}

// endedSessionIDs reads up to s.pruneBatch ids of ended sessions.
func (s *Store) endedSessionIDs(ctx context.Context, before time.Time) ([]string, error) {
	opts := options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(s.pruneBatch))
	return s.sessionIDs(ctx, endedSessions(before), opts)
}

// missingSessions returns the ids that no longer name a session.
func (s *Store) missingSessions(ctx context.Context, ids []string) ([]string, error) {
	opts := options.Find().SetProjection(bson.D{{Key: "_id", Value: 1}})
	left, err := s.sessionIDs(ctx, bson.D{{Key: "_id", Value: bson.D{{Key: "$in", Value: ids}}}}, opts)
	if err != nil {
		return nil, err
	}
	kept := make(map[string]bool, len(left))
	for _, id := range left {
		kept[id] = true
	}
	var gone []string
	for _, id := range ids {
		if !kept[id] {
			gone = append(gone, id)
		}
	}
	return gone, nil
}

func (s *Store) sessionIDs(ctx context.Context, filter bson.D, opts *options.FindOptionsBuilder) ([]string, error) {
	cur, err := s.sessions.Find(ctx, filter, opts)
	if err != nil {
		return nil, mapErr("prune sessions: find", err)
	}
	var docs []struct {
		ID string `bson:"_id"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return nil, fmt.Errorf("mongo: prune sessions: read: %w", err)
	}
	ids := make([]string, len(docs))
	for i, d := range docs {
		ids[i] = d.ID
	}
	return ids, nil
}
