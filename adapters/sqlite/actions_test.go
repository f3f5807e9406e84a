package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// These tests cover what is particular to the SQLite adapter (schema, plans,
// group commit, its failure paths); the behaviour every store shares is in
// adapters/storetest.

var testNow = time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)

func newTestCitizen(t *testing.T, s *Store, subject string) domain.Citizen {
	t.Helper()
	c, _, err := s.FindOrCreateCitizen(t.Context(), domain.Citizen{ID: domain.NewID(testNow),
		Identity: domain.Identity{Provider: domain.ProviderDev, Subject: subject}, CreatedAt: testNow, UpdatedAt: testNow})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var testSeq atomic.Int64

// newTestAction is a draft metro ride with its own key and evidence.
func newTestAction(citizenID string) domain.Action {
	n := testSeq.Add(1)
	a := domain.Action{
		ID: domain.NewID(testNow), CitizenID: citizenID, TypeCode: "travel.metro", RuleVersion: 1,
		Quantity: domain.Units(2), OccurredAt: testNow.Add(-time.Hour), RecordedAt: testNow,
		Evidence:       domain.Evidence{Source: "transit_card", Reference: fmt.Sprintf("ride-%d", n)},
		EvidenceKey:    fmt.Sprintf("evidence-%d", n),
		IdempotencyKey: fmt.Sprintf("key-%d", n), RequestHash: fmt.Sprintf("hash-%d", n),
	}
	a.Day = domain.DayOf(a.OccurredAt)
	return a
}

func credit(points, co2e int64) func(domain.DayUsage) (domain.Credit, error) {
	return func(domain.DayUsage) (domain.Credit, error) {
		return domain.Credit{Status: domain.ActionCredited, CreditedQuantity: domain.Units(2), CO2eGrams: co2e, Points: points}, nil
	}
}

// rowCounts returns how many actions, ledger entries and usage rows the store holds.
func rowCounts(t *testing.T, s *Store) [3]int {
	t.Helper()
	var n [3]int
	for i, table := range []string{"actions", "ledger_entries", "daily_usage"} {
		if err := s.read.QueryRow("SELECT count(*) FROM " + table).Scan(&n[i]); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func balanceOf(t *testing.T, s *Store, id string) int64 {
	t.Helper()
	c, err := s.GetCitizen(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	return c.Balance
}

// Every statement of the action and catalog code must be served by an index:
// RecordAction runs thousands of times a second against tables of millions of
// rows, and the listings and CheckBalances page through them.
func TestActionQueriesUseIndexes(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "carbon.db"))
	t.Cleanup(func() { _ = s.Close() })
	tables := []string{"actions", "ledger_entries", "daily_usage", "citizens", "activity_types", "coefficient_versions"}
	for _, q := range []string{
		recordPreflight, actionByIdempotencyKey, addToAccount, insertAction, insertLedgerEntry, addUsage,
		actionByID, listActionsFirst, listActionsBefore, listEntriesFirst, listEntriesBefore,
		anonymiseActions, checkBalances, latestVersion,
	} {
		args := make([]any, countParams(q))
		for i := range args {
			args[i] = i + 1
		}
		plan := queryPlan(t, s.write, q, args...)
		for _, step := range plan {
			for _, table := range tables {
				if step == "SCAN "+table || strings.HasPrefix(step, "SCAN "+table+" ") {
					t.Errorf("%.60q scans %s: %v", q, table, plan)
				}
			}
			if strings.HasPrefix(step, "USE TEMP B-TREE") {
				t.Errorf("%.60q sorts: %v", q, plan)
			}
		}
	}
}

// Migration 003 rebuilds citizens to add CHECK (balance >= 0): the rows, the
// unique identity index and every column must survive it.
func TestMigration003KeepsCitizensAndChecksBalance(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "carbon.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"001_init.sql", "002_prune_sessions.sql"} {
		body, err := migrations.ReadFile("migrations/" + name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
	for _, stmt := range []string{
		`CREATE TABLE schema_migrations (version TEXT NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`,
		`INSERT INTO schema_migrations VALUES ('001_init.sql', 0), ('002_prune_sessions.sql', 0)`,
		`INSERT INTO citizens (id, identity_provider, identity_subject, phone, nickname, district, leaderboard_opt_out,
			balance, co2e_grams_total, points_earned_total, created_at, updated_at, erased_at, version)
			VALUES ('c1', 'dev', '+8613800000001', '+8613800000001', '绿友', '吴兴区', 1, 7, 1500, 9, 1000, 2000, NULL, 3),
			       ('c2', 'firebase', 'uid-2', '', '', '', 0, 0, 0, 0, 1000, 1000, 5000, 1)`,
	} {
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			t.Fatalf("%.60s: %v", stmt, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openTemp(t, path)
	t.Cleanup(func() { _ = s.Close() })
	c1, err := s.GetCitizen(ctx, "c1")
	if err != nil {
		t.Fatal(err)
	}
	if c1.Nickname != "绿友" || c1.District != "吴兴区" || !c1.LeaderboardOptOut || c1.Balance != 7 ||
		c1.CO2eGramsTotal != 1500 || c1.PointsEarnedTotal != 9 || c1.Version != 3 || c1.ErasedAt != nil ||
		c1.CreatedAt.UnixMilli() != 1000 || c1.UpdatedAt.UnixMilli() != 2000 || c1.Phone != "+8613800000001" {
		t.Errorf("c1 after migration = %+v", c1)
	}
	if c2, err := s.GetCitizen(ctx, "c2"); err != nil || c2.ErasedAt == nil || c2.ErasedAt.UnixMilli() != 5000 {
		t.Errorf("c2 after migration = %+v, %v", c2, err)
	}
	// The identity index is back, and unique.
	got, created, err := s.FindOrCreateCitizen(ctx, domain.Citizen{ID: "c3", Identity: domain.Identity{Provider: "firebase", Subject: "uid-2"}})
	if err != nil || created || got.ID != "c2" {
		t.Errorf("FindOrCreateCitizen(existing identity) = %s, created %v, %v; want c2", got.ID, created, err)
	}
	if _, err := s.write.Exec("INSERT INTO citizens (id, identity_provider, identity_subject, created_at, updated_at) VALUES ('c4', 'dev', '+8613800000001', 0, 0)"); !isUniqueViolation(err) {
		t.Errorf("second citizen with c1's identity: %v, want a unique violation", err)
	}
	if _, err := s.write.Exec("UPDATE citizens SET balance = balance - 8 WHERE id = 'c1'"); !isCheckViolation(err) {
		t.Errorf("balance below zero: %v, want a CHECK violation", err)
	}
	if b := balanceOf(t, s, "c1"); b != 7 {
		t.Errorf("balance after refused update = %d, want 7", b)
	}
}

// A refusal by decide is returned as is and leaves nothing behind: no action, no
// entry, no usage, no points, and the key and evidence stay free.
func TestRecordActionWritesNothingWhenDecideRefuses(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t, filepath.Join(t.TempDir(), "carbon.db"))
	t.Cleanup(func() { _ = s.Close() })
	c := newTestCitizen(t, s, "+8613800000001")
	refusal := errors.New("over the cap")
	a := newTestAction(c.ID)
	_, err := s.RecordAction(ctx, a, domain.NewID(testNow), func(domain.DayUsage) (domain.Credit, error) { return domain.Credit{}, refusal })
	if err != refusal {
		t.Fatalf("RecordAction = %v, want decide's error itself", err)
	}
	if n := rowCounts(t, s); n != [3]int{} {
		t.Errorf("rows after a refusal (actions, entries, usage) = %v, want none", n)
	}
	got, err := s.RecordAction(ctx, a, domain.NewID(testNow), credit(3, 300))
	if err != nil || got.Points != 3 || got.BalanceAfter != 3 {
		t.Fatalf("RecordAction again with the same key and evidence = %+v, %v", got, err)
	}
}

// In a batch, each request is decided on what the previous ones wrote, refusals
// leave no trace, and a failure after the first write (here: a balance that would
// go negative, and an entry id used twice) rolls the batch back and runs the
// others again, so they are all recorded exactly once.
func TestRecordBatchIsolatesEachAction(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t, filepath.Join(t.TempDir(), "carbon.db"))
	t.Cleanup(func() { _ = s.Close() })
	c := newTestCitizen(t, s, "+8613800000001")
	other := newTestCitizen(t, s, "+8613800000002")

	var seen []domain.DayUsage
	record := func(points int64) func(domain.DayUsage) (domain.Credit, error) {
		return func(u domain.DayUsage) (domain.Credit, error) {
			seen = append(seen, u)
			return credit(points, 100)(u)
		}
	}
	dupKey := newTestAction(c.ID)
	dupKey.IdempotencyKey = "key-first"
	first := newTestAction(c.ID)
	first.IdempotencyKey = "key-first"
	sameEvidence := newTestAction(other.ID)
	sameEvidence.EvidenceKey = first.EvidenceKey
	entryID := domain.NewID(testNow)
	req := func(a domain.Action, entry string, decide func(domain.DayUsage) (domain.Credit, error)) *recordRequest {
		return &recordRequest{ctx: ctx, action: a, entryID: entry, decide: decide, done: make(chan struct{})}
	}
	batch := []*recordRequest{
		req(first, entryID, record(5)),
		req(newTestAction(c.ID), domain.NewID(testNow), record(-100)), // would go negative
		req(dupKey, domain.NewID(testNow), record(1)),
		req(sameEvidence, domain.NewID(testNow), record(1)),
		req(newTestAction(c.ID), entryID, record(1)), // entry id taken by the first
		req(newTestAction(c.ID), domain.NewID(testNow), func(domain.DayUsage) (domain.Credit, error) {
			return domain.Credit{}, errors.New("refused")
		}),
		req(newTestAction(c.ID), domain.NewID(testNow), record(2)),
	}
	s.recordBatch(batch)

	if r := batch[0].out; r.err != nil || r.action.BalanceAfter != 5 {
		t.Errorf("first: %+v", r)
	}
	if r := batch[1].out; r.err == nil || !strings.Contains(r.err.Error(), "negative") {
		t.Errorf("negative credit: err = %v, want a refusal naming the negative balance", r.err)
	}
	var dup *domain.DuplicateRequestError
	if r := batch[2].out; !errors.As(r.err, &dup) || dup.Existing.ID != first.ID || dup.Existing.Points != 5 {
		t.Errorf("same key in the batch: err = %v, want DuplicateRequestError with the first action", r.err)
	}
	if r := batch[3].out; !errors.Is(r.err, domain.ErrEvidenceUsed) {
		t.Errorf("same evidence in the batch: err = %v, want ErrEvidenceUsed", r.err)
	}
	if r := batch[4].out; !errors.Is(r.err, domain.ErrConflict) {
		t.Errorf("entry id used twice: err = %v, want ErrConflict", r.err)
	}
	if r := batch[5].out; r.err == nil || r.err.Error() != "refused" {
		t.Errorf("refused by decide: err = %v", r.err)
	}
	if r := batch[6].out; r.err != nil || r.action.BalanceAfter != 7 {
		t.Errorf("last: %+v, want recorded with balance 7", r)
	}
	// The last request saw the first one's credit in its usage.
	if last := seen[len(seen)-1]; last.TypePoints != 5 || last.TotalPoints != 5 || last.TypeQuantity != domain.Units(2) {
		t.Errorf("usage seen by the last request = %+v, want the first one's credit", last)
	}
	if n := rowCounts(t, s); n != [3]int{2, 2, 2} {
		t.Errorf("rows (actions, entries, usage) = %v, want 2 actions, 2 entries, 2 usage rows", n)
	}
	checks, err := s.CheckBalances(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range checks {
		if !ch.Consistent() {
			t.Errorf("inconsistent after the batch: %+v", ch)
		}
	}
	if b := balanceOf(t, s, c.ID); b != 7 {
		t.Errorf("balance = %d, want 7", b)
	}
}

// The CHECK constraint on citizens, not only the code, keeps balances at zero or
// above: a credit that would go below zero fails loudly and writes nothing.
func TestRecordActionNeverMakesBalanceNegative(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t, filepath.Join(t.TempDir(), "carbon.db"))
	t.Cleanup(func() { _ = s.Close() })
	c := newTestCitizen(t, s, "+8613800000001")
	if _, err := s.RecordAction(ctx, newTestAction(c.ID), domain.NewID(testNow), credit(4, 0)); err != nil {
		t.Fatal(err)
	}
	_, err := s.RecordAction(ctx, newTestAction(c.ID), domain.NewID(testNow), credit(-5, 0))
	if err == nil || !isCheckViolation(err) {
		t.Fatalf("RecordAction(-5 points on a balance of 4) = %v, want a CHECK violation", err)
	}
	if b := balanceOf(t, s, c.ID); b != 4 {
		t.Errorf("balance = %d, want 4", b)
	}
	if n := rowCounts(t, s); n != [3]int{1, 1, 2} {
		t.Errorf("rows (actions, entries, usage) = %v, want only the first action's", n)
	}
	if _, err := s.write.Exec("INSERT INTO ledger_entries ("+ledgerColumns+") VALUES ('e', ?, 'adjust', -9, 0, -5, 'adjustment', 'x', 0)", c.ID); !isCheckViolation(err) {
		t.Errorf("ledger entry with a negative balance_after: %v, want a CHECK violation", err)
	}
}

// decide runs on the recorder's goroutine; its panic must surface in the caller,
// as it would without group commit, and leave the store working.
func TestRecordActionPanicInDecideReachesCaller(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t, filepath.Join(t.TempDir(), "carbon.db"))
	t.Cleanup(func() { _ = s.Close() })
	c := newTestCitizen(t, s, "+8613800000001")
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want boom", v)
			}
		}()
		_, _ = s.RecordAction(ctx, newTestAction(c.ID), domain.NewID(testNow), func(domain.DayUsage) (domain.Credit, error) { panic("boom") })
		t.Error("RecordAction returned; want decide's panic")
	}()
	if _, err := s.RecordAction(ctx, newTestAction(c.ID), domain.NewID(testNow), credit(1, 10)); err != nil {
		t.Errorf("RecordAction after a panic: %v", err)
	}
	if n := rowCounts(t, s); n != [3]int{1, 1, 2} {
		t.Errorf("rows (actions, entries, usage) = %v, want only the second action's", n)
	}
}

