package mongo

// Redemptions without multi-document transactions.
//
// RedeemVoucher:
//
//  1. Look the (bank_id, idempotency_key) up: a redemption there is a duplicate.
//  2. Read the voucher by code and classify it (unknown or another bank's: not
//     found; expired; redeemed or reversed).
//  3. Insert the redemption as "pending". The unique (bank_id, idempotency_key)
//     and voucher_id indexes make one redemption per key and per voucher win,
//     however many race.
//  4. Guarded update of the voucher {status issued, expires_at > redeemed_at,
//     redemption_fence not this redemption} → redeemed; this excludes the
//     expiry's mark (issued → expiring) and the recovery's undo. If it misses, the
//     pending redemption is deleted (undone) and the voucher re-classified.
//  5. Set the redemption "done".
//
// ReverseRedemption:
//
//  1. Guarded update of the redemption {state done, no reversed_at, redeemed_at
//     after at-window} → reversed_at, reason, refund entry id, reversal "open".
//     That is the decision: one reversal wins; losers re-read and are told.
//  2. Mark the voucher redeemed → "reversing", with reversal_id.
//  3. Refund through the citizen's compare-and-set with a pending item, exactly
//     as an expiry does (vouchers_expire.go applyRefund/completeRefund), but with
//     CauseType "redemption", CauseID the redemption; completing it sets the
//     voucher "reversed".
//  4. Close the reversal on the redemption.
//
// completeInterruptedRedemptions (run by CompleteInterruptedClaims) finishes a
// pending redemption whose voucher was redeemed and deletes the others, after
// setting the voucher's redemption_fence to it with a write guarded by "not
// redeemed": a stalled request waking up after the undo then misses step 4
// (otherwise it would redeem the voucher for a redemption that no longer exists,
// so that it could be neither reversed nor refunded). It finishes every open
// reversal (steps 2-4 are idempotent).

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

var _ domain.RedemptionStore = (*Store)(nil)

const collRedemptions = "redemptions"

func (s *Store) redemptions() *mongodrv.Collection { return s.db.Collection(collRedemptions) }

// Voucher statuses of redemption; "reversing" is the adapter's own and reads as reversed.
const (
	voucherRedeemed  = string(domain.VoucherRedeemed)
	voucherReversed  = string(domain.VoucherReversed)
	voucherReversing = "reversing"
)

// The steps of RedeemVoucher and ReverseRedemption a crash test can stop after
// (testHooks.redemptionStep; the refund's own steps are testHooks.refundStep's).
const (
	redemptionStepInserted = "redemption_inserted" // step 3
	redemptionStepRedeemed = "redemption_redeemed" // step 4, before step 5
	reversalStepDecided    = "reversal_decided"    // step 1
	reversalStepReversing  = "reversal_reversing"  // step 2
	reversalStepRefunded   = "reversal_refunded"   // step 3, before step 4
)

// errRedemptionAbandoned: the redemption stalled past the recovery grace period
// and CompleteInterruptedClaims undid it; the voucher was not redeemed and the
// bank may send the request again.
var errRedemptionAbandoned = domain.Errorf(domain.KindUnavailable, "redemption_abandoned",
	"redeeming this voucher took too long and was undone; nothing was redeemed, send the request again")

// Redemption states as stored.
const (
	redemptionPending = "pending"
	redemptionDone    = "done"
	reversalOpen      = "open"
	reversalClosed    = "closed"
)

type redemptionDoc struct {
	ID             string     `bson:"_id"`
	State          string     `bson:"state"`
	VoucherID      string     `bson:"voucher_id"`
	VoucherCode    string     `bson:"voucher_code"`
	BankID         string     `bson:"bank_id"`
	BenefitID      string     `bson:"benefit_id"`
	CitizenID      string     `bson:"citizen_id"`
	PointsSpent    int64      `bson:"points_spent"`
	ExternalRef    string     `bson:"external_ref"`
	IdempotencyKey string     `bson:"idempotency_key"`
	RedeemedAt     time.Time  `bson:"redeemed_at"`
	ReversedAt     *time.Time `bson:"reversed_at,omitempty"`
	ReversalReason string     `bson:"reversal_reason,omitempty"`
	RefundEntryID  string     `bson:"refund_entry_id,omitempty"`
	Reversal       string     `bson:"reversal,omitempty"` // "open" until the refund is finished, then "closed"
}

