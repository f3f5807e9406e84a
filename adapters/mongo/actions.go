package mongo

// Recording an action without multi-document transactions.
//
// An action touches three documents: the action, the citizen (balance, lifetime
// totals, daily usage for caps) and a ledger entry. MongoDB makes each single
// document write atomic, so RecordAction writes them in idempotent steps around one
// commit point, and CompleteInterruptedActions finishes or undoes whatever a crash
// cut short:
//
//  1. Insert the action with status "recording". The unique indexes
//     (citizen_id, idempotency_key) and evidence_key arbitrate duplicates before
//     anything moves.
//  2. Commit: read the citizen, let the rules decide on the day's usage, and write
//     balance, totals, usage and a `pending` item (the finished ledger entry and
//     action outcome) in ONE compare-and-set update guarded by ledger_seq. From here
//     on the action counts, whatever happens to the process.
//  3. Insert the ledger entry (a duplicate _id means it is already there), then set
//     the action's outcome (filter status "recording", so repeating is a no-op).
//  4. $pull the pending item.
//
// Happy path: 6 round trips (insert, read citizen, update citizen, insert entry,
// update action, pull; TestRecordActionRoundTrips counts them), plus 2 per lost
// compare-and-set. Racers in one process queue on accountLocks instead of losing,
// so only requests from other replicas make it retry. A credit that moves nothing
// (pending review) skips steps 2-4 and costs 3. A duplicate costs 2 (insert, find
// by key) or 3 (used evidence).
//
// Crashes: after step 1 the action is "recording" and not pending: the recovery
// pass removes it (freeing its key and evidence), first raising the citizen's
// recovery_fence so that a request that merely stalled cannot commit it later
// (see CompleteInterruptedActions). After step 2 the item is pending: the recovery
// pass redoes steps 3 and 4, and until then CheckBalances counts the pending entry.
//
// Invariants the other code relies on:
//   - ledger_seq on the citizen is $inc-ed by every write that changes balance,
//     the lifetime totals, usage, held counts or a fence (today: step 2, the
//     recovery fence, a claim's commit, the claim fence and a refund; see
//     vouchers.go and vouchers_expire.go). Future balance writers (adjustments)
//     must bump it too, so a compare-and-set on it sees the whole account, and
//     CheckBalances can tell a quiet citizen from a busy one. Profile saves guard
//     on `version` instead and $set only profile fields, while step 2 only $inc-s
//     totals and never touches version: the two never overwrite each other and
//     never make each other retry. (Erasure still stops a credit: step 2's filter
//     requires erased_at null. A claim's commit guards on version too, since the
//     rules decide on the district.)
//   - A pending item exists only for an action (claim, refund) whose effects are
//     applied; its ledger entry is in ledger_entries or in the item (CheckBalances
//     counts both).
//   - An action in "recording" state that is not pending has not been applied, or
//     has been completed (then it is no longer "recording").

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	mongodrv "go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// usageRetention is how many days of usage the citizen document keeps, counted
// back from the newest day it holds. Only days an action may still be recorded for
// are needed (domain.ActionRules.MaxAge, 30 days by default); the margin keeps caps
// right if MaxAge is raised, as long as it stays below this. Older days are $unset
// by the next credit, so the document stays small. Counting from the newest day
// rather than from the clock is never more eager (no day lies in the future beyond
// the allowed clock skew) and keeps the store's behaviour independent of the time
// it runs at.
const usageRetention = 100 * 24 * time.Hour

// Compare-and-set retries: racing credits for one citizen each retry after a
// jittered pause that grows with the attempt, so they spread out and all get
// through (DESIGN.md §6: 50 parallel actions for one citizen).
const (
	maxApplyAttempts = 200
	maxApplyPause    = 20 * time.Millisecond
)

// cleanupTimeout bounds undoing a recording after the request's context ended.
const cleanupTimeout = 5 * time.Second

