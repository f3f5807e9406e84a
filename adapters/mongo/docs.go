package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// BSON dates hold milliseconds since the epoch. Truncating (and normalising to UTC)
// before writing makes the values this adapter returns from a write equal to what a
// later read returns.
func toDate(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }

func toDatePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	d := toDate(*t)
	return &d
}

func fromDate(t time.Time) time.Time { return t.UTC() }

func fromDatePtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	d := fromDate(*t)
	return &d
}

// exists reports whether coll has a document with _id; it reads only the _id from
// the primary index. Used to tell "missing" from "guard failed" after a guarded
// update matched nothing.
func exists(ctx context.Context, coll *mongodrv.Collection, id string) (bool, error) {
	opts := options.FindOne().SetProjection(bson.D{{Key: "_id", Value: 1}})
	err := coll.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, opts).Err()
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, mongodrv.ErrNoDocuments):
		return false, nil
	default:
		return false, fmt.Errorf("mongo: check %s exists: %w", coll.Name(), err)
	}
}
