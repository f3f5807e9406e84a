package mongo

// Claiming a benefit without multi-document transactions.
//
// A claim touches four documents: the voucher, the benefit (its stock), the
// citizen (balance, and how many vouchers of the benefit they hold) and a ledger
// entry. ClaimBenefit writes them in idempotent steps around one commit point,
// the compare-and-set on the citizen, in the style of RecordAction (actions.go);
// CompleteInterruptedClaims (vouchers_recover.go) finishes or undoes whatever a
// crash cut short:
//
//  1. Insert the voucher with status "claiming". The unique indexes (citizen_id,
//     idempotency_key) and code arbitrate duplicates before anything moves.
//  2. Read the benefit and the citizen (with the count of vouchers of the benefit
//     they hold, kept on the citizen document under held.<benefit>), and call
//     decide with them.
//  3. Reserve one unit of stock: {claimed < stock} → $inc claimed and $push the
//     voucher id onto the benefit's `reserved` (see benefitDoc). The id there
//     makes the reservation idempotent and tells the recovery pass whether there
//     is a unit to give back; a flag on the voucher could not (set before the
//     $inc it may be a lie, set after it a crash in between leaks the unit).
//  4. Commit: ONE compare-and-set on the citizen guarded by ledger_seq (so the
//     balance, lifetime totals and held counts are what decide saw), version (so
//     are the district and the erasure), erased_at null and balance >= cost. It
//     debits the points, adds one to held.<benefit> and pushes a `pending` item
//     carrying the finished claim ledger entry and what the voucher becomes. From
//     here on the claim counts, whatever happens to the process.
//  5. Insert the ledger entry (a duplicate _id means it is already there).
//  6. Keep the unit of stock: $pull the voucher id from `reserved` (no $inc).
//  7. Issue the voucher: status "claiming" → "issued" with its terms.
//  8. $pull the pending item.
//
// decide sees exactly what the commit is conditional on: if anything moved
// between the reads and the compare-and-set, the latter misses and the attempt is
// repeated from step 2 (keeping the reservation; decide is then shown the benefit
// without it, Claimed-1). The stock guard is claimed < stock rather than equality
// with the count decide saw: decide only compares that count with the stock, and
// a racing claim taking another unit does not change its answer unless it took the
// last one, which the guard refuses; then decide runs again and sees the benefit
// sold out. So racers for one benefit do not make each other retry. The per-citizen
// count lives on the citizen document rather than in a counter of its own so that
// the commit guards it exactly, counts only committed claims, and costs no round
// trip or recovery of its own; it never goes down (vouchers of any status count).
//
// If decide refuses, or anything fails before the commit, the request gives its
// unit back (guarded by `reserved`, so at most once) and deletes its voucher:
// nothing was written and the key is free. A failed compare-and-set whose outcome
// is unknown (the server did not answer) is left to the recovery pass.
//
// Happy path: 9 round trips (insert voucher, read benefit, read citizen, reserve,
// commit, insert entry, keep stock, issue, pull; TestClaimRoundTrips counts them),
// plus 3 per lost compare-and-set (the reads and the commit again). Racers in one
// process queue on accountLocks per citizen, as RecordAction does. A claim
// refused at once costs 4 (insert, two reads, delete). A duplicate costs 2
// (insert, find by key).
//
// Crashes (see CompleteInterruptedClaims): a voucher still "claiming" whose
// citizen does not list it as pending was never committed: the recovery pass
// raises the citizen's claim_fence to its id (bumping ledger_seq, guarded by "not
// pending"), gives its unit back if the benefit lists the reservation, and deletes
// it. A claiming voucher listed as pending is finished (steps 5 to 8). The fence
// stops a request that merely stalled from committing later: its commit, based on
// a read from before the fence, misses on ledger_seq, and step 2 refuses any
// voucher id at or below the fence. Voucher ids are ULIDs (domain.NewID), which sort by
// their claim's time, so ids at or below the fence belong to claims older than the
// grace period; a new claim always gets a fresh, later id. A reservation whose
// voucher is gone (a stalled request reserved after the recovery pass undid its
// claim, then died) is given back by the recovery pass too.
//
// Invariants, in addition to those of actions.go:
//   - benefit.claimed = vouchers issued (any status since) + ids in
//     benefit.reserved; an id is there only while its voucher is "claiming" (or
//     is being issued by steps 5 to 8), or after the voucher was deleted by an
//     undo that a stalled request raced (see CompleteInterruptedClaims).
//   - held.<benefit> on the citizen counts the committed claims of the benefit.
//   - The ledger_seq guard covers claims: the commit, the refund and the claim
//     fence all bump it.

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Voucher statuses as stored. "expiring" is the adapter's own: the voucher was
// marked expired and its refund is under way (see vouchers_expire.go); it reads
// as expired.
const (
	voucherClaiming = string(domain.VoucherClaiming)
	voucherIssued   = string(domain.VoucherIssued)
	voucherExpired  = string(domain.VoucherExpired)
	voucherExpiring = "expiring"
)