func (d redemptionDoc) toDomain() domain.Redemption {
	return domain.Redemption{
		ID: d.ID, VoucherID: d.VoucherID, VoucherCode: d.VoucherCode, BankID: d.BankID, BenefitID: d.BenefitID,
		CitizenID: d.CitizenID, PointsSpent: d.PointsSpent, ExternalRef: d.ExternalRef, IdempotencyKey: d.IdempotencyKey,
		RedeemedAt: fromDate(d.RedeemedAt), ReversedAt: fromDatePtr(d.ReversedAt), ReversalReason: d.ReversalReason,
		RefundEntryID: d.RefundEntryID,
	}
}

func (s *Store) findRedemption(ctx context.Context, filter bson.D) (redemptionDoc, error) {
	var d redemptionDoc
	err := s.redemptions().FindOne(ctx, filter).Decode(&d)
	return d, mapErr("find redemption", err)
}

// classifyVoucher is step 2: why v cannot be redeemed by bankID at at, or nil.
func classifyVoucher(v voucherDoc, bankID string, at time.Time) error {
	switch {
	case v.BankID != bankID || v.Status == voucherClaiming:
		return domain.ErrNotFound
	case v.Status == voucherExpired || v.Status == voucherExpiring:
		return domain.ErrVoucherExpired
	case v.Status != voucherIssued:
		return domain.ErrVoucherAlreadyRedeemed
	case !v.ExpiresAt.After(at):
		return domain.ErrVoucherExpired
	}
	return nil
}

// RedeemVoucher redeems in steps; see the top of this file.
func (s *Store) RedeemVoucher(ctx context.Context, r domain.Redemption) (domain.Redemption, error) {
	byKey := bson.D{{Key: "bank_id", Value: r.BankID}, {Key: "idempotency_key", Value: r.IdempotencyKey}}
	if d, err := s.findRedemption(ctx, byKey); err == nil {
		return domain.Redemption{}, &domain.DuplicateRedemptionError{Existing: d.toDomain()}
	} else if !errors.Is(err, domain.ErrNotFound) {
		return domain.Redemption{}, err
	}
	at := toDate(r.RedeemedAt)
	var v voucherDoc
	if err := s.vouchers.FindOne(ctx, bson.D{{Key: "code", Value: r.VoucherCode}}).Decode(&v); err != nil {
		return domain.Redemption{}, mapErr("find voucher by code", err)
	}
	if err := classifyVoucher(v, r.BankID, at); err != nil {
		return domain.Redemption{}, err
	}
	d := redemptionDoc{
		ID: r.ID, State: redemptionPending, VoucherID: v.ID, VoucherCode: r.VoucherCode, BankID: r.BankID,
		BenefitID: v.BenefitID, CitizenID: v.CitizenID, PointsSpent: v.PointsSpent, ExternalRef: r.ExternalRef,
		IdempotencyKey: r.IdempotencyKey, RedeemedAt: at,
	}
	if _, err := s.redemptions().InsertOne(ctx, d); err != nil {
		if !isDuplicateKey(err) {
			return domain.Redemption{}, mapErr("insert redemption", err)
		}
		if existing, ferr := s.findRedemption(ctx, byKey); ferr == nil {
			return domain.Redemption{}, &domain.DuplicateRedemptionError{Existing: existing.toDomain()}
		}
		return domain.Redemption{}, domain.ErrVoucherAlreadyRedeemed // another redemption holds the voucher
	}
	if err := runHook(s.hooks.redemptionStep, redemptionStepInserted); err != nil {
		return domain.Redemption{}, err
	}
	res, err := s.vouchers.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: v.ID}, {Key: "status", Value: voucherIssued}, {Key: "expires_at", Value: bson.D{{Key: "$gt", Value: at}}},
			{Key: "redemption_fence", Value: bson.D{{Key: "$ne", Value: d.ID}}}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: voucherRedeemed}}}})
	if err != nil || res.MatchedCount == 0 {
		// Undo: the pending redemption never took effect. If the update's outcome
		// is unknown (err), recovery decides from the voucher later.
		if err != nil {
			return domain.Redemption{}, mapErr("redeem voucher", err)
		}
		if _, derr := s.redemptions().DeleteOne(context.WithoutCancel(ctx), bson.D{{Key: "_id", Value: d.ID}}); derr != nil {
			return domain.Redemption{}, mapErr("undo redemption", derr)
		}
		if err := s.vouchers.FindOne(ctx, bson.D{{Key: "_id", Value: v.ID}}).Decode(&v); err != nil {
			return domain.Redemption{}, mapErr("re-read voucher", err)
		}
		if err := classifyVoucher(v, r.BankID, at); err != nil {
			return domain.Redemption{}, err
		}
		if v.RedemptionFence == d.ID {
			return domain.Redemption{}, errRedemptionAbandoned
		}
		return domain.Redemption{}, domain.ErrVoucherAlreadyRedeemed
	}
	if err := runHook(s.hooks.redemptionStep, redemptionStepRedeemed); err != nil {
		return domain.Redemption{}, err
	}
	if err := s.finishRedemption(ctx, d.ID); err != nil {
		return domain.Redemption{}, err
	}
	d.State = redemptionDone
	return d.toDomain(), nil
}

