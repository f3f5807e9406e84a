package mongo

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/event"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

var errCrash = errors.New("simulated crash")

// seedAccount creates a citizen and returns its id.
func seedAccount(t *testing.T, s *Store, subject string) string {
	t.Helper()
	c, created, err := s.FindOrCreateCitizen(t.Context(), newDraft(time.Now(), domain.ProviderDev, subject))
	if err != nil || !created {
		t.Fatalf("create citizen: created=%v err=%v", created, err)
	}
	return c.ID
}

// draftAction is an action as the service hands it to RecordAction.
func draftAction(citizenID, key, evidenceRef string, units int64, recordedAt time.Time) domain.Action {
	id := domain.NewID(recordedAt)
	a := domain.Action{
		ID: id, CitizenID: citizenID, TypeCode: "travel.metro", RuleVersion: 1,
		Quantity: domain.Units(units), OccurredAt: recordedAt.Add(-time.Hour), RecordedAt: recordedAt,
		IdempotencyKey: key, RequestHash: "hash-" + key,
	}
	a.Day = domain.DayOf(a.OccurredAt)
	if evidenceRef != "" {
		a.Evidence = domain.Evidence{Source: "transit_card", Reference: evidenceRef}
		a.EvidenceKey = "ev:" + evidenceRef
	} else {
		a.EvidenceKey = "none:" + id
	}
	return a
}

// metroRules credits 10 points and 100 g per trip, at most dailyCap trips a day.
func metroRules(a domain.Action, dailyCap int64) func(domain.DayUsage) (domain.Credit, error) {
	return func(used domain.DayUsage) (domain.Credit, error) {
		left := domain.Units(dailyCap) - used.TypeQuantity
		if left <= 0 {
			return domain.Credit{}, errCapReached
		}
		q := min(a.Quantity, left)
		trips := int64(q) / domain.QuantityScale
		return domain.Credit{Status: domain.ActionCredited, CreditedQuantity: q, CO2eGrams: 100 * trips, Points: 10 * trips}, nil
	}
}

var errCapReached = domain.Errorf(domain.KindUnprocessable, "daily_cap_reached", "cap")

func mustConsistent(t *testing.T, s *Store, wantCitizens int) []domain.BalanceCheck {
	t.Helper()
	checks, err := s.CheckBalances(t.Context(), "", 100)
	if err != nil {
		t.Fatalf("CheckBalances: %v", err)
	}
	if len(checks) != wantCitizens {
		t.Errorf("CheckBalances checked %d citizens, want %d", len(checks), wantCitizens)
	}
	for _, c := range checks {
		if !c.Consistent() {
			t.Errorf("inconsistent: %+v", c)
		}
	}
	return checks
}

