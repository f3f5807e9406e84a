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

// CompleteInterruptedClaims finishes what crashes left between the steps of
// ClaimBenefit (see vouchers.go) and of an expiry (vouchers_expire.go), for
// claims that started before `before`:
//
//  1. Committed ones: every pending claim item older than `before` (citizens found
//     by the pending.at index) is completed: ledger entry, unit of stock kept,
//     voucher issued, item removed, each step idempotent, so racing a live
//     request that finishes the same item is harmless. Pending refund items are
//     completed the same way.
//  2. Vouchers still "claiming" since before `before` (the (status, issued_at)
//     index): if the citizen lists the claim as pending it is completed as above;
//     otherwise it was never committed and is undone: the citizen's claim_fence is
//     raised to the voucher id, with a write guarded by "this claim is not
//     pending" that also bumps ledger_seq, so the claim can never commit later (a
//     stalled request's compare-and-set misses, and its next read sees the fence);
//     then its unit of stock is given back if the benefit still lists the
//     reservation, and the voucher is deleted, which frees its key and code.
//  3. Reservations whose voucher is gone are given back, whatever their age: a
//     voucher is deleted only by an undo (step 2, or its own request's), after
//     which its claim can never commit, so a unit still reserved for it is one a
//     stalled request took after the undo and then died (or is about to give back
//     itself: the two releases are guarded, one lands). Reservations whose voucher
//     was issued are kept (their request died between committing and keeping).
//  4. Vouchers marked for expiry before `before` whose refund never got going are
//     refunded (the next ExpireVouchers would do it too).
//
// completed counts the claims completed, undone those undone (steps 1 and 2).
func (s *Store) CompleteInterruptedClaims(ctx context.Context, before time.Time) (completed, undone int, err error) {
	cutoff := toDate(before)
	done, err := s.completePendingBefore(ctx, cutoff, pendingClaim, pendingRefund)
	completed = done[pendingClaim]
	if err != nil {
		return completed, 0, err
	}
	filter := bson.D{{Key: "status", Value: voucherClaiming}, {Key: "issued_at", Value: bson.D{{Key: "$lt", Value: cutoff}}}}
	var stale []voucherDoc
	if err := findAll(ctx, s.vouchers, "find interrupted claims", filter, options.Find(), &stale); err != nil {
		return completed, 0, err
	}
	for _, v := range stale {
		c, u, err := s.settleClaim(ctx, v)
		completed, undone = completed+c, undone+u
		if err != nil {
			return completed, undone, err
		}
	}
	if err := s.giveBackLeftReservations(ctx); err != nil {
		return completed, undone, err
	}
	err = s.resumeExpiries(ctx, bson.D{{Key: "refund_at", Value: bson.D{{Key: "$lt", Value: cutoff}}}}, 1000)
	if err == nil {
		err = s.completeInterruptedRedemptions(ctx, cutoff) // redemptions.go
	}
	return completed, undone, err
}

// settleClaim completes the stale claim v if it was committed and undoes it
// otherwise (see CompleteInterruptedClaims for the fence).
func (s *Store) settleClaim(ctx context.Context, v voucherDoc) (completed, undone int, err error) {
	filter := bson.D{
		{Key: "_id", Value: v.CitizenID},
		{Key: "pending.claim_voucher_id", Value: bson.D{{Key: "$ne", Value: v.ID}}},
	}
	update := bson.D{
		{Key: "$max", Value: bson.D{{Key: "claim_fence", Value: v.ID}}},
		{Key: "$inc", Value: bson.D{{Key: "ledger_seq", Value: int64(1)}}},
	}
	res, err := s.citizens.UpdateOne(ctx, filter, update)
	if err != nil {
		return 0, 0, mapErr("fence interrupted claim", err)
	}
	if res.MatchedCount > 0 {
		undone, err = s.undoClaim(ctx, v)
		return 0, undone, err
	}
	// Either the citizen does not exist (nothing can have been committed) or the
	// claim is pending: committed, so finish it.
	var h pendingHolder
	err = s.citizens.FindOne(ctx, bson.D{{Key: "_id", Value: v.CitizenID}},
		options.FindOne().SetProjection(bson.D{{Key: "pending", Value: 1}})).Decode(&h)
	if errors.Is(err, mongodrv.ErrNoDocuments) {
		undone, err = s.undoClaim(ctx, v)
		return 0, undone, err
	}
	if err != nil {
		return 0, 0, mapErr("read pending claims", err)
	}
	for _, raw := range h.Pending {
		var item pendingDoc
		if err := bson.Unmarshal(raw, &item); err != nil {
			return 0, 0, fmt.Errorf("mongo: decode pending item of citizen %s: %w", v.CitizenID, err)
		}
		if item.ClaimVoucherID == v.ID {
			return 1, 0, s.completeClaim(ctx, v.CitizenID, raw, item, nil)
		}
	}
	return 0, 0, nil // completed meanwhile by its own request
}

// undoClaim gives back the unit of stock of a claim that can no longer commit,
// if it holds one, then deletes its voucher; (count, err). Giving back first
// leaves, after a crash in between, a claiming voucher that the next pass undoes
// again (each step is a no-op the second time).
func (s *Store) undoClaim(ctx context.Context, v voucherDoc) (int, error) {
	if _, err := s.releaseStock(ctx, v.BenefitID, v.ID); err != nil {
		return 0, err
	}
	res, err := s.vouchers.DeleteOne(ctx, bson.D{{Key: "_id", Value: v.ID}, {Key: "status", Value: voucherClaiming}})
	if err != nil {
		return 0, mapErr("remove interrupted claim", err)
	}
	return int(res.DeletedCount), nil
}

// reservationHolder is a benefit reduced to its reservations.
type reservationHolder struct {
	ID       string   `bson:"_id"`
	Reserved []string `bson:"reserved"`
}

// giveBackLeftReservations settles reservations that no claiming voucher owns
// any more (step 3 of CompleteInterruptedClaims). Benefits with reservations are
// found through the reserved index (every voucher id is above "").
func (s *Store) giveBackLeftReservations(ctx context.Context) error {
	filter := bson.D{{Key: "reserved", Value: bson.D{{Key: "$gt", Value: ""}}}}
	var holders []reservationHolder
	if err := findAll(ctx, s.benefits, "find reservations", filter,
		options.Find().SetProjection(bson.D{{Key: "reserved", Value: 1}}), &holders); err != nil {
		return err
	}
	for _, h := range holders {
		for _, voucherID := range h.Reserved {
			var v struct {
				Status string `bson:"status"`
			}
			err := s.vouchers.FindOne(ctx, bson.D{{Key: "_id", Value: voucherID}},
				options.FindOne().SetProjection(bson.D{{Key: "status", Value: 1}})).Decode(&v)
			switch {
			case errors.Is(err, mongodrv.ErrNoDocuments):
				if _, err := s.releaseStock(ctx, h.ID, voucherID); err != nil {
					return err
				}
			case err != nil:
				return mapErr("find reserving voucher", err)
			case v.Status == voucherClaiming:
				// In flight, or settled by step 2 next time.
			default:
				if err := s.keepStock(ctx, h.ID, voucherID); err != nil {
					return err
				}
			}
		}
	}
	return nil
}
