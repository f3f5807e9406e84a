package mongo

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// CompleteInterruptedActions finishes what crashes left between the steps of
// RecordAction (see actions.go), for recordings that started before `before`:
//
//  1. Applied ones: every pending item older than `before` (citizens found by the
//     pending.at index) gets its ledger entry, its action outcome and its removal,
//     each step idempotent, so racing a live request that finishes the same item is
//     harmless.
//  2. Actions still "recording" since before `before` (the (status, recorded_at)
//     index): if the citizen lists one as pending it is completed as above;
//     otherwise it was never applied and is removed, which frees its idempotency
//     key and evidence.
//
// Removing a recording must not race its own commit: a live request stalled past
// the grace period (a paused process) could otherwise apply an action whose
// document was just deleted, and its evidence could then be credited again. So
// before deleting, the pass raises recovery_fence on the citizen to the action id
// with a write guarded by "this action is not pending" that also bumps ledger_seq.
// The commit (RecordAction step 2) compares-and-sets on ledger_seq and refuses any
// action id at or below the fence, so once the fence is up the action can never be
// applied, and if it had been applied first, the guard fails and the pass completes
// it instead. The fence is one monotone string per citizen and never needs cleaning:
// action ids are ULIDs (domain.NewID), which sort by their recording time, so ids
// at or below the fence belong to recordings that are themselves older than the
// grace period (clock skew between replicas must stay well below it).
func (s *Store) CompleteInterruptedActions(ctx context.Context, before time.Time) (completed, removed int, err error) {
	cutoff := toDate(before)
	done, err := s.completePendingBefore(ctx, cutoff, pendingAction)
	completed = done[pendingAction]
	if err != nil {
		return completed, 0, err
	}
	stale, err := s.staleRecordings(ctx, cutoff)
	if err != nil {
		return completed, 0, err
	}
	for _, a := range stale {
		c, r, err := s.settleRecording(ctx, a.ID, a.CitizenID)
		completed, removed = completed+c, removed+r
		if err != nil {
			return completed, removed, err
		}
	}
	return completed, removed, nil
}

// pendingHolder is a citizen document reduced to its pending items.
type pendingHolder struct {
	ID      string     `bson:"_id"`
	Pending []bson.Raw `bson:"pending"`
}

// completePendingBefore completes every pending item of the given kinds recorded
// before cutoff, and counts them by kind. (Actions, claims and refunds share the
// pending array and its index; each recovery pass finishes its own kinds.)
func (s *Store) completePendingBefore(ctx context.Context, cutoff time.Time, kinds ...pendingKind) (map[pendingKind]int, error) {
	completed := map[pendingKind]int{}
	filter := bson.D{{Key: "pending.at", Value: bson.D{{Key: "$lt", Value: cutoff}}}}
	opts := options.Find().SetProjection(bson.D{{Key: "pending", Value: 1}})
	var holders []pendingHolder
	if err := findAll(ctx, s.citizens, "find pending items", filter, opts, &holders); err != nil {
		return completed, err
	}
	for _, h := range holders {
		for _, raw := range h.Pending {
			var item pendingDoc
			if err := bson.Unmarshal(raw, &item); err != nil {
				return completed, fmt.Errorf("mongo: decode pending item of citizen %s: %w", h.ID, err)
			}
			if !item.At.Before(cutoff) || !slices.Contains(kinds, item.kind()) {
				continue // young (its own request is probably finishing it), or another pass's
			}
			if err := s.completePending(ctx, h.ID, raw, item); err != nil {
				return completed, err
			}
			completed[item.kind()]++
		}
	}
	return completed, nil
}

type recordingRef struct {
	ID        string `bson:"_id"`
	CitizenID string `bson:"citizen_id"`
}

// staleRecordings lists the actions recording since before cutoff.
func (s *Store) staleRecordings(ctx context.Context, cutoff time.Time) ([]recordingRef, error) {
	filter := bson.D{
		{Key: "status", Value: string(domain.ActionRecording)},
		{Key: "recorded_at", Value: bson.D{{Key: "$lt", Value: cutoff}}},
	}
	opts := options.Find().SetProjection(bson.D{{Key: "citizen_id", Value: 1}})
	var refs []recordingRef
	if err := findAll(ctx, s.actions, "find interrupted actions", filter, opts, &refs); err != nil {
		return nil, err
	}
	return refs, nil
}

