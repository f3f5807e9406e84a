package mongo

import (
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func indexesOf(t *testing.T, coll *mongodrv.Collection) map[string]bson.M {
	t.Helper()
	cur, err := coll.Indexes().List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var idx []bson.M
	if err := cur.All(t.Context(), &idx); err != nil {
		t.Fatal(err)
	}
	out := map[string]bson.M{}
	for _, i := range idx {
		name, _ := i["name"].(string)
		out[name] = i
	}
	return out
}

// The consent indexes exist after Open, with the unique ones unique, and an
// exchanged consent document holds its log entry but never the code.
func TestConsentIndexesAndDocumentShape(t *testing.T) {
	ctx := t.Context()
	s := openTestStore(t)
	consents := indexesOf(t, s.consents())
	refs := indexesOf(t, s.bankCitizenRefs())
	for _, want := range []struct {
		got    map[string]bson.M
		name   string
		unique bool
	}{
		{consents, "code_hash_unique", true},
		{consents, "citizen_id", false},
		{refs, "bank_citizen_unique", true},
	} {
		i := want.got[want.name]
		if i == nil {
			t.Fatalf("index %s missing: %v", want.name, want.got)
		}
		if unique, _ := i["unique"].(bool); unique != want.unique {
			t.Fatalf("index %s: unique %v, want %v", want.name, i["unique"], want.unique)
		}
	}

	now := time.Now()
	code := domain.NewConsentCode()
	c := domain.Consent{ID: domain.NewID(now), CitizenID: "cit", BankID: "bank", Scope: domain.ScopeCarbonProfile,
		CodeHash: domain.ConsentCodeHash(code), CodeExpiresAt: now.Add(time.Minute), CreatedAt: now}
	if err := s.CreateConsent(ctx, c); err != nil {
		t.Fatal(err)
	}
	x := domain.ConsentExchange{ID: domain.NewID(now), BankID: "bank", CredentialID: "cred", At: now}
	if _, err := s.ExchangeConsentCode(ctx, c.CodeHash, x); err != nil {
		t.Fatal(err)
	}
	var raw bson.M
	if err := s.consents().FindOne(ctx, bson.D{{Key: "_id", Value: c.ID}}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	var doc consentDoc
	if err := s.consents().FindOne(ctx, bson.D{{Key: "_id", Value: c.ID}}).Decode(&doc); err != nil {
		t.Fatal(err)
	}
	if raw["code_hash"] != c.CodeHash || len(raw) != 10 || doc.Exchange == nil || doc.Exchange.CredentialID != "cred" ||
		doc.Exchange.ID != x.ID || doc.ExchangedAt == nil {
		t.Fatalf("stored document %v", raw)
	}
	for k, v := range raw {
		if s, ok := v.(string); ok && s == code {
			t.Fatalf("the code is stored in %q", k)
		}
	}
}