func (s *Store) finishRedemption(ctx context.Context, id string) error {
	_, err := s.redemptions().UpdateOne(ctx, bson.D{{Key: "_id", Value: id}, {Key: "state", Value: redemptionPending}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "state", Value: redemptionDone}}}})
	return mapErr("finish redemption", err)
}

// ReverseRedemption reverses in steps; see the top of this file.
func (s *Store) ReverseRedemption(ctx context.Context, bankID, id, reason string, at time.Time, window time.Duration, refundEntryID string) (domain.Redemption, error) {
	mine := bson.D{{Key: "_id", Value: id}, {Key: "bank_id", Value: bankID}, {Key: "state", Value: redemptionDone}}
	when := toDate(at)
	filter := append(mine,
		bson.E{Key: "reversed_at", Value: bson.D{{Key: "$exists", Value: false}}},
		bson.E{Key: "redeemed_at", Value: bson.D{{Key: "$gt", Value: toDate(at.Add(-window))}}})
	res, err := s.redemptions().UpdateOne(ctx, filter, bson.D{{Key: "$set", Value: bson.D{
		{Key: "reversed_at", Value: when}, {Key: "reversal_reason", Value: reason},
		{Key: "refund_entry_id", Value: refundEntryID}, {Key: "reversal", Value: reversalOpen},
	}}})
	if err != nil {
		return domain.Redemption{}, mapErr("reverse redemption", err)
	}
	d, err := s.findRedemption(ctx, mine)
	if err != nil {
		return domain.Redemption{}, err
	}
	if res.MatchedCount == 0 {
		if d.ReversedAt != nil {
			return domain.Redemption{}, &domain.RedemptionReversedError{Existing: d.toDomain()}
		}
		return domain.Redemption{}, domain.ErrReversalWindowClosed
	}
	if err := runHook(s.hooks.redemptionStep, reversalStepDecided); err != nil {
		return domain.Redemption{}, err
	}
	if err := s.completeReversal(ctx, d); err != nil {
		return domain.Redemption{}, err
	}
	return d.toDomain(), nil
}

// completeReversal is steps 2-4 for a redemption whose reversal was decided;
// every step may be repeated.
func (s *Store) completeReversal(ctx context.Context, d redemptionDoc) error {
	if d.ReversedAt == nil || d.RefundEntryID == "" {
		return fmt.Errorf("mongo: redemption %s has no reversal", d.ID)
	}
	_, err := s.vouchers.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.VoucherID}, {Key: "status", Value: voucherRedeemed}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: voucherReversing}, {Key: "reversal_id", Value: d.ID}}}})
	if err != nil {
		return mapErr("mark voucher reversing", err)
	}
	if err := runHook(s.hooks.redemptionStep, reversalStepReversing); err != nil {
		return err
	}
	// The refund of an expiry, with the reversal's entry, time and cause.
	v := voucherDoc{ID: d.VoucherID, CitizenID: d.CitizenID, PointsSpent: d.PointsSpent, Status: voucherReversing,
		RefundEntryID: d.RefundEntryID, RefundAt: d.ReversedAt, ReversalID: d.ID}
	if err := s.applyRefund(ctx, v); err != nil {
		return err
	}
	if err := runHook(s.hooks.redemptionStep, reversalStepRefunded); err != nil {
		return err
	}
	_, err = s.redemptions().UpdateOne(ctx, bson.D{{Key: "_id", Value: d.ID}, {Key: "reversal", Value: reversalOpen}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "reversal", Value: reversalClosed}}}})
	return mapErr("close reversal", err)
}