func countDocs(t *testing.T, s *Store, coll string, filter bson.D) int64 {
	t.Helper()
	n, err := s.db.Collection(coll).CountDocuments(t.Context(), filter)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func pendingCount(t *testing.T, s *Store, citizenID string) int {
	t.Helper()
	var h pendingHolder
	if err := s.citizens.FindOne(t.Context(), bson.D{{Key: "_id", Value: citizenID}}).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return len(h.Pending)
}

func TestRecordActionHappyPathAndDuplicates(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	cid := seedAccount(t, s, "+8613800000001")
	now := domain.Now()

	a := draftAction(cid, "k1", "ride-1", 2, now)
	got, err := s.RecordAction(ctx, a, domain.NewID(a.RecordedAt), metroRules(a, 3))
	if err != nil {
		t.Fatal(err)
	}
	if got.Status != domain.ActionCredited || got.Points != 20 || got.CO2eGrams != 200 || got.BalanceAfter != 20 || got.LedgerEntryID == "" {
		t.Fatalf("recorded %+v", got)
	}
	read, err := s.GetAction(ctx, a.ID)
	if err != nil || read.BalanceAfter != 20 || read.Status != domain.ActionCredited || !read.RecordedAt.Equal(got.RecordedAt) {
		t.Fatalf("GetAction = %+v, %v", read, err)
	}
	if n := pendingCount(t, s, cid); n != 0 {
		t.Errorf("%d pending items left after a full recording", n)
	}

	// Same key again: the first action comes back.
	again := draftAction(cid, "k1", "ride-1", 2, now)
	_, err = s.RecordAction(ctx, again, domain.NewID(again.RecordedAt), metroRules(again, 3))
	var dup *domain.DuplicateRequestError
	if !errors.As(err, &dup) || dup.Existing.ID != a.ID || dup.Existing.Status != domain.ActionCredited {
		t.Fatalf("same key: %v", err)
	}
	// Same evidence, another key (and another citizen).
	other := seedAccount(t, s, "+8613800000002")
	stolen := draftAction(other, "k1", "ride-1", 1, now)
	if _, err := s.RecordAction(ctx, stolen, domain.NewID(stolen.RecordedAt), metroRules(stolen, 3)); !errors.Is(err, domain.ErrEvidenceUsed) {
		t.Fatalf("same evidence: %v, want ErrEvidenceUsed", err)
	}
	// Over the cap: the rest is credited, then the rules refuse and nothing is written.
	b := draftAction(cid, "k2", "ride-2", 2, now.Add(time.Millisecond)) // ids sort after a's
	got, err = s.RecordAction(ctx, b, domain.NewID(b.RecordedAt), metroRules(b, 3))
	if err != nil || got.CreditedQuantity != domain.Units(1) || got.BalanceAfter != 30 {
		t.Fatalf("capped: %+v, %v", got, err)
	}
	c := draftAction(cid, "k3", "ride-3", 1, now)
	if _, err := s.RecordAction(ctx, c, domain.NewID(c.RecordedAt), metroRules(c, 3)); !errors.Is(err, errCapReached) {
		t.Fatalf("over cap: %v", err)
	}
	if _, err := s.FindActionByIdempotencyKey(ctx, cid, "k3"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("refused action left behind: %v", err)
	}
	// The refused evidence is free for a later day's action.
	// Unknown citizen.
	d := draftAction("nobody", "k1", "ride-4", 1, now)
	if _, err := s.RecordAction(ctx, d, domain.NewID(d.RecordedAt), metroRules(d, 3)); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("unknown citizen: %v", err)
	}
	if n := countDocs(t, s, collActions, bson.D{{Key: "citizen_id", Value: "nobody"}}); n != 0 {
		t.Errorf("unknown citizen's action left behind")
	}

	entries, err := s.ListLedgerEntries(ctx, cid, "", 10)
	if err != nil || len(entries) != 2 || entries[0].Points != 10 || entries[1].Points != 20 {
		t.Fatalf("ledger: %+v, %v", entries, err)
	}
	actions, err := s.ListActions(ctx, cid, "", 10)
	if err != nil || len(actions) != 2 || actions[0].ID != b.ID {
		t.Fatalf("actions: %+v, %v", actions, err)
	}
	cit, err := s.GetCitizen(ctx, cid)
	if err != nil || cit.Balance != 30 || cit.CO2eGramsTotal != 300 || cit.PointsEarnedTotal != 30 || cit.Version != 0 {
		t.Fatalf("citizen after credits: %+v, %v", cit, err)
	}
	mustConsistent(t, s, 2)
}

