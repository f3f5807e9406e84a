package mongo

import (
	"context"
	"errors"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// citizenDoc is a citizen as stored. The account totals are written only by the
// ledger (with $inc), never by profile saves.
type citizenDoc struct {
	ID                string      `bson:"_id"`
	Identity          identityDoc `bson:"identity"`
	Phone             string      `bson:"phone"`
	Nickname          string      `bson:"nickname"`
	District          string      `bson:"district"`
	LeaderboardOptOut bool        `bson:"leaderboard_opt_out"`
	Balance           int64       `bson:"balance"`
	CO2eGramsTotal    int64       `bson:"co2e_g_total"`
	PointsEarnedTotal int64       `bson:"points_earned_total"`
	CreatedAt         time.Time   `bson:"created_at"`
	UpdatedAt         time.Time   `bson:"updated_at"`
	ErasedAt          *time.Time  `bson:"erased_at"`
	Version           int64       `bson:"version"`
	// LedgerSeq counts changes to the account (see actions.go); written only by the
	// ledger code, which also owns the usage, pending, recovery_fence,
	// claim_fence and held fields that this struct leaves out.
	LedgerSeq int64 `bson:"ledger_seq"`
}

type identityDoc struct {
	Provider string `bson:"provider"`
	Subject  string `bson:"subject"`
}

func citizenToDoc(c domain.Citizen) citizenDoc {
	return citizenDoc{
		ID:                c.ID,
		Identity:          identityDoc{Provider: c.Identity.Provider, Subject: c.Identity.Subject},
		Phone:             c.Phone,
		Nickname:          c.Nickname,
		District:          c.District,
		LeaderboardOptOut: c.LeaderboardOptOut,
		Balance:           c.Balance,
		CO2eGramsTotal:    c.CO2eGramsTotal,
		PointsEarnedTotal: c.PointsEarnedTotal,
		CreatedAt:         toDate(c.CreatedAt),
		UpdatedAt:         toDate(c.UpdatedAt),
		ErasedAt:          toDatePtr(c.ErasedAt),
		Version:           c.Version,
	}
}

func (d citizenDoc) toDomain() domain.Citizen {
	return domain.Citizen{
		ID:                d.ID,
		Identity:          domain.Identity{Provider: d.Identity.Provider, Subject: d.Identity.Subject},
		Phone:             d.Phone,
		Nickname:          d.Nickname,
		District:          d.District,
		LeaderboardOptOut: d.LeaderboardOptOut,
		Balance:           d.Balance,
		CO2eGramsTotal:    d.CO2eGramsTotal,
		PointsEarnedTotal: d.PointsEarnedTotal,
		CreatedAt:         fromDate(d.CreatedAt),
		UpdatedAt:         fromDate(d.UpdatedAt),
		ErasedAt:          fromDatePtr(d.ErasedAt),
		Version:           d.Version,
	}
}

func identityFilter(id domain.Identity) bson.D {
	return bson.D{{Key: "identity.provider", Value: id.Provider}, {Key: "identity.subject", Value: id.Subject}}
}

// FindOrCreateCitizen is one atomic upsert on the unique identity index: the draft
// is written only if no citizen has the identity, and the returned _id tells whether
// it was ours.
func (s *Store) FindOrCreateCitizen(ctx context.Context, draft domain.Citizen) (domain.Citizen, bool, error) {
	if draft.ID == "" {
		draft.ID = domain.NewID(time.Now())
	}
	filter := identityFilter(draft.Identity)
	update := bson.D{{Key: "$setOnInsert", Value: citizenToDoc(draft)}}
	opts := options.FindOneAndUpdate().SetUpsert(true).SetReturnDocument(options.After)

	var doc citizenDoc
	err := s.citizens.FindOneAndUpdate(ctx, filter, update, opts).Decode(&doc)
	if isDuplicateKey(err) {
		// Two upserts for a new identity can both miss the document and both try to
		// insert; the unique index lets one win and the loser fails here. The
		// winner's document exists now, so the loser just reads it.
		err = s.citizens.FindOne(ctx, filter).Decode(&doc)
		if err != nil {
			return domain.Citizen{}, false, mapErr("find citizen after duplicate upsert", err)
		}
		return doc.toDomain(), false, nil
	}
	if err != nil {
		return domain.Citizen{}, false, mapErr("upsert citizen", err)
	}
	return doc.toDomain(), doc.ID == draft.ID, nil
}

// ledgerOnlyFields are the parts of a citizen document the profile never needs.
var ledgerOnlyFields = bson.D{{Key: "usage", Value: 0}, {Key: "pending", Value: 0}, {Key: "held", Value: 0}}

// GetCitizen reads one citizen by id.
func (s *Store) GetCitizen(ctx context.Context, id string) (domain.Citizen, error) {
	var doc citizenDoc
	opts := options.FindOne().SetProjection(ledgerOnlyFields)
	if err := s.citizens.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, opts).Decode(&doc); err != nil {
		return domain.Citizen{}, mapErr("get citizen", err)
	}
	return doc.toDomain(), nil
}

// SaveCitizenProfile writes the profile fields guarded by the version (optimistic
// concurrency) and returns the stored document, so the caller sees current totals
// even if the ledger moved them meanwhile.
func (s *Store) SaveCitizenProfile(ctx context.Context, c domain.Citizen) (domain.Citizen, error) {
	d := citizenToDoc(c)
	filter := bson.D{{Key: "_id", Value: c.ID}, {Key: "version", Value: c.Version}}
	update := bson.D{
		{Key: "$set", Value: bson.D{
			{Key: "identity", Value: d.Identity},
			{Key: "phone", Value: d.Phone},
			{Key: "nickname", Value: d.Nickname},
			{Key: "district", Value: d.District},
			{Key: "leaderboard_opt_out", Value: d.LeaderboardOptOut},
			{Key: "updated_at", Value: d.UpdatedAt},
			{Key: "erased_at", Value: d.ErasedAt},
		}},
		{Key: "$inc", Value: bson.D{{Key: "version", Value: int64(1)}}},
	}
	opts := options.FindOneAndUpdate().SetReturnDocument(options.After)

	var doc citizenDoc
	err := s.citizens.FindOneAndUpdate(ctx, filter, update, opts).Decode(&doc)
	if errors.Is(err, mongodrv.ErrNoDocuments) {
		// The guard missed: either the citizen is gone or the version moved.
		exists, xerr := exists(ctx, s.citizens, c.ID)
		if xerr != nil {
			return domain.Citizen{}, xerr
		}
		if exists {
			return domain.Citizen{}, domain.ErrConflict
		}
		return domain.Citizen{}, domain.ErrNotFound
	}
	if err != nil {
		// A duplicate key here means the new identity belongs to another citizen.
		return domain.Citizen{}, mapErr("save citizen profile", err)
	}
	return doc.toDomain(), nil
}
