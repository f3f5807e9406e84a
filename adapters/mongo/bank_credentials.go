package mongo

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// collBankCredentials holds one document per bank credential, keyed by its id.
const collBankCredentials = "bank_credentials"

var _ domain.BankCredentialStore = (*Store)(nil)

type bankCredentialDoc struct {
	ID         string     `bson:"_id"`
	BankID     string     `bson:"bank_id"`
	ClientID   string     `bson:"client_id"`
	SecretHash string     `bson:"secret_hash"` // bcrypt; the secret is never stored
	Scopes     []string   `bson:"scopes"`
	CreatedAt  time.Time  `bson:"created_at"`
	CreatedBy  string     `bson:"created_by"`
	RevokedAt  *time.Time `bson:"revoked_at"` // null while usable
}

func bankCredentialToDoc(c domain.BankCredential) bankCredentialDoc {
	return bankCredentialDoc{
		ID: c.ID, BankID: c.BankID, ClientID: c.ClientID, SecretHash: c.SecretHash,
		Scopes: c.Scopes, CreatedAt: toDate(c.CreatedAt), CreatedBy: c.CreatedBy, RevokedAt: toDatePtr(c.RevokedAt),
	}
}

func (d bankCredentialDoc) toDomain() domain.BankCredential {
	return domain.BankCredential{
		ID: d.ID, BankID: d.BankID, ClientID: d.ClientID, SecretHash: d.SecretHash,
		Scopes: d.Scopes, CreatedAt: fromDate(d.CreatedAt), CreatedBy: d.CreatedBy, RevokedAt: fromDatePtr(d.RevokedAt),
	}
}

func (s *Store) bankCredentials() *mongodrv.Collection { return s.db.Collection(collBankCredentials) }

// CreateBankCredential inserts c; _id and the unique client_id index turn a taken
// id or client id into ErrConflict.
func (s *Store) CreateBankCredential(ctx context.Context, c domain.BankCredential) error {
	_, err := s.bankCredentials().InsertOne(ctx, bankCredentialToDoc(c))
	return mapErr("create bank credential", err)
}

// GetBankCredentialByClientID is served by the unique client_id index.
func (s *Store) GetBankCredentialByClientID(ctx context.Context, clientID string) (domain.BankCredential, error) {
	return s.findBankCredential(ctx, "get bank credential by client id", bson.D{{Key: "client_id", Value: clientID}})
}

// GetBankCredential reads one credential by id.
func (s *Store) GetBankCredential(ctx context.Context, id string) (domain.BankCredential, error) {
	return s.findBankCredential(ctx, "get bank credential", bson.D{{Key: "_id", Value: id}})
}

func (s *Store) findBankCredential(ctx context.Context, op string, filter bson.D) (domain.BankCredential, error) {
	var doc bankCredentialDoc
	if err := s.bankCredentials().FindOne(ctx, filter).Decode(&doc); err != nil {
		return domain.BankCredential{}, mapErr(op, err)
	}
	return doc.toDomain(), nil
}

// ListBankCredentials is served by the (bank_id, _id) index; a bank has a handful.
func (s *Store) ListBankCredentials(ctx context.Context, bankID string) ([]domain.BankCredential, error) {
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})
	cur, err := s.bankCredentials().Find(ctx, bson.D{{Key: "bank_id", Value: bankID}}, opts)
	if err != nil {
		return nil, mapErr("list bank credentials", err)
	}
	var docs []bankCredentialDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, mapErr("list bank credentials", err)
	}
	out := make([]domain.BankCredential, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.toDomain())
	}
	return out, nil
}

// RevokeBankCredential sets revoked_at only while it is unset, so the first
// revocation time is kept and repeating it is harmless.
func (s *Store) RevokeBankCredential(ctx context.Context, id string, at time.Time) error {
	filter := bson.D{{Key: "_id", Value: id}, {Key: "revoked_at", Value: nil}}
	update := bson.D{{Key: "$set", Value: bson.D{{Key: "revoked_at", Value: toDate(at)}}}}
	res, err := s.bankCredentials().UpdateOne(ctx, filter, update)
	if err != nil {
		return mapErr("revoke bank credential", err)
	}
	if res.MatchedCount > 0 {
		return nil
	}
	found, err := exists(ctx, s.bankCredentials(), id)
	if err != nil {
		return err
	}
	if !found {
		return domain.ErrNotFound
	}
	return nil // already revoked
}
