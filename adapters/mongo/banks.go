package mongo

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

var _ domain.BankStore = (*Store)(nil)

// bankDoc is a partner bank as stored in `banks`.
type bankDoc struct {
	ID        string    `bson:"_id"`
	Code      string    `bson:"code"`
	Name      string    `bson:"name"`
	CreatedAt time.Time `bson:"created_at"`
	CreatedBy string    `bson:"created_by"`
}

func (d bankDoc) toDomain() domain.Bank {
	return domain.Bank{ID: d.ID, Code: d.Code, Name: d.Name, CreatedAt: fromDate(d.CreatedAt), CreatedBy: d.CreatedBy}
}

// CreateBank inserts b; the unique code index (or _id) turns a taken code into
// ErrConflict without a racy check first.
func (s *Store) CreateBank(ctx context.Context, b domain.Bank) error {
	doc := bankDoc{ID: b.ID, Code: b.Code, Name: b.Name, CreatedAt: toDate(b.CreatedAt), CreatedBy: b.CreatedBy}
	_, err := s.banks.InsertOne(ctx, doc)
	return mapErr("create bank", err)
}

// GetBank reads one bank by id.
func (s *Store) GetBank(ctx context.Context, id string) (domain.Bank, error) {
	var doc bankDoc
	if err := s.banks.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc); err != nil {
		return domain.Bank{}, mapErr("get bank", err)
	}
	return doc.toDomain(), nil
}

// ListBanks reads every bank in id order (primary index); partner banks are a
// handful.
func (s *Store) ListBanks(ctx context.Context) ([]domain.Bank, error) {
	var docs []bankDoc
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})
	if err := findAll(ctx, s.banks, "list banks", bson.D{}, opts, &docs); err != nil {
		return nil, err
	}
	out := make([]domain.Bank, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.toDomain())
	}
	return out, nil
}