// completeInterruptedRedemptions finishes redemptions and reversals a crash
// left half done before cutoff; see the top of this file.
func (s *Store) completeInterruptedRedemptions(ctx context.Context, cutoff time.Time) error {
	var pending []redemptionDoc
	filter := bson.D{{Key: "state", Value: redemptionPending}, {Key: "redeemed_at", Value: bson.D{{Key: "$lt", Value: cutoff}}}}
	if err := findAll(ctx, s.redemptions(), "find interrupted redemptions", filter, options.Find(), &pending); err != nil {
		return err
	}
	for _, d := range pending {
		var v voucherDoc
		err := s.vouchers.FindOne(ctx, bson.D{{Key: "_id", Value: d.VoucherID}}).Decode(&v)
		if err != nil && !errors.Is(err, mongodrv.ErrNoDocuments) {
			return mapErr("read redeemed voucher", err)
		}
		redeemed := err == nil && v.Status != voucherIssued && v.Status != voucherExpired && v.Status != voucherExpiring
		if err == nil && !redeemed {
			// Fence the redemption off the voucher, unless it redeemed it meanwhile.
			res, err := s.vouchers.UpdateOne(ctx, bson.D{{Key: "_id", Value: d.VoucherID},
				{Key: "status", Value: bson.D{{Key: "$nin", Value: bson.A{voucherRedeemed, voucherReversing, voucherReversed}}}}},
				bson.D{{Key: "$set", Value: bson.D{{Key: "redemption_fence", Value: d.ID}}}})
			if err != nil {
				return mapErr("fence interrupted redemption", err)
			}
			redeemed = res.MatchedCount == 0
		}
		if redeemed {
			// Redeemed (it holds the unique voucher_id, so by this redemption).
			if err := s.finishRedemption(ctx, d.ID); err != nil {
				return err
			}
			continue
		}
		if _, err := s.redemptions().DeleteOne(ctx, bson.D{{Key: "_id", Value: d.ID}, {Key: "state", Value: redemptionPending}}); err != nil {
			return mapErr("undo redemption", err)
		}
	}
	var open []redemptionDoc
	filter = bson.D{{Key: "reversal", Value: reversalOpen}, {Key: "reversed_at", Value: bson.D{{Key: "$lt", Value: cutoff}}}}
	if err := findAll(ctx, s.redemptions(), "find interrupted reversals", filter, options.Find(), &open); err != nil {
		return err
	}
	for _, d := range open {
		if err := s.completeReversal(ctx, d); err != nil {
			return err
		}
	}
	return nil
}

// GetRedemption returns the bank's finished redemption id.
func (s *Store) GetRedemption(ctx context.Context, bankID, id string) (domain.Redemption, error) {
	d, err := s.findRedemption(ctx, bson.D{{Key: "_id", Value: id}, {Key: "bank_id", Value: bankID}, {Key: "state", Value: redemptionDone}})
	if err != nil {
		return domain.Redemption{}, err
	}
	return d.toDomain(), nil
}

// ListRedemptions returns the bank's finished redemptions in [from, to) by id.
func (s *Store) ListRedemptions(ctx context.Context, bankID string, from, to time.Time, afterID string, limit int) ([]domain.Redemption, error) {
	if limit <= 0 {
		return nil, nil
	}
	filter := bson.D{
		{Key: "bank_id", Value: bankID}, {Key: "state", Value: redemptionDone},
		{Key: "redeemed_at", Value: bson.D{{Key: "$gte", Value: toDate(from)}, {Key: "$lt", Value: toDate(to)}}},
		{Key: "_id", Value: bson.D{{Key: "$gt", Value: afterID}}},
	}
	var docs []redemptionDoc
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit))
	if err := findAll(ctx, s.redemptions(), "list redemptions", filter, opts, &docs); err != nil {
		return nil, err
	}
	out := make([]domain.Redemption, len(docs))
	for i, d := range docs {
		out[i] = d.toDomain()
	}
	return out, nil
}