var (
	// errRecordingAbandoned: the recording stalled past the recovery grace period
	// and CompleteInterruptedActions undid it (see CompleteInterruptedActions); nothing was
	// applied and the client may send the request again.
	errRecordingAbandoned = domain.Errorf(domain.KindUnavailable, "recording_abandoned",
		"recording this action took too long and was undone; nothing was credited, send the request again")
	errAccountBusy = domain.Errorf(domain.KindConflict, "concurrent_update",
		"the account is being changed concurrently; try again")
)

// testHooks let crash tests stop RecordAction between steps, as if the process
// died there: a hook returning an error makes RecordAction return it at once,
// without cleaning up. Nil outside tests.
type testHooks struct {
	afterInsert func() error // after step 1
	afterApply  func() error // after step 2
	// afterBalancePage runs in CheckBalances between reading a page of citizens
	// and reading their ledger entries.
	afterBalancePage func()
	// claimStep runs after each step of ClaimBenefit, named by a claimStep*
	// constant, and refundStep after each step of a refund (refundStep*
	// constants); an error stops the request there, as if the process died.
	claimStep  func(step string) error
	refundStep func(step string) error
	// redemptionStep runs after each step of RedeemVoucher and
	// ReverseRedemption (redemptionStep*/reversalStep* constants, redemptions.go).
	redemptionStep func(step string) error
}

// accountDoc is the part of a citizen document the ledger owns.
type accountDoc struct {
	ID                string     `bson:"_id"`
	Balance           int64      `bson:"balance"`
	CO2eGramsTotal    int64      `bson:"co2e_g_total"`
	PointsEarnedTotal int64      `bson:"points_earned_total"`
	ErasedAt          *time.Time `bson:"erased_at"`
	// LedgerSeq is nil for a citizen stored before it existed.
	LedgerSeq *int64 `bson:"ledger_seq"`
	// RecoveryFence: recordings of this citizen with an action id at or below it
	// were abandoned by CompleteInterruptedActions and must not be applied.
	RecoveryFence string                 `bson:"recovery_fence"`
	Usage         map[string]dayUsageDoc `bson:"usage"`
	Pending       []bson.Raw             `bson:"pending"`
	// ClaimFence is recovery_fence for claims: claims with a voucher id at or
	// below it were undone by CompleteInterruptedClaims (see vouchers.go).
	ClaimFence string `bson:"claim_fence"`
	// Held counts the citizen's vouchers per benefit, keyed by heldKey.
	Held map[string]int64 `bson:"held"`
}

func (d accountDoc) seq() int64 {
	if d.LedgerSeq == nil {
		return 0
	}
	return *d.LedgerSeq
}

// seqFilter matches the citizen document only while ledger_seq is what was read.
func (d accountDoc) seqFilter() bson.E {
	if d.LedgerSeq == nil {
		return bson.E{Key: "ledger_seq", Value: bson.D{{Key: "$exists", Value: false}}}
	}
	return bson.E{Key: "ledger_seq", Value: *d.LedgerSeq}
}

// RecordAction records a with its effects; see the top of this file.
func (s *Store) RecordAction(ctx context.Context, a domain.Action, newEntryID string, decide func(domain.DayUsage) (domain.Credit, error)) (domain.Action, error) {
	a.Status = domain.ActionRecording
	a.CreditedQuantity, a.CO2eGrams, a.Points, a.Cap, a.LedgerEntryID, a.BalanceAfter = 0, 0, 0, nil, "", 0
	doc := actionToDoc(a)
	if err := s.insertAction(ctx, doc); err != nil {
		return domain.Action{}, err
	}
	if h := s.hooks.afterInsert; h != nil {
		if err := h(); err != nil {
			return domain.Action{}, err
		}
	}
	return s.applyAction(ctx, doc, newEntryID, decide)
}