// settleRecording completes the stale recording actionID if it was applied and
// removes it otherwise (see CompleteInterruptedActions for the fence).
func (s *Store) settleRecording(ctx context.Context, actionID, citizenID string) (completed, removed int, err error) {
	filter := bson.D{
		{Key: "_id", Value: citizenID},
		{Key: "pending.action_id", Value: bson.D{{Key: "$ne", Value: actionID}}},
	}
	update := bson.D{
		{Key: "$max", Value: bson.D{{Key: "recovery_fence", Value: actionID}}},
		{Key: "$inc", Value: bson.D{{Key: "ledger_seq", Value: int64(1)}}},
	}
	res, err := s.citizens.UpdateOne(ctx, filter, update)
	if err != nil {
		return 0, 0, mapErr("fence interrupted action", err)
	}
	if res.MatchedCount > 0 {
		removed, err = s.removeRecording(ctx, actionID)
		return 0, removed, err
	}
	// Either the citizen does not exist (nothing can have been applied) or the
	// action is pending: applied, so finish it.
	var h pendingHolder
	err = s.citizens.FindOne(ctx, bson.D{{Key: "_id", Value: citizenID}},
		options.FindOne().SetProjection(bson.D{{Key: "pending", Value: 1}})).Decode(&h)
	if errors.Is(err, mongodrv.ErrNoDocuments) {
		removed, err = s.removeRecording(ctx, actionID)
		return 0, removed, err
	}
	if err != nil {
		return 0, 0, mapErr("read pending actions", err)
	}
	for _, raw := range h.Pending {
		var item pendingDoc
		if err := bson.Unmarshal(raw, &item); err != nil {
			return 0, 0, fmt.Errorf("mongo: decode pending action of citizen %s: %w", citizenID, err)
		}
		if item.ActionID == actionID {
			return 1, 0, s.completePending(ctx, citizenID, raw, item)
		}
	}
	return 0, 0, nil // completed meanwhile by its own request
}

// removeRecording deletes an action still recording; (count, err).
func (s *Store) removeRecording(ctx context.Context, actionID string) (int, error) {
	res, err := s.actions.DeleteOne(ctx, bson.D{{Key: "_id", Value: actionID}, {Key: "status", Value: string(domain.ActionRecording)}})
	if err != nil {
		return 0, mapErr("remove interrupted action", err)
	}
	return int(res.DeletedCount), nil
}

// balanceCheckAttempts bounds how often CheckBalances re-reads a citizen whose
// totals and ledger disagree while the account keeps moving.
const balanceCheckAttempts = 5

// ledgerSums is what a citizen's ledger adds up to.
type ledgerSums struct{ points, co2e, earned int64 }

func (l *ledgerSums) add(kind string, points, co2e int64) {
	l.points += points
	l.co2e += co2e
	if kind == string(domain.LedgerEarn) && points > 0 {
		l.earned += points
	}
}

// ledgerSumDoc is a ledger entry reduced to what CheckBalances adds up.
type ledgerSumDoc struct {
	ID        string `bson:"_id"`
	CitizenID string `bson:"citizen_id"`
	Kind      string `bson:"kind"`
	Points    int64  `bson:"points"`
	CO2eGrams int64  `bson:"co2e_g"`
}

var ledgerSumProjection = bson.D{{Key: "citizen_id", Value: 1}, {Key: "kind", Value: 1}, {Key: "points", Value: 1}, {Key: "co2e_g", Value: 1}}

// accountWithPendingProjection reads what CheckBalances compares.
var accountWithPendingProjection = bson.D{
	{Key: "balance", Value: 1}, {Key: "co2e_g_total", Value: 1}, {Key: "points_earned_total", Value: 1},
	{Key: "ledger_seq", Value: 1}, {Key: "pending", Value: 1},
}