// The steps of ClaimBenefit a crash test can stop after (testHooks.claimStep).
const (
	claimStepInserted  = "inserted"   // step 1
	claimStepReserved  = "reserved"   // step 3
	claimStepCommitted = "committed"  // step 4
	claimStepEntry     = "entry"      // step 5
	claimStepStockKept = "stock_kept" // step 6
	claimStepIssued    = "issued"     // step 7
)

// errClaimAbandoned: the claim stalled past the recovery grace period and
// CompleteInterruptedClaims undid it; nothing was spent and the client may send
// the request again.
var errClaimAbandoned = domain.Errorf(domain.KindUnavailable, "claim_abandoned",
	"claiming this benefit took too long and was undone; nothing was spent, send the request again")

// voucherDoc is a voucher as stored in `vouchers`. While it is being claimed its
// status is "claiming" and the terms are zero; issued_at is the claim's time from
// the start (CompleteInterruptedClaims finds stale claims by it).
type voucherDoc struct {
	ID             string    `bson:"_id"`
	Code           string    `bson:"code"`
	BenefitID      string    `bson:"benefit_id"`
	BankID         string    `bson:"bank_id"`
	CitizenID      string    `bson:"citizen_id"`
	IdempotencyKey string    `bson:"idempotency_key"`
	Status         string    `bson:"status"`
	IssuedAt       time.Time `bson:"issued_at"`
	PointsSpent    int64     `bson:"points_spent"`
	ExpiresAt      time.Time `bson:"expires_at,omitempty"`
	LedgerEntryID  string    `bson:"ledger_entry_id"`
	BalanceAfter   int64     `bson:"balance_after"`
	// RefundEntryID and RefundAt are set when the voucher is marked for expiry:
	// the refund's ledger entry id and time, fixed so that finishing the refund
	// after a crash writes the same entry.
	RefundEntryID string     `bson:"refund_entry_id"`
	RefundAt      *time.Time `bson:"refund_at,omitempty"`
	// ReversalID is the redemption whose reversal refunds the voucher (status
	// "reversing", then "reversed"; see redemptions.go).
	ReversalID string `bson:"reversal_id,omitempty"`
	// RedemptionFence is the pending redemption CompleteInterruptedClaims undid:
	// it can no longer redeem the voucher (see redemptions.go).
	RedemptionFence string `bson:"redemption_fence,omitempty"`
}

func (d voucherDoc) toDomain() domain.Voucher {
	status := domain.VoucherStatus(d.Status)
	if d.Status == voucherExpiring {
		status = domain.VoucherExpired // decided; the refund is being written
	}
	if d.Status == voucherReversing {
		status = domain.VoucherReversed // decided; the refund is being written
	}
	return domain.Voucher{
		ID: d.ID, Code: d.Code, BenefitID: d.BenefitID, BankID: d.BankID, CitizenID: d.CitizenID,
		PointsSpent: d.PointsSpent, Status: status, IssuedAt: fromDate(d.IssuedAt), ExpiresAt: fromDate(d.ExpiresAt),
		IdempotencyKey: d.IdempotencyKey, LedgerEntryID: d.LedgerEntryID, RefundEntryID: d.RefundEntryID,
		BalanceAfter: d.BalanceAfter,
	}
}

