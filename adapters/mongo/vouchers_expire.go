package mongo

// Expiring vouchers without multi-document transactions.
//
// An expiry touches the voucher, the citizen (balance) and a refund ledger entry.
// The voucher decides first, so that it is either redeemed or refunded, never
// both; then the refund is applied exactly once, whoever applies it:
//
//  1. Mark: {status issued, expires_at <= now} → status "expiring", with the
//     refund entry's id and time fixed on the voucher. A redemption (status issued
//     → redeemed) and this update exclude each other on the one document. This is
//     the point of no return: an expiring voucher reads as expired.
//  2. Apply: read the citizen; if its pending items hold this refund, go to 3; if
//     the refund entry is in the ledger, the refund was applied and finished
//     (the entry is written before the item is pulled): finish the voucher;
//     otherwise compare-and-set on ledger_seq: add the points
//     back (balance only: a refund is no earning, and CO2e never moved) and push
//     a pending item with the finished refund entry. Whoever applied the refund
//     between the read and the write moved ledger_seq, so the write misses and the
//     next attempt sees the item or the entry: a stalled run waking up, a racing
//     run and the recovery pass can all apply the same refund, and it lands once.
//  3. Insert the refund entry, $pull the item, set the voucher "expired" (last,
//     so that an expiring voucher is all a crash can leave, and the next run
//     finishes it).
//
// ExpireVouchers resumes every expiring voucher before marking new ones, so a run
// cut short after step 1 is finished by the next; CompleteInterruptedClaims
// finishes pending refund items (and stale expiring vouchers) too. 7 round trips a
// voucher (mark, read citizen, look the entry up, commit, insert entry, pull,
// finish voucher), plus the reads of each batch.

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

// The steps of an expiry a crash test can stop after (testHooks.refundStep).
const (
	refundStepMarked  = "marked"  // step 1
	refundStepApplied = "applied" // step 2
	refundStepEntry   = "entry"   // step 3, entry inserted
	refundStepPulled  = "pulled"  // step 3, pending item removed
)

// ExpireVouchers expires up to limit due vouchers; see the top of this file. It
// returns how many vouchers it marked (so racing runs add up to the vouchers
// expired); resumed ones were counted by the run that marked them.
func (s *Store) ExpireVouchers(ctx context.Context, now time.Time, limit int, newEntryID func() string) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	if err := s.resumeExpiries(ctx, bson.D{}, limit); err != nil {
		return 0, err
	}
	at := toDate(now)
	filter := bson.D{{Key: "status", Value: voucherIssued}, {Key: "expires_at", Value: bson.D{{Key: "$lte", Value: at}}}}
	opts := options.Find().SetSort(bson.D{{Key: "expires_at", Value: 1}}).SetLimit(int64(limit))
	var due []voucherDoc
	if err := findAll(ctx, s.vouchers, "find due vouchers", filter, opts, &due); err != nil {
		return 0, err
	}
	expired := 0
	for _, v := range due {
		entryID := newEntryID()
		res, err := s.vouchers.UpdateOne(ctx,
			bson.D{{Key: "_id", Value: v.ID}, {Key: "status", Value: voucherIssued}, {Key: "expires_at", Value: bson.D{{Key: "$lte", Value: at}}}},
			bson.D{{Key: "$set", Value: bson.D{
				{Key: "status", Value: voucherExpiring},
				{Key: "refund_entry_id", Value: entryID},
				{Key: "refund_at", Value: at},
			}}})
		if err != nil {
			return expired, mapErr("mark voucher expired", err)
		}
		if res.MatchedCount == 0 {
			continue // redeemed or expired by someone else meanwhile
		}
		expired++
		if err := runHook(s.hooks.refundStep, refundStepMarked); err != nil {
			return expired, err
		}
		v.Status, v.RefundEntryID, v.RefundAt = voucherExpiring, entryID, &at
		if err := s.applyRefund(ctx, v); err != nil {
			return expired, err
		}
	}
	return expired, nil
}

// resumeExpiries finishes up to limit expiring vouchers matching extra.
func (s *Store) resumeExpiries(ctx context.Context, extra bson.D, limit int) error {
	filter := append(bson.D{{Key: "status", Value: voucherExpiring}}, extra...)
	var started []voucherDoc
	if err := findAll(ctx, s.vouchers, "find expiring vouchers", filter, options.Find().SetLimit(int64(limit)), &started); err != nil {
		return err
	}
	for _, v := range started {
		if err := s.applyRefund(ctx, v); err != nil {
			return err
		}
	}
	return nil
}

// applyRefund is steps 2 and 3 for an expiring voucher.
func (s *Store) applyRefund(ctx context.Context, v voucherDoc) error {
	if v.RefundAt == nil || v.RefundEntryID == "" {
		return fmt.Errorf("mongo: expiring voucher %s has no refund entry", v.ID)
	}
	for attempt := range maxApplyAttempts {
		if attempt > 0 {
			if err := pause(ctx, attempt); err != nil {
				return err
			}
		}
		unlock, err := s.accountLocks.lock(ctx, v.CitizenID)
		if err != nil {
			return err
		}
		item, raw, done, err := s.refundAttempt(ctx, v)
		unlock()
		switch {
		case !done:
			continue
		case err != nil || item == nil:
			return err
		}
		if err := runHook(s.hooks.refundStep, refundStepApplied); err != nil {
			return err
		}
		return s.completeRefund(ctx, v.CitizenID, raw, *item, s.hooks.refundStep)
	}
	return errAccountBusy
}

