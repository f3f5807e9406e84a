package mongo

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// activityTypeDoc is one activity type together with every version of its
// coefficients, oldest first.
//
// Why the versions live inside the type document rather than in a collection of
// their own: without transactions, a type and its first version written as two
// documents leave a crash window (a type without a version, or an orphan version
// that blocks re-creating the type), and adding a version would need a guarded
// counter on the type plus an insert, with another window in between. Embedded,
// every catalog write is one single-document atomic operation:
//
//   - CreateActivityType is one insert; the unique _id (the code) turns a taken
//     code into ErrConflict.
//   - AddCoefficientVersion is one update guarded by {latest_version: v-1} that
//     $push-es the version and sets latest_version: of racing operators exactly one
//     matches, the others get ErrConflict. Versions are only ever appended, so past
//     versions stay immutable.
//
// A type gets a new version a few times a year at most, each well under a kilobyte,
// so the document stays far below MongoDB's 16 MB limit. The catalog is read whole
// (domain.Catalog caches it and reloads it periodically), by _id order on the
// primary index.
type activityTypeDoc struct {
	Code          string                  `bson:"_id"`
	Category      string                  `bson:"category"`
	Unit          string                  `bson:"unit"`
	Name          string                  `bson:"name"`
	NameEn        string                  `bson:"name_en"`
	CreatedAt     time.Time               `bson:"created_at"`
	CreatedBy     string                  `bson:"created_by"`
	LatestVersion int                     `bson:"latest_version"`
	Versions      []coefficientVersionDoc `bson:"versions"`
}

type coefficientVersionDoc struct {
	Version          int             `bson:"version"`
	EffectiveFrom    time.Time       `bson:"effective_from"`
	Enabled          bool            `bson:"enabled"`
	CO2eMgPerUnit    int64           `bson:"co2e_mg_per_unit"`
	PointsPerKg      int64           `bson:"points_per_kg"`
	PointsPerUnit    int64           `bson:"points_per_unit"`
	QuantityDecimals int             `bson:"quantity_decimals"`
	MaxQuantity      int64           `bson:"max_quantity"`
	DailyMaxQuantity int64           `bson:"daily_max_quantity"`
	DailyMaxPoints   int64           `bson:"daily_max_points"`
	Evidence         evidenceRuleDoc `bson:"evidence"`
	Methodology      string          `bson:"methodology"`
	Confidence       string          `bson:"confidence"`
	CreatedAt        time.Time       `bson:"created_at"`
	CreatedBy        string          `bson:"created_by"`
	Note             string          `bson:"note"`
}

// evidenceRuleDoc keeps nil and empty Sources apart ("sources": null versus []),
// so what is read back equals what was written.
type evidenceRuleDoc struct {
	Required bool     `bson:"required"`
	Sources  []string `bson:"sources"`
	Review   bool     `bson:"review"`
}

func versionToDoc(v domain.CoefficientVersion) coefficientVersionDoc {
	c := v.Coefficients
	return coefficientVersionDoc{
		Version:          v.Version,
		EffectiveFrom:    toDate(v.EffectiveFrom),
		Enabled:          c.Enabled,
		CO2eMgPerUnit:    c.CO2eMgPerUnit,
		PointsPerKg:      c.PointsPerKg,
		PointsPerUnit:    c.PointsPerUnit,
		QuantityDecimals: c.QuantityDecimals,
		MaxQuantity:      int64(c.MaxQuantity),
		DailyMaxQuantity: int64(c.DailyMaxQuantity),
		DailyMaxPoints:   c.DailyMaxPoints,
		Evidence:         evidenceRuleDoc{Required: c.Evidence.Required, Sources: c.Evidence.Sources, Review: c.Evidence.Review},
		Methodology:      c.Methodology,
		Confidence:       c.Confidence,
		CreatedAt:        toDate(v.CreatedAt),
		CreatedBy:        v.CreatedBy,
		Note:             v.Note,
	}
}

func (d coefficientVersionDoc) toDomain(code string) domain.CoefficientVersion {
	return domain.CoefficientVersion{
		TypeCode:      code,
		Version:       d.Version,
		EffectiveFrom: fromDate(d.EffectiveFrom),
		Coefficients: domain.Coefficients{
			Enabled:          d.Enabled,
			CO2eMgPerUnit:    d.CO2eMgPerUnit,
			PointsPerKg:      d.PointsPerKg,
			PointsPerUnit:    d.PointsPerUnit,
			QuantityDecimals: d.QuantityDecimals,
			MaxQuantity:      domain.Quantity(d.MaxQuantity),
			DailyMaxQuantity: domain.Quantity(d.DailyMaxQuantity),
			DailyMaxPoints:   d.DailyMaxPoints,
			Evidence:         domain.EvidenceRule{Required: d.Evidence.Required, Sources: d.Evidence.Sources, Review: d.Evidence.Review},
			Methodology:      d.Methodology,
			Confidence:       d.Confidence,
		},
		CreatedAt: fromDate(d.CreatedAt),
		CreatedBy: d.CreatedBy,
		Note:      d.Note,
	}
}