// voucherIssueDoc is what issuing sets on a claiming voucher; a pending claim
// item carries it, so issuing after a crash needs no decision.
type voucherIssueDoc struct {
	BenefitID     string    `bson:"benefit_id"`
	BankID        string    `bson:"bank_id"`
	PointsSpent   int64     `bson:"points_spent"`
	ExpiresAt     time.Time `bson:"expires_at"`
	BalanceAfter  int64     `bson:"balance_after"`
	LedgerEntryID string    `bson:"ledger_entry_id"`
}

func (d voucherDoc) issued(is voucherIssueDoc) voucherDoc {
	d.Status = voucherIssued
	d.BankID, d.PointsSpent, d.ExpiresAt = is.BankID, is.PointsSpent, is.ExpiresAt
	d.BalanceAfter, d.LedgerEntryID = is.BalanceAfter, is.LedgerEntryID
	return d
}

// heldKey is the field under `held` that counts a benefit's vouchers. Benefit ids
// are ULIDs, used as they are; anything a field name could misread (a dot, a
// leading $) is hex-encoded behind a '~', which ULIDs never contain.
func heldKey(benefitID string) string {
	for i := 0; i < len(benefitID); i++ {
		c := benefitID[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || c == '_' || c == '-') {
			return "~" + hex.EncodeToString([]byte(benefitID))
		}
	}
	if benefitID == "" {
		return "~"
	}
	return benefitID
}

// stopped wraps the error of a test hook, so that a crash test's stop is told
// from a real failure.
type stopped struct{ err error }

func (e stopped) Error() string { return "stopped by a test hook: " + e.err.Error() }
func (e stopped) Unwrap() error { return e.err }

func runHook(h func(step string) error, step string) error {
	if h == nil {
		return nil
	}
	if err := h(step); err != nil {
		return stopped{err}
	}
	return nil
}

// claimRun is one ClaimBenefit request in progress.
type claimRun struct {
	doc     voucherDoc
	entryID string
	// reserveSent: a reservation was asked for, so a unit may be taken;
	// reserved: it is known to be taken.
	reserveSent, reserved bool
}

// ClaimBenefit claims c's benefit; see the top of this file.
func (s *Store) ClaimBenefit(ctx context.Context, c domain.Claim, decide func(domain.Benefit, domain.Citizen, int) (domain.ClaimTerms, error)) (domain.Voucher, error) {
	doc := voucherDoc{
		ID: c.VoucherID, Code: c.Code, BenefitID: c.BenefitID, CitizenID: c.CitizenID,
		IdempotencyKey: c.IdempotencyKey, Status: voucherClaiming, IssuedAt: toDate(c.At),
	}
	if err := s.insertVoucher(ctx, doc); err != nil {
		return domain.Voucher{}, err
	}
	if err := runHook(s.hooks.claimStep, claimStepInserted); err != nil {
		return domain.Voucher{}, err
	}
	run := &claimRun{doc: doc, entryID: c.EntryID}
	return s.runClaim(ctx, run, decide)
}

// insertVoucher is step 1. A duplicate key is the same request again when the
// citizen's idempotency key is taken (DuplicateClaimError with what it issued so
// far); otherwise the voucher id or code is taken, or the key's holder was undone
// meanwhile, and the insert is tried again before giving up with ErrConflict.
func (s *Store) insertVoucher(ctx context.Context, doc voucherDoc) error {
	for range 3 {
		_, err := s.vouchers.InsertOne(ctx, doc)
		if err == nil {
			return nil
		}
		if !isDuplicateKey(err) {
			return mapErr("insert voucher", err)
		}
		existing, err := s.FindClaimByIdempotencyKey(ctx, doc.CitizenID, doc.IdempotencyKey)
		if err == nil {
			return &domain.DuplicateClaimError{Existing: existing}
		}
		if !errors.Is(err, domain.ErrNotFound) {
			return err
		}
	}
	return domain.ErrConflict
}