// refundAttempt is one attempt at step 2. It returns the pending item to
// complete, or nil if there is nothing left to do; done is false when the
// compare-and-set missed.
func (s *Store) refundAttempt(ctx context.Context, v voucherDoc) (_ *pendingDoc, _ bson.Raw, done bool, _ error) {
	var acct accountDoc
	err := s.citizens.FindOne(ctx, bson.D{{Key: "_id", Value: v.CitizenID}}, options.FindOne().SetProjection(bson.D{
		{Key: "balance", Value: 1}, {Key: "ledger_seq", Value: 1}, {Key: "pending", Value: 1},
	})).Decode(&acct)
	if errors.Is(err, mongodrv.ErrNoDocuments) {
		// Nobody to give the points to (citizens are never deleted, so this is
		// not expected): the voucher expires without a refund.
		return nil, nil, true, s.finishExpiry(ctx, v.ID, bson.E{Key: "refund_entry_id", Value: ""})
	}
	if err != nil {
		return nil, nil, true, mapErr("refund: read account", err)
	}
	for _, raw := range acct.Pending {
		var item pendingDoc
		if err := bson.Unmarshal(raw, &item); err != nil {
			return nil, nil, true, fmt.Errorf("mongo: decode pending item of citizen %s: %w", v.CitizenID, err)
		}
		if item.RefundVoucherID == v.ID {
			return &item, raw, true, nil // applied, not finished
		}
	}
	applied, err := exists(ctx, s.ledger, v.RefundEntryID)
	if err != nil {
		return nil, nil, true, err
	}
	if applied {
		return nil, nil, true, s.finishExpiry(ctx, v.ID)
	}
	causeType, causeID := "voucher", v.ID
	if v.ReversalID != "" {
		causeType, causeID = domain.RedemptionCause, v.ReversalID // a reversed redemption (redemptions.go)
	}
	item := pendingDoc{
		RefundVoucherID: v.ID,
		At:              toDate(*v.RefundAt),
		Entry: &ledgerEntryDoc{
			ID: v.RefundEntryID, CitizenID: v.CitizenID, Kind: string(domain.LedgerRefund),
			Points: v.PointsSpent, BalanceAfter: acct.Balance + v.PointsSpent,
			CauseType: causeType, CauseID: causeID, CreatedAt: toDate(*v.RefundAt),
		},
	}
	update := bson.D{
		{Key: "$inc", Value: bson.D{{Key: "balance", Value: v.PointsSpent}, {Key: "ledger_seq", Value: int64(1)}}},
		{Key: "$push", Value: bson.D{{Key: "pending", Value: item}}},
	}
	res, err := s.citizens.UpdateOne(ctx, bson.D{{Key: "_id", Value: v.CitizenID}, acct.seqFilter()}, update)
	if err != nil {
		// Applied or not is unknown: the next run finds out, as above.
		return nil, nil, true, mapErr("refund: apply", err)
	}
	if res.MatchedCount == 0 {
		return nil, nil, false, nil
	}
	raw, err := bson.Marshal(item)
	if err != nil {
		return nil, nil, true, fmt.Errorf("mongo: encode pending refund: %w", err)
	}
	return &item, raw, true, nil
}

// completeRefund is step 3, shared with the recovery passes; every step may be
// repeated. hook is the crash tests' (nil in recovery).
func (s *Store) completeRefund(ctx context.Context, citizenID string, raw bson.Raw, item pendingDoc, hook func(string) error) error {
	if item.Entry != nil {
		if _, err := s.ledger.InsertOne(ctx, item.Entry); err != nil && !isDuplicateKey(err) {
			return mapErr("append refund entry", err)
		}
	}
	if err := runHook(hook, refundStepEntry); err != nil {
		return err
	}
	_, err := s.citizens.UpdateOne(ctx, bson.D{{Key: "_id", Value: citizenID}},
		bson.D{{Key: "$pull", Value: bson.D{{Key: "pending", Value: raw}}}})
	if err != nil {
		return mapErr("clear pending refund", err)
	}
	if err := runHook(hook, refundStepPulled); err != nil {
		return err
	}
	return s.finishExpiry(ctx, item.RefundVoucherID)
}

// finishExpiry sets an expiring voucher expired, with set besides; a reversing
// one (redemptions.go) is set reversed instead.
func (s *Store) finishExpiry(ctx context.Context, voucherID string, set ...bson.E) error {
	set = append(bson.D{{Key: "status", Value: voucherExpired}}, set...)
	res, err := s.vouchers.UpdateOne(ctx, bson.D{{Key: "_id", Value: voucherID}, {Key: "status", Value: voucherExpiring}},
		bson.D{{Key: "$set", Value: set}})
	if err != nil || res.MatchedCount > 0 {
		return mapErr("finish expired voucher", err)
	}
	_, err = s.vouchers.UpdateOne(ctx, bson.D{{Key: "_id", Value: voucherID}, {Key: "status", Value: voucherReversing}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: voucherReversed}}}})
	return mapErr("finish reversed voucher", err)
}