func (d activityTypeDoc) toDomain() domain.ActivityType {
	return domain.ActivityType{
		Code:      d.Code,
		Category:  domain.Category(d.Category),
		Unit:      d.Unit,
		Name:      d.Name,
		NameEn:    d.NameEn,
		CreatedAt: fromDate(d.CreatedAt),
		CreatedBy: d.CreatedBy,
	}
}

// CreateActivityType stores t with its first version in one insert.
func (s *Store) CreateActivityType(ctx context.Context, t domain.ActivityType, first domain.CoefficientVersion) error {
	if first.Version != 1 {
		return fmt.Errorf("mongo: create activity type %s: first version is %d, want 1", t.Code, first.Version)
	}
	if first.TypeCode != "" && first.TypeCode != t.Code {
		return fmt.Errorf("mongo: create activity type %s: first version belongs to %q", t.Code, first.TypeCode)
	}
	doc := activityTypeDoc{
		Code:          t.Code,
		Category:      string(t.Category),
		Unit:          t.Unit,
		Name:          t.Name,
		NameEn:        t.NameEn,
		CreatedAt:     toDate(t.CreatedAt),
		CreatedBy:     t.CreatedBy,
		LatestVersion: 1,
		Versions:      []coefficientVersionDoc{versionToDoc(first)},
	}
	_, err := s.activityTypes.InsertOne(ctx, doc)
	return mapErr("create activity type", err)
}

// AddCoefficientVersion appends v if the type's latest version is v.Version-1, in
// one guarded update (see activityTypeDoc).
func (s *Store) AddCoefficientVersion(ctx context.Context, v domain.CoefficientVersion) error {
	filter := bson.D{{Key: "_id", Value: v.TypeCode}, {Key: "latest_version", Value: v.Version - 1}}
	update := bson.D{
		{Key: "$push", Value: bson.D{{Key: "versions", Value: versionToDoc(v)}}},
		{Key: "$set", Value: bson.D{{Key: "latest_version", Value: v.Version}}},
	}
	res, err := s.activityTypes.UpdateOne(ctx, filter, update)
	if err != nil {
		return mapErr("add coefficient version", err)
	}
	if res.MatchedCount > 0 {
		return nil
	}
	found, err := exists(ctx, s.activityTypes, v.TypeCode)
	if err != nil {
		return err
	}
	if found {
		return domain.ErrConflict
	}
	return domain.ErrNotFound
}

// allActivityTypes reads the whole catalog in code order (primary index).
func (s *Store) allActivityTypes(ctx context.Context, op string, projection bson.D) ([]activityTypeDoc, error) {
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}})
	if projection != nil {
		opts.SetProjection(projection)
	}
	cur, err := s.activityTypes.Find(ctx, bson.D{}, opts)
	if err != nil {
		return nil, mapErr(op, err)
	}
	var docs []activityTypeDoc
	if err := cur.All(ctx, &docs); err != nil {
		if errors.Is(err, mongodrv.ErrNoDocuments) {
			return nil, nil
		}
		return nil, fmt.Errorf("mongo: %s: read: %w", op, err)
	}
	return docs, nil
}

// ListActivityTypes returns every type, ordered by code, without the versions.
func (s *Store) ListActivityTypes(ctx context.Context) ([]domain.ActivityType, error) {
	docs, err := s.allActivityTypes(ctx, "list activity types", bson.D{{Key: "versions", Value: 0}})
	if err != nil {
		return nil, err
	}
	out := make([]domain.ActivityType, 0, len(docs))
	for _, d := range docs {
		out = append(out, d.toDomain())
	}
	return out, nil
}

// ListCoefficientVersions returns every version of every type, ordered by type
// code then version (versions are stored in the order they were appended, which
// is version order because each append is guarded by the previous version).
func (s *Store) ListCoefficientVersions(ctx context.Context) ([]domain.CoefficientVersion, error) {
	docs, err := s.allActivityTypes(ctx, "list coefficient versions", bson.D{{Key: "versions", Value: 1}})
	if err != nil {
		return nil, err
	}
	out := []domain.CoefficientVersion{}
	for _, d := range docs {
		for _, v := range d.Versions {
			out = append(out, v.toDomain(d.Code))
		}
	}
	return out, nil
}
