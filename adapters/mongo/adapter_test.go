package mongo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func newDraft(now time.Time, provider, subject string) domain.Citizen {
	return domain.Citizen{
		ID:        domain.NewID(now),
		Identity:  domain.Identity{Provider: provider, Subject: subject},
		Nickname:  "tester",
		CreatedAt: now,
		UpdatedAt: now,
	}
}

// Opening a store creates its indexes; every replica does that at start-up, so a
// second open on the same database must succeed and keep the indexes working.
func TestOpenTwiceOnSameDatabase(t *testing.T) {
	ctx := context.Background()
	first := openTestStore(t)
	now := time.Now()
	c, created, err := first.FindOrCreateCitizen(ctx, newDraft(now, domain.ProviderDev, "+8613800000001"))
	if err != nil || !created {
		t.Fatalf("create citizen: created=%v err=%v", created, err)
	}

	second := openStoreOn(t, first.db.Name())
	got, err := second.GetCitizen(ctx, c.ID)
	if err != nil {
		t.Fatalf("get citizen through second store: %v", err)
	}
	if got.ID != c.ID {
		t.Fatalf("got citizen %s, want %s", got.ID, c.ID)
	}
	again, created, err := second.FindOrCreateCitizen(ctx, newDraft(now, domain.ProviderDev, "+8613800000001"))
	if err != nil || created || again.ID != c.ID {
		t.Fatalf("find existing citizen through second store: id=%s created=%v err=%v", again.ID, created, err)
	}

	cur, err := second.citizens.Indexes().List(ctx)
	if err != nil {
		t.Fatalf("list indexes: %v", err)
	}
	var idx []bson.M
	if err := cur.All(ctx, &idx); err != nil {
		t.Fatalf("read indexes: %v", err)
	}
	if len(idx) != 3 { // _id, identity_unique and pending_at
		t.Fatalf("citizens has %d indexes, want 3: %v", len(idx), idx)
	}
}

// A unique index violation raised by an update (not an insert) must map to
// ErrConflict too; FerretDB reports those in a shape the driver's
// IsDuplicateKeyError misses.
func TestDuplicateKeyFromUpdateIsConflict(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	now := time.Now()
	a, _, err := s.FindOrCreateCitizen(ctx, newDraft(now, domain.ProviderDev, "+8613800000001"))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := s.FindOrCreateCitizen(ctx, newDraft(now, domain.ProviderDev, "+8613800000002"))
	if err != nil {
		t.Fatal(err)
	}
	b.Identity = a.Identity
	_, err = s.SaveCitizenProfile(ctx, b)
	if !errors.Is(err, domain.ErrConflict) {
		t.Fatalf("taking another citizen's identity: got %v, want ErrConflict", err)
	}

	// The same through a plain update, whose raw error isDuplicateKey must recognise.
	_, err = s.citizens.UpdateOne(ctx, bson.D{{Key: "_id", Value: b.ID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "identity", Value: identityDoc{Provider: a.Identity.Provider, Subject: a.Identity.Subject}}}}})
	if !isDuplicateKey(err) {
		t.Fatalf("isDuplicateKey(%v) = false", err)
	}
	got, err := s.GetCitizen(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Identity.Subject != "+8613800000002" || got.Version != b.Version {
		t.Errorf("refused update changed the citizen: identity=%v version=%d", got.Identity, got.Version)
	}
}