func TestRecordActionContextAndClose(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "carbon.db"))
	c := newTestCitizen(t, s, "+8613800000001")
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.RecordAction(canceled, newTestAction(c.ID), domain.NewID(testNow), credit(1, 10)); !errors.Is(err, context.Canceled) {
		t.Errorf("RecordAction(canceled) = %v, want context.Canceled", err)
	}
	if n := rowCounts(t, s); n != [3]int{} {
		t.Errorf("rows after a canceled call = %v, want none", n)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RecordAction(t.Context(), newTestAction(c.ID), domain.NewID(testNow), credit(1, 10)); !errors.Is(err, errStoreClosed) {
		t.Errorf("RecordAction after Close = %v, want errStoreClosed", err)
	}
}

// CheckBalances reports a balance that does not match the ledger (here changed
// behind the store's back), and pages by citizen id.
func TestCheckBalancesFindsMismatch(t *testing.T) {
	ctx := t.Context()
	s := openTemp(t, filepath.Join(t.TempDir(), "carbon.db"))
	t.Cleanup(func() { _ = s.Close() })
	var ids []string
	for i := range 3 {
		c := newTestCitizen(t, s, fmt.Sprintf("+861380000000%d", i))
		ids = append(ids, c.ID)
		for range i {
			if _, err := s.RecordAction(ctx, newTestAction(c.ID), domain.NewID(testNow), credit(2, 30)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := s.write.Exec("UPDATE citizens SET balance = balance + 1 WHERE id = ?", ids[2]); err != nil {
		t.Fatal(err)
	}
	var got []domain.BalanceCheck
	for after := ""; ; {
		page, err := s.CheckBalances(ctx, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, page...)
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].CitizenID
	}
	if len(got) != 3 {
		t.Fatalf("CheckBalances covered %d citizens, want 3", len(got))
	}
	if !slices.IsSortedFunc(got, func(a, b domain.BalanceCheck) int { return strings.Compare(a.CitizenID, b.CitizenID) }) {
		t.Errorf("CheckBalances is not in id order: %+v", got)
	}
	for _, ch := range got {
		i := slices.Index(ids, ch.CitizenID)
		want := domain.BalanceCheck{CitizenID: ids[i], Balance: int64(2 * i), LedgerPoints: int64(2 * i),
			CO2eGramsTotal: int64(30 * i), LedgerCO2eGrams: int64(30 * i), PointsEarnedTotal: int64(2 * i), LedgerEarned: int64(2 * i)}
		if i == 2 {
			want.Balance++
		}
		if ch != want {
			t.Errorf("check %d = %+v, want %+v", i, ch, want)
		}
	}
	for _, ch := range got {
		if want := ch.CitizenID != ids[2]; ch.Consistent() != want {
			t.Errorf("%s: Consistent() = %v, want %v", ch.CitizenID, ch.Consistent(), want)
		}
	}
}

// countParams is how many arguments q takes: its plain ? parameters, or the
// highest ?N.
func countParams(q string) int {
	n := 0
	for _, m := range regexp.MustCompile(`\?(\d*)`).FindAllStringSubmatch(q, -1) {
		if m[1] == "" {
			n++
		} else if k, _ := strconv.Atoi(m[1]); k > n {
			n = k
		}
	}
	return n
}