// A crash after the commit (step 2): the balance moved but the ledger entry, the
// action's outcome and the pending item's removal are missing.
func TestCrashAfterApply(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	cid := seedAccount(t, s, "+8613800000001")
	now := domain.Now()

	first := draftAction(cid, "k0", "ride-0", 1, now)
	if _, err := s.RecordAction(ctx, first, domain.NewID(first.RecordedAt), metroRules(first, 5)); err != nil {
		t.Fatal(err)
	}
	s.hooks.afterApply = func() error { return errCrash }
	now = now.Add(time.Millisecond) // ids sort after the first action's
	a := draftAction(cid, "k1", "ride-1", 2, now)
	if _, err := s.RecordAction(ctx, a, domain.NewID(a.RecordedAt), metroRules(a, 5)); !errors.Is(err, errCrash) {
		t.Fatalf("crash: %v", err)
	}
	s.hooks.afterApply = nil

	cit, _ := s.GetCitizen(ctx, cid)
	if cit.Balance != 30 {
		t.Fatalf("balance %d, want 30 (the crashed action is applied)", cit.Balance)
	}
	var holder pendingHolder
	if err := s.citizens.FindOne(ctx, bson.D{{Key: "_id", Value: cid}}).Decode(&holder); err != nil || len(holder.Pending) != 1 {
		t.Fatalf("pending after the crash: %d items, %v", len(holder.Pending), err)
	}
	pendingBefore := holder.Pending
	if n := countDocs(t, s, collLedger, bson.D{}); n != 1 {
		t.Fatalf("%d ledger entries, want 1 before recovery", n)
	}
	if _, err := s.GetAction(ctx, a.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("GetAction of a recording action: %v, want ErrNotFound", err)
	}
	if l, _ := s.ListActions(ctx, cid, "", 10); len(l) != 1 {
		t.Errorf("ListActions shows %d actions, want 1 (recording hidden)", len(l))
	}
	if found, err := s.FindActionByIdempotencyKey(ctx, cid, "k1"); err != nil || found.Status != domain.ActionRecording {
		t.Errorf("FindActionByIdempotencyKey: %+v, %v; want the recording action", found, err)
	}
	// The pending entry counts as in the ledger.
	mustConsistent(t, s, 1)

	// The second half of the recovery pass, which meets the action as a stale
	// recording, must see that it is pending (the fence's guard must not match) and
	// leave it for completion rather than remove it. Run it with a cutoff that the
	// first half ignores.
	if c, r, err := s.settleRecording(ctx, a.ID, cid); err != nil || c != 1 || r != 0 {
		t.Fatalf("settleRecording of an applied action: completed %d removed %d err %v; want 1, 0", c, r, err)
	}
	if acct, _ := s.readAccount(ctx, cid); acct.RecoveryFence != "" {
		t.Errorf("an applied action raised the fence to %q", acct.RecoveryFence)
	}
	if got, err := s.GetAction(ctx, a.ID); err != nil || got.Status != domain.ActionCredited {
		t.Fatalf("action after settleRecording: %+v, %v", got, err)
	}
	mustConsistent(t, s, 1)
	// Replay the crash for the rest of the test: undo the completion by hand.
	if _, err := s.ledger.DeleteOne(ctx, bson.D{{Key: "cause_id", Value: a.ID}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.actions.UpdateOne(ctx, bson.D{{Key: "_id", Value: a.ID}}, bson.D{{Key: "$set", Value: bson.D{{Key: "status", Value: "recording"}}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.citizens.UpdateOne(ctx, bson.D{{Key: "_id", Value: cid}}, bson.D{{Key: "$set", Value: bson.D{{Key: "pending", Value: pendingBefore}}}}); err != nil {
		t.Fatal(err)
	}
	mustConsistent(t, s, 1)

	// Within the grace period nothing is touched.
	if c, r, err := s.CompleteInterruptedActions(ctx, now.Add(-time.Minute)); err != nil || c != 0 || r != 0 {
		t.Fatalf("recovery before the grace period: %d, %d, %v", c, r, err)
	}
	c, r, err := s.CompleteInterruptedActions(ctx, now.Add(time.Minute))
	if err != nil || c != 1 || r != 0 {
		t.Fatalf("recovery: completed %d removed %d err %v; want 1, 0", c, r, err)
	}
	got, err := s.GetAction(ctx, a.ID)
	if err != nil || got.Status != domain.ActionCredited || got.BalanceAfter != 30 || got.Points != 20 || got.LedgerEntryID == "" {
		t.Fatalf("completed action: %+v, %v", got, err)
	}
	entries, _ := s.ListLedgerEntries(ctx, cid, "", 10)
	if len(entries) != 2 || entries[0].ID != got.LedgerEntryID || entries[0].BalanceAfter != 30 || entries[0].CauseID != a.ID {
		t.Fatalf("ledger after recovery: %+v", entries)
	}
	if n := pendingCount(t, s, cid); n != 0 {
		t.Errorf("%d pending items after recovery", n)
	}
	mustConsistent(t, s, 1)
	// Idempotent.
	if c, r, err := s.CompleteInterruptedActions(ctx, now.Add(time.Minute)); err != nil || c != 0 || r != 0 {
		t.Fatalf("second recovery: %d, %d, %v", c, r, err)
	}
	// A retry of the request replays the completed action.
	retry := draftAction(cid, "k1", "ride-1", 2, now)
	_, err = s.RecordAction(ctx, retry, domain.NewID(retry.RecordedAt), metroRules(retry, 5))
	var dup *domain.DuplicateRequestError
	if !errors.As(err, &dup) || dup.Existing.ID != a.ID || dup.Existing.Status != domain.ActionCredited {
		t.Fatalf("retry after recovery: %v", err)
	}
}

// A crash after the insert (step 1): nothing was applied; recovery removes the
// recording and frees the idempotency key and the evidence.
func TestCrashAfterInsert(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	cid := seedAccount(t, s, "+8613800000001")
	now := domain.Now()

	s.hooks.afterInsert = func() error { return errCrash }
	a := draftAction(cid, "k1", "ride-1", 1, now)
	if _, err := s.RecordAction(ctx, a, domain.NewID(a.RecordedAt), metroRules(a, 5)); !errors.Is(err, errCrash) {
		t.Fatalf("crash: %v", err)
	}
	s.hooks.afterInsert = nil

	b := draftAction(cid, "k2", "ride-1", 1, now)
	if _, err := s.RecordAction(ctx, b, domain.NewID(b.RecordedAt), metroRules(b, 5)); !errors.Is(err, domain.ErrEvidenceUsed) {
		t.Fatalf("evidence held by the stuck recording: %v, want ErrEvidenceUsed", err)
	}
	mustConsistent(t, s, 1)
	c, r, err := s.CompleteInterruptedActions(ctx, now.Add(time.Minute))
	if err != nil || c != 0 || r != 1 {
		t.Fatalf("recovery: completed %d removed %d err %v; want 0, 1", c, r, err)
	}
	if _, err := s.FindActionByIdempotencyKey(ctx, cid, "k1"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("removed recording still found: %v", err)
	}
	// Drafted after the recovery, as the client's next request would be (the
	// recovery fences off every recording of the citizen up to the removed one's id).
	later := domain.Now().Add(time.Second)
	b = draftAction(cid, "k2", "ride-1", 1, later)
	got, err := s.RecordAction(ctx, b, domain.NewID(b.RecordedAt), metroRules(b, 5))
	if err != nil || got.BalanceAfter != 10 {
		t.Fatalf("same evidence after recovery: %+v, %v", got, err)
	}
	// The same idempotency key works again too, with a fresh action id.
	a2 := draftAction(cid, "k1", "ride-9", 1, later)
	if _, err := s.RecordAction(ctx, a2, domain.NewID(a2.RecordedAt), metroRules(a2, 5)); err != nil {
		t.Fatalf("same key after recovery: %v", err)
	}
	mustConsistent(t, s, 1)
}

// A recording that stalls past the grace period (a paused process) and is removed
// by the recovery pass must not be applied when it wakes up: the fence stops it.
func TestStalledRecordingIsFenced(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	cid := seedAccount(t, s, "+8613800000001")
	now := domain.Now()

	s.hooks.afterInsert = func() error {
		c, r, err := s.CompleteInterruptedActions(ctx, now.Add(time.Minute))
		if err != nil || c != 0 || r != 1 {
			return fmt.Errorf("recovery while stalled: %d, %d, %v", c, r, err)
		}
		return nil
	}
	a := draftAction(cid, "k1", "ride-1", 1, now)
	_, err := s.RecordAction(ctx, a, domain.NewID(a.RecordedAt), metroRules(a, 5))
	s.hooks.afterInsert = nil
	if !errors.Is(err, errRecordingAbandoned) {
		t.Fatalf("stalled recording: %v, want errRecordingAbandoned", err)
	}
	cit, _ := s.GetCitizen(ctx, cid)
	if cit.Balance != 0 {
		t.Errorf("balance %d after an abandoned recording", cit.Balance)
	}
	// The client's retry gets a new id and goes through, with the same evidence.
	later := domain.Now().Add(time.Millisecond)
	retry := draftAction(cid, "k1", "ride-1", 1, later)
	got, err := s.RecordAction(ctx, retry, domain.NewID(retry.RecordedAt), metroRules(retry, 5))
	if err != nil || got.BalanceAfter != 10 {
		t.Fatalf("retry: %+v, %v", got, err)
	}
	mustConsistent(t, s, 1)
}

// An action that moves nothing (pending review) is finished without touching the
// citizen.
func TestPendingReviewMovesNothing(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	cid := seedAccount(t, s, "+8613800000001")
	now := domain.Now()
	a := draftAction(cid, "k1", "", 1, now)
	got, err := s.RecordAction(ctx, a, domain.NewID(a.RecordedAt), func(domain.DayUsage) (domain.Credit, error) {
		return domain.Credit{Status: domain.ActionPendingReview}, nil
	})
	if err != nil || got.Status != domain.ActionPendingReview || got.LedgerEntryID != "" {
		t.Fatalf("pending review: %+v, %v", got, err)
	}
	read, err := s.GetAction(ctx, a.ID)
	if err != nil || read.Status != domain.ActionPendingReview {
		t.Fatalf("GetAction: %+v, %v", read, err)
	}
	if n := countDocs(t, s, collLedger, bson.D{}); n != 0 {
		t.Errorf("%d ledger entries for an action that moved nothing", n)
	}
}

// Many parallel actions for one citizen under a daily cap: the cap holds, every
// credit lands once, and the ledger adds up. Two stores (two connections, as two
// replicas) race; under FerretDB each has one connection.
func TestParallelActionsOneCitizen(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	stores := []*Store{s, openStoreOn(t, s.db.Name())}
	if server.FerretDB {
		// FerretDB v1 applies updates as read-modify-write in Go, so two connections
		// can lose each other's updates; race on one connection there.
		stores = stores[:1]
	}
	cid := seedAccount(t, s, "+8613800000001")
	now := domain.Now()
	const n, dailyCap = 50, 30
	var wg sync.WaitGroup
	errs := make([]error, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			a := draftAction(cid, fmt.Sprintf("k%d", i), fmt.Sprintf("ride-%d", i), 1, now)
			_, errs[i] = stores[i%len(stores)].RecordAction(ctx, a, domain.NewID(a.RecordedAt), metroRules(a, dailyCap))
		}()
	}
	close(start)
	wg.Wait()
	ok := 0
	for i, err := range errs {
		switch {
		case err == nil:
			ok++
		case !errors.Is(err, errCapReached):
			t.Errorf("action %d: %v", i, err)
		}
	}
	if ok != dailyCap {
		t.Errorf("%d actions credited, want exactly the cap %d", ok, dailyCap)
	}
	cit, _ := s.GetCitizen(ctx, cid)
	if cit.Balance != 10*dailyCap {
		t.Errorf("balance %d, want %d", cit.Balance, 10*dailyCap)
	}
	entries, _ := s.ListLedgerEntries(ctx, cid, "", 100)
	seen := map[int64]bool{}
	for _, e := range entries {
		if seen[e.BalanceAfter] {
			t.Errorf("two entries with balance_after %d", e.BalanceAfter)
		}
		seen[e.BalanceAfter] = true
	}
	mustConsistent(t, s, 1)
}

// Profile saves and credits touch different fields and different guards: neither
// overwrites the other, and a credit does not make a profile save conflict.
func TestProfileSaveAndCreditDoNotInterfere(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	cid := seedAccount(t, s, "+8613800000001")
	c, _ := s.GetCitizen(ctx, cid)
	now := domain.Now()
	a := draftAction(cid, "k1", "ride-1", 1, now)
	if _, err := s.RecordAction(ctx, a, domain.NewID(a.RecordedAt), metroRules(a, 5)); err != nil {
		t.Fatal(err)
	}
	c.Nickname = "renamed"
	saved, err := s.SaveCitizenProfile(ctx, c) // read before the credit
	if err != nil {
		t.Fatalf("profile save after a credit: %v", err)
	}
	if saved.Balance != 10 || saved.Nickname != "renamed" {
		t.Errorf("saved %+v", saved)
	}
	// Erasure stops later credits.
	erasedAt := domain.Now()
	saved.ErasedAt = &erasedAt
	if _, err := s.SaveCitizenProfile(ctx, saved); err != nil {
		t.Fatal(err)
	}
	b := draftAction(cid, "k2", "ride-2", 1, now)
	if _, err := s.RecordAction(ctx, b, domain.NewID(b.RecordedAt), metroRules(b, 5)); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("credit to an erased citizen: %v, want ErrNotFound", err)
	}
	if err := s.AnonymiseActions(ctx, cid); err != nil {
		t.Fatal(err)
	}
	got, _ := s.GetAction(ctx, a.ID)
	if got.Evidence != (domain.Evidence{}) || got.EvidenceKey != a.EvidenceKey {
		t.Errorf("anonymised action: %+v", got)
	}
}

// Usage of days long past is dropped from the citizen document on the next credit.
func TestOldUsageDaysArePruned(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	cid := seedAccount(t, s, "+8613800000001")
	_, err := s.citizens.UpdateOne(ctx, bson.D{{Key: "_id", Value: cid}}, bson.D{{Key: "$set", Value: bson.D{
		{Key: "usage.2000-01-01", Value: dayUsageDoc{TotalPoints: 5, Quantity: map[string]int64{"travel:metro": 1000}}},
	}}})
	if err != nil {
		t.Fatal(err)
	}
	now := domain.Now()
	a := draftAction(cid, "k1", "ride-1", 1, now)
	if _, err := s.RecordAction(ctx, a, domain.NewID(a.RecordedAt), metroRules(a, 5)); err != nil {
		t.Fatal(err)
	}
	acct, err := s.readAccount(ctx, cid)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := acct.Usage["2000-01-01"]; ok || len(acct.Usage) != 1 {
		t.Errorf("usage after pruning: %+v", acct.Usage)
	}
	if u := acct.Usage[a.Day].usage(a.TypeCode); u.TypeQuantity != domain.Units(1) || u.TotalPoints != 10 {
		t.Errorf("today's usage: %+v", u)
	}
}

// A citizen stored before ledger_seq existed can still be credited.
func TestCitizenWithoutLedgerSeq(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	cid := seedAccount(t, s, "+8613800000001")
	if _, err := s.citizens.UpdateOne(ctx, bson.D{{Key: "_id", Value: cid}}, bson.D{{Key: "$unset", Value: bson.D{{Key: "ledger_seq", Value: ""}}}}); err != nil {
		t.Fatal(err)
	}
	now := domain.Now()
	a := draftAction(cid, "k1", "ride-1", 1, now)
	if got, err := s.RecordAction(ctx, a, domain.NewID(a.RecordedAt), metroRules(a, 5)); err != nil || got.BalanceAfter != 10 {
		t.Fatalf("credit: %+v, %v", got, err)
	}
	mustConsistent(t, s, 1)
}

// RecordAction costs 6 round trips when nothing races (insert, read citizen,
// commit, insert entry, finish action, clear pending) and 3 for an action that
// moves nothing; counted with the driver's command monitor.
func TestRecordActionRoundTrips(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var commands []string
	monitor := &event.CommandMonitor{Started: func(_ context.Context, e *event.CommandStartedEvent) {
		mu.Lock()
		commands = append(commands, e.CommandName)
		mu.Unlock()
	}}
	base := openTestStore(t)
	opts := append(server.ClientOptions(), func(o *options.ClientOptions) { o.SetMonitor(monitor) })
	s, err := Open(ctx, server.URI, base.db.Name(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	cid := seedAccount(t, s, "+8613800000001")
	count := func(f func()) []string {
		mu.Lock()
		commands = nil
		mu.Unlock()
		f()
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), commands...)
	}
	now := domain.Now()
	a := draftAction(cid, "k1", "ride-1", 1, now)
	got := count(func() {
		if _, err := s.RecordAction(ctx, a, domain.NewID(a.RecordedAt), metroRules(a, 5)); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("credit: %d round trips %v", len(got), got)
	if len(got) != 6 {
		t.Errorf("a credit took %d round trips %v, want 6", len(got), got)
	}
	b := draftAction(cid, "k2", "", 1, now)
	got = count(func() {
		if _, err := s.RecordAction(ctx, b, domain.NewID(b.RecordedAt), func(domain.DayUsage) (domain.Credit, error) {
			return domain.Credit{Status: domain.ActionPendingReview}, nil
		}); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("pending review: %d round trips %v", len(got), got)
	if len(got) != 3 {
		t.Errorf("an action pending review took %d round trips %v, want 3", len(got), got)
	}
}

// A request whose evidence is held by another one still recording waits for its
// outcome: if the rules refuse the first, the evidence is free again and the
// second records, as it would after the first's transaction rolled back.
func TestEvidenceHeldByARefusedRecordingIsFreed(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	cid := seedAccount(t, s, "+8613800000001")
	other := seedAccount(t, s, "+8613800000002")
	now := domain.Now()

	var second error
	done := make(chan struct{})
	var once sync.Once
	s.hooks.afterInsert = func() error {
		once.Do(func() {
			go func() {
				defer close(done)
				b := draftAction(other, "k1", "ride-1", 1, now)
				_, second = s.RecordAction(ctx, b, domain.NewID(now), metroRules(b, 5))
			}()
			time.Sleep(100 * time.Millisecond) // the second finds the evidence taken and waits
		})
		return nil
	}
	a := draftAction(cid, "k1", "ride-1", 1, now)
	_, err := s.RecordAction(ctx, a, domain.NewID(now), metroRules(a, 0)) // refused: cap 0
	<-done
	s.hooks.afterInsert = nil
	if !errors.Is(err, errCapReached) {
		t.Fatalf("first: %v, want the rules' refusal", err)
	}
	if second != nil {
		t.Fatalf("second, after the first was refused: %v, want recorded", second)
	}
	mustConsistent(t, s, 2)
}

// CheckBalances while credits land: a citizen read between a commit and its ledger
// entry, or entries read after a later commit, must not be reported as mismatches.
func TestCheckBalancesDuringCredits(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	cids := []string{seedAccount(t, s, "+8613800000001"), seedAccount(t, s, "+8613800000002")}
	done := make(chan struct{})
	var recErr error
	go func() {
		defer close(done)
		for i := range 20 {
			now := domain.Now()
			a := draftAction(cids[i%2], fmt.Sprintf("k%d", i), fmt.Sprintf("ride-%d", i), 1, now)
			if _, err := s.RecordAction(ctx, a, domain.NewID(now), metroRules(a, 100)); err != nil {
				recErr = err
				return
			}
		}
	}()
	// The checker has a connection of its own (a replica running the nightly job),
	// so its reads interleave freely with the recording's writes. It only reads, so
	// FerretDB's non-atomic updates do not matter here.
	checker := openStoreOn(t, s.db.Name())
	checks := 0
	for running := true; running; {
		select {
		case <-done:
			running = false
		default:
		}
		mustConsistent(t, checker, 2)
		checks++
	}
	if recErr != nil {
		t.Fatal(recErr)
	}
	t.Logf("%d consistent checks while recording", checks)
}

// A credit committed between CheckBalances reading a page of citizens and reading
// their entries makes the ledger look ahead of the balance; the citizen is checked
// again and found consistent.
func TestCheckBalancesRechecksACitizenThatMoved(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	cid := seedAccount(t, s, "+8613800000001")
	credits := 0
	s.hooks.afterBalancePage = func() {
		credits++
		now := domain.Now()
		a := draftAction(cid, fmt.Sprintf("k%d", credits), fmt.Sprintf("ride-%d", credits), 1, now)
		if _, err := s.RecordAction(ctx, a, domain.NewID(now), metroRules(a, 100)); err != nil {
			t.Error(err)
		}
	}
	checks := mustConsistent(t, s, 1)
	s.hooks.afterBalancePage = nil
	if credits != 1 || checks[0].Balance != 10 {
		t.Errorf("%d credits during the check, balance %d; want 1 and 10 (seen by the recheck)", credits, checks[0].Balance)
	}
}

// A real mismatch (here a balance no ledger entry explains) is reported, once.
func TestCheckBalancesReportsARealMismatch(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	draft := newDraft(time.Now(), domain.ProviderDev, "+8613800000001")
	draft.Balance = 5
	c, _, err := s.FindOrCreateCitizen(ctx, draft)
	if err != nil {
		t.Fatal(err)
	}
	checks, err := s.CheckBalances(ctx, "", 10)
	if err != nil || len(checks) != 1 {
		t.Fatalf("CheckBalances: %v, %v", checks, err)
	}
	want := domain.BalanceCheck{CitizenID: c.ID, Balance: 5}
	if checks[0] != want || checks[0].Consistent() {
		t.Errorf("CheckBalances = %+v, want %+v (inconsistent)", checks[0], want)
	}
}

// A credit committed by another replica between this request's read and its
// compare-and-set makes the latter miss: the request reads again and decides on
// the new usage. The other replica is a second store (its own connection and
// in-process locks), and runs inside decide, so the two never overlap on the server.
func TestCommitRetriesWhenTheAccountMoved(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	replica := openStoreOn(t, s.db.Name())
	cid := seedAccount(t, s, "+8613800000001")
	now := domain.Now()
	var seen []domain.DayUsage
	a := draftAction(cid, "k1", "ride-1", 1, now)
	got, err := s.RecordAction(ctx, a, domain.NewID(now), func(u domain.DayUsage) (domain.Credit, error) {
		seen = append(seen, u)
		if len(seen) == 1 {
			later := now.Add(time.Millisecond)
			b := draftAction(cid, "k2", "ride-2", 1, later)
			if _, err := replica.RecordAction(ctx, b, domain.NewID(later), metroRules(b, 2)); err != nil {
				t.Errorf("the other replica's credit: %v", err)
			}
		}
		return metroRules(a, 2)(u)
	})
	if err != nil || got.BalanceAfter != 20 {
		t.Fatalf("credit after a lost compare-and-set: %+v, %v", got, err)
	}
	if len(seen) != 2 || seen[1].TypeQuantity != domain.Units(1) || seen[1].TotalPoints != 10 {
		t.Errorf("decide saw %+v; want a second call seeing the other credit", seen)
	}
	mustConsistent(t, s, 1)
}