// evidenceWait bounds how long a request waits for another one, still recording
// with the same evidence, to finish or be undone.
const (
	evidenceWait     = time.Second
	evidenceWaitStep = 5 * time.Millisecond
)

// insertAction is step 1. A duplicate key is the same request again (the
// idempotency key is taken: DuplicateRequestError with what it recorded so far) or
// evidence someone used (ErrEvidenceUsed). Which index refused is found by reading,
// not by parsing server messages. If the evidence is held by an action still
// recording, its outcome is awaited briefly: should the rules refuse it, it is
// deleted and this request may have the evidence, as it would after a transaction
// rolled back. If neither holder is there any more, the insert is tried again.
func (s *Store) insertAction(ctx context.Context, doc actionDoc) error {
	deadline := time.Now().Add(evidenceWait)
	for vanished := 0; vanished < 5; {
		_, err := s.actions.InsertOne(ctx, doc)
		if err == nil {
			return nil
		}
		if !isDuplicateKey(err) {
			return mapErr("insert action", err)
		}
		existing, err := s.FindActionByIdempotencyKey(ctx, doc.CitizenID, doc.IdempotencyKey)
		if err == nil {
			return &domain.DuplicateRequestError{Existing: existing}
		}
		if !errors.Is(err, domain.ErrNotFound) {
			return err
		}
		var holder struct {
			Status string `bson:"status"`
		}
		err = s.actions.FindOne(ctx, bson.D{{Key: "evidence_key", Value: doc.EvidenceKey}},
			options.FindOne().SetProjection(bson.D{{Key: "status", Value: 1}})).Decode(&holder)
		switch {
		case errors.Is(err, mongodrv.ErrNoDocuments):
			vanished++ // undone meanwhile: try again
		case err != nil:
			return mapErr("insert action: find evidence", err)
		case holder.Status != string(domain.ActionRecording) || time.Now().After(deadline):
			return domain.ErrEvidenceUsed
		default:
			t := time.NewTimer(evidenceWaitStep)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			}
		}
	}
	return errAccountBusy
}

// applyAction is steps 2 to 4.
func (s *Store) applyAction(ctx context.Context, doc actionDoc, newEntryID string, decide func(domain.DayUsage) (domain.Credit, error)) (domain.Action, error) {
	for attempt := range maxApplyAttempts {
		if attempt > 0 {
			if err := pause(ctx, attempt); err != nil {
				s.abandonAction(ctx, doc.ID)
				return domain.Action{}, err
			}
		}
		unlock, err := s.accountLocks.lock(ctx, doc.CitizenID)
		if err != nil {
			s.abandonAction(ctx, doc.ID)
			return domain.Action{}, err
		}
		item, act, done, err := s.commit(ctx, doc, newEntryID, decide)
		unlock()
		if !done {
			continue
		}
		if err != nil || item == nil {
			return act, err
		}
		if h := s.hooks.afterApply; h != nil {
			if err := h(); err != nil {
				return domain.Action{}, err
			}
		}
		// Committed: whatever happens to the steps below, the recovery pass finishes
		// them, so the action is reported as recorded even if they fail.
		if raw, err := bson.Marshal(item); err == nil {
			_ = s.completePending(ctx, doc.CitizenID, raw, *item)
		}
		return act, nil
	}
	// Every attempt lost its compare-and-set, so nothing was applied.
	s.abandonAction(ctx, doc.ID)
	return domain.Action{}, errAccountBusy
}

