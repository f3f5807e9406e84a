package mongo

import (
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// The indexes exist after Open, and the client_id one is unique.
func TestBankCredentialIndexes(t *testing.T) {
	ctx := t.Context()
	s := openTestStore(t)
	cur, err := s.bankCredentials().Indexes().List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var idx []bson.M
	if err := cur.All(ctx, &idx); err != nil {
		t.Fatal(err)
	}
	names := map[string]bson.M{}
	for _, i := range idx {
		name, _ := i["name"].(string)
		names[name] = i
	}
	if len(idx) != 3 || names["client_id_unique"] == nil || names["bank_id"] == nil {
		t.Fatalf("indexes %v, want _id_, client_id_unique and bank_id", idx)
	}
	if unique, _ := names["client_id_unique"]["unique"].(bool); !unique {
		t.Fatalf("client_id_unique is not unique: %v", names["client_id_unique"])
	}
	// The secret is stored as given (a hash), under secret_hash, and nothing else
	// holds it.
	c := domain.BankCredential{ID: domain.NewID(time.Now()), BankID: "b", ClientID: "bank_x", SecretHash: "$2a$04$hash",
		Scopes: []string{domain.ScopeRedemptionsRead}, CreatedAt: time.Now(), CreatedBy: "op"}
	if err := s.CreateBankCredential(ctx, c); err != nil {
		t.Fatal(err)
	}
	var raw bson.M
	if err := s.bankCredentials().FindOne(ctx, bson.D{{Key: "_id", Value: c.ID}}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	if raw["secret_hash"] != c.SecretHash || len(raw) != 8 {
		t.Fatalf("stored document %v", raw)
	}
	dup := c
	dup.ID = domain.NewID(time.Now())
	if err := s.CreateBankCredential(ctx, dup); !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("duplicate client id: %v", err)
	}
}
