package mongo

import (
	"context"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

var _ domain.BenefitStore = (*Store)(nil)

// benefitDoc is a benefit as stored in `benefits`. Everything but the stock
// counters is written once, by CreateBenefit.
//
// Claimed counts the units of stock taken: vouchers issued plus claims in flight
// that reserved a unit (see ClaimBenefit in vouchers.go). Reserved lists the
// voucher ids of those in-flight reservations, so that taking, keeping and giving
// back a unit are each idempotent single-document updates:
//
//   - reserve: {claimed < stock, voucher not in reserved} → $inc claimed, $push
//     the voucher id;
//   - keep (the claim was issued): $pull the voucher id;
//   - give back (the claim was undone): {voucher in reserved} → $inc claimed -1,
//     $pull the voucher id.
//
// The array only ever holds the claims in flight, so it stays small, and the
// reserved index finds the benefits that have any (CompleteInterruptedClaims).
// Plain strings rather than documents: FerretDB v1 matches an array element in a
// filter only by a scalar or a dotted path, and $pull removes only equal elements.
type benefitDoc struct {
	ID              string    `bson:"_id"`
	BankID          string    `bson:"bank_id"`
	Title           string    `bson:"title"`
	Terms           string    `bson:"terms"`
	Kind            string    `bson:"kind"`
	RateBP          int       `bson:"rate_bp"`
	AmountFen       int64     `bson:"amount_fen"`
	PointsCost      int64     `bson:"points_cost"`
	Stock           int64     `bson:"stock"`
	Claimed         int64     `bson:"claimed"`
	PerCitizenLimit int       `bson:"per_citizen_limit"`
	MinLevel        int       `bson:"min_level"`
	Districts       []string  `bson:"districts"`
	ValidFrom       time.Time `bson:"valid_from"`
	ValidUntil      time.Time `bson:"valid_until"`
	// VoucherTTLMs is the voucher lifetime in milliseconds, the precision times
	// are kept at.
	VoucherTTLMs int64     `bson:"voucher_ttl_ms"`
	CreatedAt    time.Time `bson:"created_at"`
	CreatedBy    string    `bson:"created_by"`
}

func benefitToDoc(b domain.Benefit) benefitDoc {
	return benefitDoc{
		ID: b.ID, BankID: b.BankID, Title: b.Title, Terms: b.Terms, Kind: string(b.Kind),
		RateBP: b.RateBP, AmountFen: b.AmountFen, PointsCost: b.PointsCost, Stock: b.Stock,
		PerCitizenLimit: b.PerCitizenLimit, MinLevel: b.MinLevel, Districts: b.Districts,
		ValidFrom: toDate(b.ValidFrom), ValidUntil: toDate(b.ValidUntil),
		VoucherTTLMs: b.VoucherTTL.Milliseconds(),
		CreatedAt:    toDate(b.CreatedAt), CreatedBy: b.CreatedBy,
	}
}

func (d benefitDoc) toDomain() domain.Benefit {
	return domain.Benefit{
		ID: d.ID, BankID: d.BankID, Title: d.Title, Terms: d.Terms, Kind: domain.BenefitKind(d.Kind),
		RateBP: d.RateBP, AmountFen: d.AmountFen, PointsCost: d.PointsCost, Stock: d.Stock, Claimed: d.Claimed,
		PerCitizenLimit: d.PerCitizenLimit, MinLevel: d.MinLevel, Districts: d.Districts,
		ValidFrom: fromDate(d.ValidFrom), ValidUntil: fromDate(d.ValidUntil),
		VoucherTTL: time.Duration(d.VoucherTTLMs) * time.Millisecond,
		CreatedAt:  fromDate(d.CreatedAt), CreatedBy: d.CreatedBy,
	}
}

// withoutReserved leaves the in-flight reservations out of a benefit read.
var withoutReserved = bson.D{{Key: "reserved", Value: 0}}

// CreateBenefit inserts b with nothing claimed; a taken id is ErrConflict.
func (s *Store) CreateBenefit(ctx context.Context, b domain.Benefit) error {
	_, err := s.benefits.InsertOne(ctx, benefitToDoc(b))
	return mapErr("create benefit", err)
}

// GetBenefit reads one benefit by id.
func (s *Store) GetBenefit(ctx context.Context, id string) (domain.Benefit, error) {
	var doc benefitDoc
	err := s.benefits.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(withoutReserved)).Decode(&doc)
	if err != nil {
		return domain.Benefit{}, mapErr("get benefit", err)
	}
	return doc.toDomain(), nil
}

// ListBenefits pages by _id: on the primary index for every bank's benefits, on
// the (bank_id, _id) index for one bank's.
func (s *Store) ListBenefits(ctx context.Context, bankID, afterID string, limit int) ([]domain.Benefit, error) {
	out := []domain.Benefit{}
	if limit <= 0 {
		return out, nil
	}
	var filter bson.D
	if bankID != "" {
		filter = append(filter, bson.E{Key: "bank_id", Value: bankID})
	}
	filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$gt", Value: afterID}}})
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)).SetProjection(withoutReserved)
	var docs []benefitDoc
	if err := findAll(ctx, s.benefits, "list benefits", filter, opts, &docs); err != nil {
		return nil, err
	}
	for _, d := range docs {
		out = append(out, d.toDomain())
	}
	return out, nil
}

// reserveStock takes one unit of the benefit's stock for a claim, if one is left
// (stock never changes after CreateBenefit, so the stock that was read is the
// stock); false if none is, or the claim holds one already.
func (s *Store) reserveStock(ctx context.Context, benefitID string, stock int64, voucherID string) (bool, error) {
	filter := bson.D{
		{Key: "_id", Value: benefitID},
		{Key: "claimed", Value: bson.D{{Key: "$lt", Value: stock}}},
		{Key: "reserved", Value: bson.D{{Key: "$ne", Value: voucherID}}},
	}
	update := bson.D{
		{Key: "$inc", Value: bson.D{{Key: "claimed", Value: int64(1)}}},
		{Key: "$push", Value: bson.D{{Key: "reserved", Value: voucherID}}},
	}
	res, err := s.benefits.UpdateOne(ctx, filter, update)
	if err != nil {
		return false, mapErr("reserve stock", err)
	}
	return res.MatchedCount > 0, nil
}

// releaseStock gives the unit reserved for a voucher back, if the reservation
// is there. Repeating it is a no-op.
func (s *Store) releaseStock(ctx context.Context, benefitID, voucherID string) (bool, error) {
	filter := bson.D{{Key: "_id", Value: benefitID}, {Key: "reserved", Value: voucherID}}
	update := bson.D{
		{Key: "$inc", Value: bson.D{{Key: "claimed", Value: int64(-1)}}},
		{Key: "$pull", Value: bson.D{{Key: "reserved", Value: voucherID}}},
	}
	res, err := s.benefits.UpdateOne(ctx, filter, update)
	if err != nil {
		return false, mapErr("release stock", err)
	}
	return res.MatchedCount > 0, nil
}

// keepStock turns a reservation into a unit claimed for good: it only forgets
// the reservation. Repeating it is a no-op.
func (s *Store) keepStock(ctx context.Context, benefitID, voucherID string) error {
	_, err := s.benefits.UpdateOne(ctx, bson.D{{Key: "_id", Value: benefitID}},
		bson.D{{Key: "$pull", Value: bson.D{{Key: "reserved", Value: voucherID}}}})
	return mapErr("keep stock", err)
}
