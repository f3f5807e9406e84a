package mongo

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// A session stored before last_token_expires_at existed has no such field. Its
// expiry is unknown, so PruneSessions must keep it (it may have live tokens) and
// only delete its expired tokens; a revoked one still goes.
func TestPruneKeepsSessionsWithoutLastTokenExpiry(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	old := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	revokedAt := old.Add(time.Hour)
	for _, d := range []bson.D{
		{{Key: "_id", Value: "legacy"}, {Key: "subject_id", Value: "c1"}, {Key: "role", Value: "citizen"}, {Key: "created_at", Value: old}, {Key: "revoked_at", Value: nil}},
		{{Key: "_id", Value: "legacy-revoked"}, {Key: "subject_id", Value: "c2"}, {Key: "role", Value: "citizen"}, {Key: "created_at", Value: old}, {Key: "revoked_at", Value: revokedAt}},
	} {
		if _, err := s.sessions.InsertOne(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	for _, tok := range []refreshTokenDoc{
		{Hash: "a", SessionID: "legacy", IssuedAt: old, ExpiresAt: old.Add(24 * time.Hour)},
		{Hash: "b", SessionID: "legacy-revoked", IssuedAt: old, ExpiresAt: old.Add(1000 * 24 * time.Hour)},
	} {
		if _, err := s.refreshTokens.InsertOne(ctx, tok); err != nil {
			t.Fatal(err)
		}
	}
	tokens, sessions, err := s.PruneSessions(ctx, old.Add(100*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if tokens != 2 || sessions != 1 {
		t.Errorf("PruneSessions = %d tokens, %d sessions; want 2, 1", tokens, sessions)
	}
	if _, err := s.GetSession(ctx, "legacy"); err != nil {
		t.Errorf("legacy session: %v, want kept", err)
	}
	if _, err := s.GetSession(ctx, "legacy-revoked"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("revoked legacy session: %v, want deleted", err)
	}
}