// claimNext says what runClaim does after an attempt.
type claimNext int

const (
	claimDone       claimNext = iota
	claimAgain                // the stock ran out meanwhile: decide again at once
	claimAfterPause           // the account moved: read it again after a pause
)

// runClaim is steps 2 to 8.
func (s *Store) runClaim(ctx context.Context, run *claimRun, decide func(domain.Benefit, domain.Citizen, int) (domain.ClaimTerms, error)) (domain.Voucher, error) {
	next := claimDone
	for attempt := range maxApplyAttempts {
		if next == claimAfterPause {
			if err := pause(ctx, attempt); err != nil {
				s.abandonClaim(ctx, run)
				return domain.Voucher{}, err
			}
		}
		unlock, err := s.accountLocks.lock(ctx, run.doc.CitizenID)
		if err != nil {
			s.abandonClaim(ctx, run)
			return domain.Voucher{}, err
		}
		var item *pendingDoc
		var v domain.Voucher
		item, v, next, err = s.claimAttempt(ctx, run, decide)
		unlock()
		if next != claimDone {
			continue
		}
		if err != nil {
			return domain.Voucher{}, err
		}
		if err := runHook(s.hooks.claimStep, claimStepCommitted); err != nil {
			return domain.Voucher{}, err
		}
		// Committed: whatever happens to the steps below, the recovery pass
		// finishes them, so the voucher is reported as issued even if they fail.
		raw, err := bson.Marshal(item)
		if err == nil {
			err = s.completeClaim(ctx, run.doc.CitizenID, raw, *item, s.hooks.claimStep)
		}
		if errors.As(err, new(stopped)) {
			return domain.Voucher{}, err
		}
		return v, nil
	}
	// Every attempt lost its compare-and-set, so nothing was committed.
	s.abandonClaim(ctx, run)
	return domain.Voucher{}, errAccountBusy
}