// The shapes real MongoDB uses for a unique index violation, plus FerretDB's.
func TestIsDuplicateKey(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"insert write error", mongodrv.WriteException{WriteErrors: []mongodrv.WriteError{{Code: 11000, Message: "E11000 duplicate key error"}}}, true},
		{"update write error 11001", mongodrv.WriteException{WriteErrors: []mongodrv.WriteError{{Code: 11001}}}, true},
		{"findAndModify command error", mongodrv.CommandError{Code: 11000, Name: "DuplicateKey"}, true},
		{"wrapped", fmt.Errorf("context: %w", mongodrv.CommandError{Code: 11000}), true},
		{"ferretdb sqlite update", mongodrv.CommandError{Code: 1, Name: "InternalError", Message: "constraint failed: UNIQUE constraint failed: index 'x' (2067)"}, true},
		{"other internal error", mongodrv.CommandError{Code: 1, Name: "InternalError", Message: "disk I/O error"}, false},
		{"other write error", mongodrv.WriteException{WriteErrors: []mongodrv.WriteError{{Code: 121}}}, false},
		{"no documents", mongodrv.ErrNoDocuments, false},
	}
	for _, c := range cases {
		if got := isDuplicateKey(c.err); got != c.want {
			t.Errorf("%s: isDuplicateKey(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
	if err := mapErr("x", mongodrv.CommandError{Code: 11000}); err != domain.ErrConflict {
		t.Errorf("mapErr(duplicate) = %v, want exactly domain.ErrConflict", err)
	}
	if err := mapErr("x", fmt.Errorf("wrapped: %w", mongodrv.ErrNoDocuments)); err != domain.ErrNotFound {
		t.Errorf("mapErr(no documents) = %v, want exactly domain.ErrNotFound", err)
	}
}

// Racing sign-ins from several connections (several replicas of the service) can
// both miss the document and both try to insert; the unique index refuses the
// loser, which must then return the winner's citizen. The contract suite cannot
// reach that path under FerretDB, where each store has a single connection, so this
// test races separate clients on one database.
func TestFindOrCreateCitizenRaceAcrossClients(t *testing.T) {
	ctx := context.Background()
	base := openTestStore(t)
	const clients = 4
	stores := []*Store{base}
	for len(stores) < clients {
		stores = append(stores, openStoreOn(t, base.db.Name()))
	}
	for round := range 10 {
		subject := fmt.Sprintf("+86138000010%02d", round)
		var wg sync.WaitGroup
		results := make([]domain.Citizen, clients)
		created := make([]bool, clients)
		errs := make([]error, clients)
		start := make(chan struct{})
		for i, s := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], created[i], errs[i] = s.FindOrCreateCitizen(ctx, newDraft(time.Now(), domain.ProviderDev, subject))
			}()
		}
		close(start)
		wg.Wait()
		creators := 0
		for i := range stores {
			if errs[i] != nil {
				t.Fatalf("round %d client %d: %v", round, i, errs[i])
			}
			if created[i] {
				creators++
			}
			if results[i].ID != results[0].ID {
				t.Errorf("round %d: client %d got %s, client 0 got %s", round, i, results[i].ID, results[0].ID)
			}
		}
		if creators != 1 {
			t.Errorf("round %d: %d clients reported created, want 1", round, creators)
		}
	}
}

// Documents use snake_case names, string ULID ids and BSON dates, so other tools
// (and later aggregation-free reports) can read them.
func TestStoredDocumentShape(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	now := time.Now()
	c, _, err := s.FindOrCreateCitizen(ctx, newDraft(now, domain.ProviderFirebase, "uid-1"))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := s.citizens.FindOne(ctx, bson.D{{Key: "_id", Value: c.ID}}).Raw()
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := map[string]bson.Type{
		"_id":                 bson.TypeString,
		"identity":            bson.TypeEmbeddedDocument,
		"nickname":            bson.TypeString,
		"leaderboard_opt_out": bson.TypeBoolean,
		"balance":             bson.TypeInt64,
		"co2e_g_total":        bson.TypeInt64,
		"points_earned_total": bson.TypeInt64,
		"created_at":          bson.TypeDateTime,
		"updated_at":          bson.TypeDateTime,
		"version":             bson.TypeInt64,
	}
	for key, want := range wantTypes {
		v, err := raw.LookupErr(key)
		if err != nil {
			t.Errorf("field %s: %v", key, err)
			continue
		}
		if v.Type != want {
			t.Errorf("field %s has BSON type %v, want %v", key, v.Type, want)
		}
	}
	// A live citizen's erased_at is null. FerretDB v1 drops null fields from
	// $setOnInsert, so there it is missing, which every filter and decoder treats the
	// same way ({erased_at: null} matches both).
	if v, err := raw.LookupErr("erased_at"); err == nil && v.Type != bson.TypeNull {
		t.Errorf("erased_at has BSON type %v, want null", v.Type)
	} else if err != nil && !server.FerretDB {
		t.Errorf("erased_at: %v", err)
	}
	if p, err := raw.LookupErr("identity", "provider"); err != nil || p.StringValue() != domain.ProviderFirebase {
		t.Errorf("identity.provider = %v (%v)", p, err)
	}
}
