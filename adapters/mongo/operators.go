package mongo

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

type operatorDoc struct {
	ID           string    `bson:"_id"`
	Username     string    `bson:"username"`
	Role         string    `bson:"role"`
	PasswordHash string    `bson:"password_hash"`
	CreatedAt    time.Time `bson:"created_at"`
	CreatedBy    string    `bson:"created_by"`
}

func operatorToDoc(o domain.Operator) operatorDoc {
	return operatorDoc{
		ID:           o.ID,
		Username:     o.Username,
		Role:         string(o.Role),
		PasswordHash: o.PasswordHash,
		CreatedAt:    toDate(o.CreatedAt),
		CreatedBy:    o.CreatedBy,
	}
}

func (d operatorDoc) toDomain() domain.Operator {
	return domain.Operator{
		ID:           d.ID,
		Username:     d.Username,
		Role:         domain.Role(d.Role),
		PasswordHash: d.PasswordHash,
		CreatedAt:    fromDate(d.CreatedAt),
		CreatedBy:    d.CreatedBy,
	}
}

// CreateOperator inserts o; the unique username index (or _id) turns a taken
// username into ErrConflict without a racy check first.
func (s *Store) CreateOperator(ctx context.Context, o domain.Operator) error {
	_, err := s.operators.InsertOne(ctx, operatorToDoc(o))
	return mapErr("create operator", err)
}

// GetOperatorByUsername is served by the unique username index.
func (s *Store) GetOperatorByUsername(ctx context.Context, username string) (domain.Operator, error) {
	return s.findOperator(ctx, "get operator by username", bson.D{{Key: "username", Value: username}})
}

// GetOperator reads one operator by id.
func (s *Store) GetOperator(ctx context.Context, id string) (domain.Operator, error) {
	return s.findOperator(ctx, "get operator", bson.D{{Key: "_id", Value: id}})
}

func (s *Store) findOperator(ctx context.Context, op string, filter bson.D) (domain.Operator, error) {
	var doc operatorDoc
	if err := s.operators.FindOne(ctx, filter).Decode(&doc); err != nil {
		return domain.Operator{}, mapErr(op, err)
	}
	return doc.toDomain(), nil
}

// ListOperators pages by _id (keyset pagination on the primary index, so a page costs
// the same however deep it is).
func (s *Store) ListOperators(ctx context.Context, afterID string, limit int) ([]domain.Operator, error) {
	out := []domain.Operator{}
	if limit <= 0 {
		return out, nil
	}
	filter := bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: afterID}}}}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit))
	cur, err := s.operators.Find(ctx, filter, opts)
	if err != nil {
		return nil, mapErr("list operators", err)
	}
	var docs []operatorDoc
	if err := cur.All(ctx, &docs); err != nil {
		return nil, mapErr("list operators", err)
	}
	for _, d := range docs {
		out = append(out, d.toDomain())
	}
	return out, nil
}