// claimAttempt is one attempt at steps 2 to 4. On success it returns the pending
// item to complete and the voucher as issued.
func (s *Store) claimAttempt(ctx context.Context, run *claimRun, decide func(domain.Benefit, domain.Citizen, int) (domain.ClaimTerms, error)) (*pendingDoc, domain.Voucher, claimNext, error) {
	fail := func(err error) (*pendingDoc, domain.Voucher, claimNext, error) {
		s.abandonClaim(ctx, run)
		return nil, domain.Voucher{}, claimDone, err
	}
	b, err := s.readBenefit(ctx, run.doc.BenefitID)
	if err != nil {
		return fail(err)
	}
	cit, acct, err := s.readClaimant(ctx, run.doc.CitizenID)
	if err != nil {
		return fail(err)
	}
	if cit.ErasedAt != nil {
		return fail(domain.ErrNotFound)
	}
	if run.doc.ID <= acct.ClaimFence {
		return fail(errClaimAbandoned)
	}
	benefit := b.toDomain()
	if run.reserved {
		benefit.Claimed-- // decide sees the others' claims, not this one's reservation
	}
	key := heldKey(benefit.ID)
	terms, err := decide(benefit, cit.toDomain(), int(acct.Held[key]))
	// The guards below hold the line should decide let through what it must not;
	// refuse here what they would refuse on every attempt.
	switch {
	case err != nil:
	case terms.PointsCost < 0:
		err = fmt.Errorf("mongo: claim benefit: refused: negative points cost %d", terms.PointsCost)
	case terms.PointsCost > cit.Balance:
		err = fmt.Errorf("mongo: claim benefit: refused: spending %d points would make citizen %s's balance of %d negative",
			terms.PointsCost, cit.ID, cit.Balance)
	case !run.reserved && benefit.Claimed >= benefit.Stock:
		err = fmt.Errorf("mongo: claim benefit: refused: benefit %s has no stock left (%d of %d claimed)",
			benefit.ID, benefit.Claimed, benefit.Stock)
	}
	if err != nil {
		return fail(err)
	}
	if !run.reserved {
		run.reserveSent = true
		ok, err := s.reserveStock(ctx, benefit.ID, b.Stock, run.doc.ID)
		if err != nil {
			return fail(err)
		}
		if !ok {
			return nil, domain.Voucher{}, claimAgain, nil
		}
		run.reserved = true
		if err := runHook(s.hooks.claimStep, claimStepReserved); err != nil {
			return nil, domain.Voucher{}, claimDone, err
		}
	}

	issue := voucherIssueDoc{
		BenefitID: benefit.ID, BankID: benefit.BankID, PointsSpent: terms.PointsCost,
		ExpiresAt: toDate(terms.ExpiresAt), BalanceAfter: cit.Balance - terms.PointsCost, LedgerEntryID: run.entryID,
	}
	item := pendingDoc{
		ClaimVoucherID: run.doc.ID,
		At:             run.doc.IssuedAt,
		Entry: &ledgerEntryDoc{
			ID: run.entryID, CitizenID: run.doc.CitizenID, Kind: string(domain.LedgerClaim),
			Points: -terms.PointsCost, BalanceAfter: issue.BalanceAfter,
			CauseType: "voucher", CauseID: run.doc.ID, CreatedAt: run.doc.IssuedAt,
		},
		Issue: &issue,
	}
	filter := bson.D{
		{Key: "_id", Value: run.doc.CitizenID},
		acct.seqFilter(),
		{Key: "version", Value: cit.Version},
		{Key: "erased_at", Value: nil},
		// Redundant under the ledger_seq guard (decide saw the balance), kept so
		// that no write of this adapter can take a balance below zero.
		{Key: "balance", Value: bson.D{{Key: "$gte", Value: terms.PointsCost}}},
	}
	update := bson.D{
		{Key: "$inc", Value: bson.D{
			{Key: "balance", Value: -terms.PointsCost},
			{Key: "ledger_seq", Value: int64(1)},
			{Key: "held." + key, Value: int64(1)},
		}},
		{Key: "$push", Value: bson.D{{Key: "pending", Value: item}}},
	}
	res, err := s.citizens.UpdateOne(ctx, filter, update)
	if err != nil {
		// Committed or not is unknown; the recovery pass finds out (pending or not).
		return nil, domain.Voucher{}, claimDone, mapErr("claim benefit: commit", err)
	}
	if res.MatchedCount == 0 {
		return nil, domain.Voucher{}, claimAfterPause, nil
	}
	return &item, run.doc.issued(issue).toDomain(), claimDone, nil
}

// readBenefit reads a benefit without its reservations.
func (s *Store) readBenefit(ctx context.Context, id string) (benefitDoc, error) {
	var doc benefitDoc
	err := s.benefits.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, options.FindOne().SetProjection(withoutReserved)).Decode(&doc)
	if err != nil {
		return benefitDoc{}, mapErr("read benefit", err)
	}
	return doc, nil
}

// readClaimant reads a citizen as GetCitizen does, together with the ledger's
// fields a claim decides on (ledger_seq, claim_fence, held) in one round trip.
func (s *Store) readClaimant(ctx context.Context, id string) (citizenDoc, accountDoc, error) {
	opts := options.FindOne().SetProjection(bson.D{{Key: "usage", Value: 0}, {Key: "pending", Value: 0}})
	raw, err := s.citizens.FindOne(ctx, bson.D{{Key: "_id", Value: id}}, opts).Raw()
	if err != nil {
		return citizenDoc{}, accountDoc{}, mapErr("read citizen", err)
	}
	var cit citizenDoc
	var acct accountDoc
	if err := bson.Unmarshal(raw, &cit); err != nil {
		return citizenDoc{}, accountDoc{}, fmt.Errorf("mongo: decode citizen %s: %w", id, err)
	}
	if err := bson.Unmarshal(raw, &acct); err != nil {
		return citizenDoc{}, accountDoc{}, fmt.Errorf("mongo: decode account %s: %w", id, err)
	}
	return cit, acct, nil
}

