package mongo

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// An applied action whose request crashed before writing its ledger entry counts
// from the moment it is pending: ScanCarbonEntries returns its entry then, once
// while it is both pending and in the ledger, and once after recovery.
func TestScanCarbonEntriesIncludesPendingEntries(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	cid := seedAccount(t, s, "+8613800000001")
	now := domain.Now()

	first := draftAction(cid, "k0", "ride-0", 1, now)
	firstEntry := domain.NewID(now)
	if _, err := s.RecordAction(ctx, first, firstEntry, metroRules(first, 5)); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Millisecond) // ids sort after the first action's
	crashed := draftAction(cid, "k1", "ride-1", 2, now)
	crashedEntry := domain.NewID(now)
	s.hooks.afterApply = func() error { return errCrash }
	if _, err := s.RecordAction(ctx, crashed, crashedEntry, metroRules(crashed, 5)); !errors.Is(err, errCrash) {
		t.Fatalf("crash: %v", err)
	}
	s.hooks.afterApply = nil
	if n := countDocs(t, s, collLedger, bson.D{}); n != 1 {
		t.Fatalf("%d ledger entries, want 1 before recovery", n)
	}

	scan := func(what, after string, limit int, want ...string) []domain.LedgerEntry {
		t.Helper()
		got, err := s.ScanCarbonEntries(ctx, after, limit)
		if err != nil {
			t.Fatalf("%s: ScanCarbonEntries(%q, %d): %v", what, after, limit, err)
		}
		var ids []string
		for _, e := range got {
			ids = append(ids, e.ID)
		}
		if !slices.Equal(ids, want) {
			t.Errorf("%s: ScanCarbonEntries(%q, %d) = %v, want %v", what, after, limit, ids, want)
		}
		return got
	}
	check := func(what string) {
		t.Helper()
		got := scan(what, "", 10, firstEntry, crashedEntry)
		if len(got) == 2 {
			e := got[1]
			if e.CitizenID != cid || e.Kind != domain.LedgerEarn || e.CO2eGrams != 200 || e.Points != 20 ||
				e.BalanceAfter != 30 || e.CauseType != "action" || e.CauseID != crashed.ID || !e.CreatedAt.Equal(toDate(crashed.RecordedAt)) {
				t.Errorf("%s: crashed action's entry = %+v", what, e)
			}
		}
		scan(what, "", 1, firstEntry)
		scan(what, firstEntry, 1, crashedEntry)
		scan(what, crashedEntry, 10)
	}
	check("pending")

	// Between RecordAction's steps 3 and 4 the entry is in both places.
	var holder pendingHolder
	if err := s.citizens.FindOne(ctx, bson.D{{Key: "_id", Value: cid}}).Decode(&holder); err != nil || len(holder.Pending) != 1 {
		t.Fatalf("pending after the crash: %d items, %v", len(holder.Pending), err)
	}
	var item pendingDoc
	if err := bson.Unmarshal(holder.Pending[0], &item); err != nil || item.Entry == nil {
		t.Fatalf("pending item: %+v, %v", item, err)
	}
	if _, err := s.ledger.InsertOne(ctx, item.Entry); err != nil {
		t.Fatal(err)
	}
	check("pending and in the ledger")

	if c, r, err := s.CompleteInterruptedActions(ctx, now.Add(time.Minute)); err != nil || c != 1 || r != 0 {
		t.Fatalf("recovery: completed %d removed %d err %v; want 1, 0", c, r, err)
	}
	if n := pendingCount(t, s, cid); n != 0 {
		t.Fatalf("%d pending items after recovery", n)
	}
	check("recovered")
}