// CheckBalances compares each citizen's totals with the sums of their ledger,
// adding in Go rather than with $group (FerretDB v1 computes only the first of
// several accumulators, and a nightly job reading a page of citizens' entries
// through the (citizen_id, _id) index costs little).
//
// Entries of applied actions that are still pending (RecordAction between steps
// 2 and 3) count as in the ledger unless their id is already there. The citizens
// of a page are read before their entries, so a credit committed in between can
// show up in the entries but not in the totals; a citizen that does not add up is
// therefore checked again alone, reading the citizen, the entries, and the
// citizen's ledger_seq once more: if it did not move, the mismatch is real (every
// balance change bumps ledger_seq before its entry is written).
func (s *Store) CheckBalances(ctx context.Context, afterID string, limit int) ([]domain.BalanceCheck, error) {
	out := []domain.BalanceCheck{}
	if limit <= 0 {
		return out, nil
	}
	opts := options.Find().SetSort(bson.D{{Key: "_id", Value: 1}}).SetLimit(int64(limit)).SetProjection(accountWithPendingProjection)
	var accts []accountDoc
	if err := findAll(ctx, s.citizens, "check balances: citizens", bson.D{{Key: "_id", Value: bson.D{{Key: "$gt", Value: afterID}}}}, opts, &accts); err != nil {
		return nil, err
	}
	if len(accts) == 0 {
		return out, nil
	}
	if h := s.hooks.afterBalancePage; h != nil {
		h()
	}
	ids := make([]string, len(accts))
	for i, a := range accts {
		ids[i] = a.ID
	}
	sums, err := s.sumLedgers(ctx, bson.D{{Key: "citizen_id", Value: bson.D{{Key: "$in", Value: ids}}}}, accts)
	if err != nil {
		return nil, err
	}
	for _, a := range accts {
		check := balanceCheck(a, sums[a.ID])
		if !check.Consistent() {
			if check, err = s.recheckBalance(ctx, a.ID); err != nil {
				return nil, err
			}
		}
		out = append(out, check)
	}
	return out, nil
}

func balanceCheck(a accountDoc, l ledgerSums) domain.BalanceCheck {
	return domain.BalanceCheck{
		CitizenID:         a.ID,
		Balance:           a.Balance,
		LedgerPoints:      l.points,
		CO2eGramsTotal:    a.CO2eGramsTotal,
		LedgerCO2eGrams:   l.co2e,
		PointsEarnedTotal: a.PointsEarnedTotal,
		LedgerEarned:      l.earned,
	}
}

// sumLedgers adds up the entries matching filter per citizen, plus the pending
// entries of accts not yet in the ledger.
func (s *Store) sumLedgers(ctx context.Context, filter bson.D, accts []accountDoc) (map[string]ledgerSums, error) {
	pending := map[string]ledgerEntryDoc{} // by entry id
	for _, a := range accts {
		for _, raw := range a.Pending {
			var item pendingDoc
			if err := bson.Unmarshal(raw, &item); err != nil {
				return nil, fmt.Errorf("mongo: check balances: decode pending item of citizen %s: %w", a.ID, err)
			}
			if item.Entry != nil {
				pending[item.Entry.ID] = *item.Entry
			}
		}
	}
	cur, err := s.ledger.Find(ctx, filter, options.Find().SetProjection(ledgerSumProjection))
	if err != nil {
		return nil, mapErr("check balances: ledger", err)
	}
	defer cur.Close(ctx)
	sums := map[string]ledgerSums{}
	for cur.Next(ctx) {
		var e ledgerSumDoc
		if err := cur.Decode(&e); err != nil {
			return nil, fmt.Errorf("mongo: check balances: decode ledger entry: %w", err)
		}
		l := sums[e.CitizenID]
		l.add(e.Kind, e.Points, e.CO2eGrams)
		sums[e.CitizenID] = l
		delete(pending, e.ID)
	}
	if err := cur.Err(); err != nil {
		return nil, mapErr("check balances: ledger", err)
	}
	for _, e := range pending {
		l := sums[e.CitizenID]
		l.add(e.Kind, e.Points, e.CO2eGrams)
		sums[e.CitizenID] = l
	}
	return sums, nil
}

// recheckBalance checks one citizen until a pass sees the account standing still.
func (s *Store) recheckBalance(ctx context.Context, id string) (domain.BalanceCheck, error) {
	var check domain.BalanceCheck
	for range balanceCheckAttempts {
		var a accountDoc
		err := s.citizens.FindOne(ctx, bson.D{{Key: "_id", Value: id}},
			options.FindOne().SetProjection(accountWithPendingProjection)).Decode(&a)
		if err != nil {
			return check, mapErr("check balance: citizen", err)
		}
		sums, err := s.sumLedgers(ctx, bson.D{{Key: "citizen_id", Value: id}}, []accountDoc{a})
		if err != nil {
			return check, err
		}
		check = balanceCheck(a, sums[id])
		if check.Consistent() {
			return check, nil
		}
		var again accountDoc
		err = s.citizens.FindOne(ctx, bson.D{{Key: "_id", Value: id}},
			options.FindOne().SetProjection(bson.D{{Key: "ledger_seq", Value: 1}})).Decode(&again)
		if err != nil {
			return check, mapErr("check balance: citizen", err)
		}
		if again.seq() == a.seq() {
			return check, nil // nothing moved meanwhile: a real mismatch
		}
	}
	return check, nil
}