// commit is one attempt at step 2: read the account, decide, compare-and-set.
// done is false when the account moved since it was read and the attempt must be
// repeated. On success it returns the pending item to complete, or nil when the
// action moved nothing and is already finished.
func (s *Store) commit(ctx context.Context, doc actionDoc, newEntryID string, decide func(domain.DayUsage) (domain.Credit, error)) (_ *pendingDoc, _ domain.Action, done bool, _ error) {
	fail := func(err error) (*pendingDoc, domain.Action, bool, error) { return nil, domain.Action{}, true, err }
	acct, err := s.readAccount(ctx, doc.CitizenID)
	if errors.Is(err, domain.ErrNotFound) || (err == nil && acct.ErasedAt != nil) {
		s.abandonAction(ctx, doc.ID)
		return fail(domain.ErrNotFound)
	}
	if err != nil {
		s.abandonAction(ctx, doc.ID) // nothing committed yet, so the key is free again
		return fail(err)
	}
	if doc.ID <= acct.RecoveryFence {
		s.abandonAction(ctx, doc.ID)
		return fail(errRecordingAbandoned)
	}
	day := acct.Usage[doc.Day]
	credit, err := decide(day.usage(doc.TypeCode))
	if err == nil {
		err = checkCredit(credit)
	}
	if err != nil {
		s.abandonAction(ctx, doc.ID)
		return fail(err)
	}

	out := outcomeDoc{
		Status:           string(credit.Status),
		CreditedQuantity: int64(credit.CreditedQuantity),
		CO2eGrams:        credit.CO2eGrams,
		Points:           credit.Points,
		Cap:              capToDoc(credit.Cap),
		BalanceAfter:     acct.Balance + credit.Points,
	}
	if credit.CreditedQuantity == 0 && credit.Points == 0 && credit.CO2eGrams == 0 {
		// Nothing moves, so there is nothing to commit on the citizen: setting the
		// outcome is the commit. It races only with the recovery pass deleting a
		// stalled recording, and both are guarded by status "recording" on the
		// same document, so exactly one wins.
		act, err := s.finishWithoutEffects(ctx, doc, out)
		return nil, act, true, err
	}
	var entry *ledgerEntryDoc
	if credit.Points != 0 || credit.CO2eGrams != 0 {
		out.LedgerEntryID = newEntryID
		entry = &ledgerEntryDoc{
			ID:           newEntryID,
			CitizenID:    doc.CitizenID,
			Kind:         string(domain.LedgerEarn),
			Points:       credit.Points,
			CO2eGrams:    credit.CO2eGrams,
			BalanceAfter: out.BalanceAfter,
			CauseType:    "action",
			CauseID:      doc.ID,
			CreatedAt:    doc.RecordedAt,
		}
	}
	item := pendingDoc{ActionID: doc.ID, At: doc.RecordedAt, Entry: entry, Outcome: out}

	update := bson.D{
		{Key: "$inc", Value: bson.D{
			{Key: "balance", Value: out.Points},
			{Key: "co2e_g_total", Value: out.CO2eGrams},
			{Key: "points_earned_total", Value: out.Points},
			{Key: "ledger_seq", Value: int64(1)},
		}},
		{Key: "$set", Value: bson.D{{Key: "usage." + doc.Day, Value: day.add(doc.TypeCode, out.CreditedQuantity, out.Points)}}},
		{Key: "$push", Value: bson.D{{Key: "pending", Value: item}}},
	}
	if unset := staleUsageDays(acct.Usage, doc.Day); len(unset) > 0 {
		update = append(update, bson.E{Key: "$unset", Value: unset})
	}
	filter := bson.D{
		{Key: "_id", Value: doc.CitizenID},
		acct.seqFilter(),
		{Key: "erased_at", Value: nil},
		// Redundant under the ledger_seq guard (credits never lower the balance),
		// kept so that no write of this adapter can take a balance below zero.
		{Key: "balance", Value: bson.D{{Key: "$gte", Value: -out.Points}}},
	}
	res, err := s.citizens.UpdateOne(ctx, filter, update)
	if err != nil {
		// Applied or not is unknown; the recovery pass finds out (pending or not).
		return fail(mapErr("record action: apply", err))
	}
	if res.MatchedCount == 0 {
		// The account moved since it was read (or the citizen was just erased):
		// read it again.
		return nil, domain.Action{}, false, nil
	}
	return &item, withOutcome(doc, out).toDomain(), true, nil
}