// abandonClaim undoes the request's own claim, which it knows it never
// committed: it gives back the unit of stock it may have reserved (guarded by the
// reservation, so at most once), then deletes the voucher, freeing its
// key and code. It runs even if ctx ended. If the unit cannot be given back the
// voucher stays, and the recovery pass undoes both later.
func (s *Store) abandonClaim(ctx context.Context, run *claimRun) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if run.reserveSent {
		if _, err := s.releaseStock(ctx, run.doc.BenefitID, run.doc.ID); err != nil {
			return
		}
	}
	_, _ = s.vouchers.DeleteOne(ctx, bson.D{{Key: "_id", Value: run.doc.ID}, {Key: "status", Value: voucherClaiming}})
}

// completeClaim is steps 5 to 8 for a committed claim, shared by ClaimBenefit
// and the recovery passes; every step may be repeated. raw is the pending item
// exactly as stored (see completePending). hook is the crash tests' (nil in
// recovery).
func (s *Store) completeClaim(ctx context.Context, citizenID string, raw bson.Raw, item pendingDoc, hook func(string) error) error {
	if item.Issue == nil || item.Entry == nil {
		return fmt.Errorf("mongo: pending claim %s of citizen %s is incomplete", item.ClaimVoucherID, citizenID)
	}
	if _, err := s.ledger.InsertOne(ctx, item.Entry); err != nil && !isDuplicateKey(err) {
		return mapErr("append claim entry", err)
	}
	if err := runHook(hook, claimStepEntry); err != nil {
		return err
	}
	if err := s.keepStock(ctx, item.Issue.BenefitID, item.ClaimVoucherID); err != nil {
		return err
	}
	if err := runHook(hook, claimStepStockKept); err != nil {
		return err
	}
	is := item.Issue
	_, err := s.vouchers.UpdateOne(ctx,
		bson.D{{Key: "_id", Value: item.ClaimVoucherID}, {Key: "status", Value: voucherClaiming}},
		bson.D{{Key: "$set", Value: bson.D{
			{Key: "status", Value: voucherIssued},
			{Key: "bank_id", Value: is.BankID},
			{Key: "points_spent", Value: is.PointsSpent},
			{Key: "expires_at", Value: is.ExpiresAt},
			{Key: "balance_after", Value: is.BalanceAfter},
			{Key: "ledger_entry_id", Value: is.LedgerEntryID},
		}}})
	if err != nil {
		return mapErr("issue voucher", err)
	}
	if err := runHook(hook, claimStepIssued); err != nil {
		return err
	}
	_, err = s.citizens.UpdateOne(ctx, bson.D{{Key: "_id", Value: citizenID}},
		bson.D{{Key: "$pull", Value: bson.D{{Key: "pending", Value: raw}}}})
	return mapErr("clear pending claim", err)
}

// FindClaimByIdempotencyKey is served by the unique (citizen_id,
// idempotency_key) index and returns claiming vouchers too.
func (s *Store) FindClaimByIdempotencyKey(ctx context.Context, citizenID, key string) (domain.Voucher, error) {
	filter := bson.D{{Key: "citizen_id", Value: citizenID}, {Key: "idempotency_key", Value: key}}
	var doc voucherDoc
	if err := s.vouchers.FindOne(ctx, filter).Decode(&doc); err != nil {
		return domain.Voucher{}, mapErr("find claim by idempotency key", err)
	}
	return doc.toDomain(), nil
}

// ListVouchers returns a newest-first page of the citizen's vouchers, claiming
// ones left out (the (citizen_id, _id) index).
func (s *Store) ListVouchers(ctx context.Context, citizenID, beforeID string, limit int) ([]domain.Voucher, error) {
	out := []domain.Voucher{}
	if limit <= 0 {
		return out, nil
	}
	filter, opts := citizenPage(citizenID, beforeID, limit)
	filter = append(filter, bson.E{Key: "status", Value: bson.D{{Key: "$ne", Value: voucherClaiming}}})
	var docs []voucherDoc
	if err := findAll(ctx, s.vouchers, "list vouchers", filter, opts, &docs); err != nil {
		return nil, err
	}
	for _, d := range docs {
		out = append(out, d.toDomain())
	}
	return out, nil
}