// checkCredit refuses outcomes the store cannot record as they are.
func checkCredit(c domain.Credit) error {
	switch {
	case c.Status != domain.ActionCredited && c.Status != domain.ActionPendingReview:
		return fmt.Errorf("mongo: record action: decided status %q", c.Status)
	case c.CreditedQuantity < 0 || c.Points < 0 || c.CO2eGrams < 0:
		return fmt.Errorf("mongo: record action: negative credit %+v", c)
	}
	return nil
}

func withOutcome(doc actionDoc, out outcomeDoc) actionDoc {
	doc.Status = out.Status
	doc.CreditedQuantity = out.CreditedQuantity
	doc.CO2eGrams = out.CO2eGrams
	doc.Points = out.Points
	doc.Cap = out.Cap
	doc.LedgerEntryID = out.LedgerEntryID
	doc.BalanceAfter = out.BalanceAfter
	return doc
}

// finishWithoutEffects sets the outcome of an action that moves nothing.
func (s *Store) finishWithoutEffects(ctx context.Context, doc actionDoc, out outcomeDoc) (domain.Action, error) {
	matched, err := s.setOutcome(ctx, doc.ID, out)
	if err != nil {
		return domain.Action{}, err
	}
	if !matched {
		return domain.Action{}, errRecordingAbandoned
	}
	return withOutcome(doc, out).toDomain(), nil
}

// setOutcome finishes a recording action; false if it is not recording (finished
// already, or removed).
func (s *Store) setOutcome(ctx context.Context, actionID string, out outcomeDoc) (bool, error) {
	set := bson.D{
		{Key: "status", Value: out.Status},
		{Key: "credited_quantity", Value: out.CreditedQuantity},
		{Key: "co2e_g", Value: out.CO2eGrams},
		{Key: "points", Value: out.Points},
		{Key: "ledger_entry_id", Value: out.LedgerEntryID},
		{Key: "balance_after", Value: out.BalanceAfter},
	}
	if out.Cap != nil {
		set = append(set, bson.E{Key: "cap", Value: out.Cap})
	}
	filter := bson.D{{Key: "_id", Value: actionID}, {Key: "status", Value: string(domain.ActionRecording)}}
	res, err := s.actions.UpdateOne(ctx, filter, bson.D{{Key: "$set", Value: set}})
	if err != nil {
		return false, mapErr("finish action", err)
	}
	return res.MatchedCount > 0, nil
}

// completePending is steps 3 and 4 for an applied action, shared by RecordAction
// and the recovery pass; every step may be repeated. raw is the pending item
// exactly as stored: $pull removes an element equal to it (FerretDB v1 only
// supports that form of $pull; MongoDB reads it as an exact-match condition).
//
// The $pull does not bump ledger_seq. That is safe because nothing a
// compare-and-set decides on depends on the item: removing it changes neither the
// totals, nor the usage, nor the fence, and $push/$pull of different items commute.
// The recovery fence checks "not pending" atomically in its own filter.
//
// Items of claims and refunds are finished by their own code.
func (s *Store) completePending(ctx context.Context, citizenID string, raw bson.Raw, item pendingDoc) error {
	switch item.kind() {
	case pendingClaim:
		return s.completeClaim(ctx, citizenID, raw, item, nil)
	case pendingRefund:
		return s.completeRefund(ctx, citizenID, raw, item, nil)
	}
	if item.Entry != nil {
		if _, err := s.ledger.InsertOne(ctx, item.Entry); err != nil && !isDuplicateKey(err) {
			return mapErr("append ledger entry", err)
		}
	}
	if _, err := s.setOutcome(ctx, item.ActionID, item.Outcome); err != nil {
		return err
	}
	_, err := s.citizens.UpdateOne(ctx, bson.D{{Key: "_id", Value: citizenID}},
		bson.D{{Key: "$pull", Value: bson.D{{Key: "pending", Value: raw}}}})
	return mapErr("clear pending action", err)
}

// abandonAction deletes the request's own recording, which it knows it never
// committed, freeing its idempotency key and evidence. Nobody else finishes an
// uncommitted recording (the recovery pass only removes it too), so the filter
// needs no status guard; on _id alone it is a primary key lookup even on FerretDB.
// It runs even if ctx ended; if it fails, the recovery pass removes the recording
// later.
func (s *Store) abandonAction(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	_, _ = s.actions.DeleteOne(ctx, bson.D{{Key: "_id", Value: id}})
}

// readAccount reads the ledger-owned part of a citizen document.
func (s *Store) readAccount(ctx context.Context, citizenID string) (accountDoc, error) {
	opts := options.FindOne().SetProjection(bson.D{
		{Key: "balance", Value: 1}, {Key: "co2e_g_total", Value: 1}, {Key: "points_earned_total", Value: 1},
		{Key: "erased_at", Value: 1}, {Key: "ledger_seq", Value: 1}, {Key: "recovery_fence", Value: 1},
		{Key: "usage", Value: 1},
	})
	var acct accountDoc
	err := s.citizens.FindOne(ctx, bson.D{{Key: "_id", Value: citizenID}}, opts).Decode(&acct)
	if err != nil {
		return accountDoc{}, mapErr("read account", err)
	}
	return acct, nil
}

// staleUsageDays lists, as an $unset document, the usage days more than
// usageRetention before the newest of them and the day being credited.
func staleUsageDays(usage map[string]dayUsageDoc, credited string) bson.D {
	newest := credited
	for day := range usage {
		newest = max(newest, day)
	}
	last, err := time.ParseInLocation(time.DateOnly, newest, domain.Shanghai)
	if err != nil {
		return nil // not a day this adapter wrote; leave the usage alone
	}
	cutoff := domain.DayOf(last.Add(-usageRetention))
	var unset bson.D
	for day := range usage {
		if day < cutoff && day != credited {
			unset = append(unset, bson.E{Key: "usage." + day, Value: ""})
		}
	}
	return unset
}

// accountLockStripes is how many in-process locks serialise commits per citizen.
const accountLockStripes = 64

// accountLocks let racing requests for one citizen in this process take turns at
// the compare-and-set instead of failing it and retrying: with 50 parallel actions
// for one citizen, that saves most of the wasted round trips. It is an
// optimisation only: requests from other replicas still race, and ledger_seq keeps
// the result correct either way. A citizen maps to one of a fixed number of
// stripes, so there is nothing to clean up.
type accountLocks [accountLockStripes]chan struct{}

func newAccountLocks() *accountLocks {
	var l accountLocks
	for i := range l {
		l[i] = make(chan struct{}, 1)
	}
	return &l
}

// lock waits for the citizen's stripe, or for ctx to end.
func (l *accountLocks) lock(ctx context.Context, citizenID string) (unlock func(), err error) {
	h := fnv.New32a()
	_, _ = h.Write([]byte(citizenID))
	ch := l[h.Sum32()%accountLockStripes]
	select {
	case ch <- struct{}{}:
		return func() { <-ch }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// pause sleeps a random time that grows with the attempt.
func pause(ctx context.Context, attempt int) error {
	limit := min(time.Duration(attempt)*time.Millisecond, maxApplyPause)
	d := time.Duration(rand.Int64N(int64(limit))) + 100*time.Microsecond
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// GetAction returns a finished action; a recording one is not found. The status
// is checked here rather than in the filter: the same on MongoDB, and FerretDB v1
// only uses the primary key for a filter on _id alone.
func (s *Store) GetAction(ctx context.Context, id string) (domain.Action, error) {
	var doc actionDoc
	if err := s.actions.FindOne(ctx, bson.D{{Key: "_id", Value: id}}).Decode(&doc); err != nil {
		return domain.Action{}, mapErr("get action", err)
	}
	if doc.Status == string(domain.ActionRecording) {
		return domain.Action{}, domain.ErrNotFound
	}
	return doc.toDomain(), nil
}

// FindActionByIdempotencyKey is served by the unique (citizen_id,
// idempotency_key) index and returns recording actions too.
func (s *Store) FindActionByIdempotencyKey(ctx context.Context, citizenID, key string) (domain.Action, error) {
	filter := bson.D{{Key: "citizen_id", Value: citizenID}, {Key: "idempotency_key", Value: key}}
	var doc actionDoc
	if err := s.actions.FindOne(ctx, filter).Decode(&doc); err != nil {
		return domain.Action{}, mapErr("find action by idempotency key", err)
	}
	return doc.toDomain(), nil
}

// citizenPage is the filter and options of a newest-first page of one citizen's
// documents, served by a (citizen_id, _id) index.
func citizenPage(citizenID, beforeID string, limit int) (bson.D, *options.FindOptionsBuilder) {
	filter := bson.D{{Key: "citizen_id", Value: citizenID}}
	if beforeID != "" {
		filter = append(filter, bson.E{Key: "_id", Value: bson.D{{Key: "$lt", Value: beforeID}}})
	}
	return filter, options.Find().SetSort(bson.D{{Key: "_id", Value: -1}}).SetLimit(int64(limit))
}

// ListActions returns a newest-first page of the citizen's finished actions.
func (s *Store) ListActions(ctx context.Context, citizenID, beforeID string, limit int) ([]domain.Action, error) {
	out := []domain.Action{}
	if limit <= 0 {
		return out, nil
	}
	filter, opts := citizenPage(citizenID, beforeID, limit)
	filter = append(filter, bson.E{Key: "status", Value: bson.D{{Key: "$ne", Value: string(domain.ActionRecording)}}})
	var docs []actionDoc
	if err := findAll(ctx, s.actions, "list actions", filter, opts, &docs); err != nil {
		return nil, err
	}
	for _, d := range docs {
		out = append(out, d.toDomain())
	}
	return out, nil
}

// ListLedgerEntries returns a newest-first page of the citizen's ledger.
func (s *Store) ListLedgerEntries(ctx context.Context, citizenID, beforeID string, limit int) ([]domain.LedgerEntry, error) {
	out := []domain.LedgerEntry{}
	if limit <= 0 {
		return out, nil
	}
	filter, opts := citizenPage(citizenID, beforeID, limit)
	var docs []ledgerEntryDoc
	if err := findAll(ctx, s.ledger, "list ledger entries", filter, opts, &docs); err != nil {
		return nil, err
	}
	for _, d := range docs {
		out = append(out, d.toDomain())
	}
	return out, nil
}

// AnonymiseActions clears the evidence of every action of the citizen (served by
// the (citizen_id, _id) index); evidence_key stays, so the evidence is still never
// credited twice. A recording in flight was inserted before the citizen was erased
// and is cleared too, or is refused by its commit (erased_at must be null).
func (s *Store) AnonymiseActions(ctx context.Context, citizenID string) error {
	_, err := s.actions.UpdateMany(ctx, bson.D{{Key: "citizen_id", Value: citizenID}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "evidence.source", Value: ""}, {Key: "evidence.reference", Value: ""}}}})
	return mapErr("anonymise actions", err)
}

// findAll runs a find and decodes every document into out.
func findAll(ctx context.Context, coll *mongodrv.Collection, op string, filter bson.D, opts *options.FindOptionsBuilder, out any) error {
	cur, err := coll.Find(ctx, filter, opts)
	if err != nil {
		return mapErr(op, err)
	}
	if err := cur.All(ctx, out); err != nil {
		return fmt.Errorf("mongo: %s: read: %w", op, err)
	}
	return nil
}
