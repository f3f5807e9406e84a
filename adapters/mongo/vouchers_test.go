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

// seedBenefit stores a benefit of a new bank costing cost points, with stock and
// a per-citizen limit.
func seedBenefit(t *testing.T, s *Store, cost, stock int64, limit int) domain.Benefit {
	t.Helper()
	now := domain.Now()
	bank := domain.Bank{ID: domain.NewID(now), Code: "bank_" + domain.RandomToken(6), Name: "湖州银行", CreatedAt: now, CreatedBy: "seed"}
	if err := s.CreateBank(t.Context(), bank); err != nil {
		t.Fatal(err)
	}
	b := domain.Benefit{
		ID: domain.NewID(now), BankID: bank.ID, Title: "绿色消费贷利率优惠", Kind: domain.BenefitLoanRateDiscount, RateBP: 15,
		PointsCost: cost, Stock: stock, PerCitizenLimit: limit,
		ValidFrom: now.Add(-time.Hour), ValidUntil: now.Add(30 * 24 * time.Hour), VoucherTTL: 14 * 24 * time.Hour,
		CreatedAt: now, CreatedBy: "seed",
	}
	if err := s.CreateBenefit(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	return b
}

// fundAccount credits points to the citizen through an action, so the ledger
// stays consistent with the balance.
func fundAccount(t *testing.T, s *Store, citizenID string, points int64) {
	t.Helper()
	now := domain.Now()
	a := draftAction(citizenID, "fund-"+domain.RandomToken(6), "", 1, now)
	credit := domain.Credit{Status: domain.ActionCredited, CreditedQuantity: domain.Units(1), CO2eGrams: 7, Points: points}
	if _, err := s.RecordAction(t.Context(), a, domain.NewID(now), func(domain.DayUsage) (domain.Credit, error) { return credit, nil }); err != nil {
		t.Fatal(err)
	}
}

// draftClaim is a claim as the service builds it, at `at`.
func draftClaim(citizenID, benefitID string, at time.Time) domain.Claim {
	return domain.Claim{
		VoucherID: domain.NewID(at), Code: domain.NewVoucherCode(), CitizenID: citizenID, BenefitID: benefitID,
		IdempotencyKey: "claim-" + domain.RandomToken(9), EntryID: domain.NewID(at), At: at,
	}
}

// claimRules is the service's decide over the eligibility rules, at now.
func claimRules(now time.Time) func(domain.Benefit, domain.Citizen, int) (domain.ClaimTerms, error) {
	return func(b domain.Benefit, c domain.Citizen, held int) (domain.ClaimTerms, error) {
		if why := domain.Ineligibility(b, c, held, now, nil); len(why) > 0 {
			return domain.ClaimTerms{}, domain.Errorf(domain.KindUnprocessable, why[0], "refused")
		}
		return domain.ClaimTerms{PointsCost: b.PointsCost, ExpiresAt: now.Add(b.VoucherTTL)}, nil
	}
}

// benefitState is a benefit's stock counters as stored.
func benefitState(t *testing.T, s *Store, id string) (claimed int64, reserved int) {
	t.Helper()
	var h struct {
		Claimed  int64    `bson:"claimed"`
		Reserved []string `bson:"reserved"`
	}
	if err := s.benefits.FindOne(t.Context(), bson.D{{Key: "_id", Value: id}}).Decode(&h); err != nil {
		t.Fatal(err)
	}
	return h.Claimed, len(h.Reserved)
}

func wantBenefitState(t *testing.T, s *Store, what, id string, claimed int64, reserved int) {
	t.Helper()
	if c, r := benefitState(t, s, id); c != claimed || r != reserved {
		t.Errorf("%s: benefit claimed %d with %d reservations, want %d and %d", what, c, r, claimed, reserved)
	}
}

func wantBalance(t *testing.T, s *Store, what, citizenID string, balance, earned int64) {
	t.Helper()
	c, err := s.GetCitizen(t.Context(), citizenID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Balance != balance || c.PointsEarnedTotal != earned {
		t.Errorf("%s: balance %d, points earned %d; want %d and %d", what, c.Balance, c.PointsEarnedTotal, balance, earned)
	}
}

// heldCount is what the citizen document counts of the benefit.
func heldCount(t *testing.T, s *Store, citizenID, benefitID string) int64 {
	t.Helper()
	_, acct, err := s.readClaimant(t.Context(), citizenID)
	if err != nil {
		t.Fatal(err)
	}
	return acct.Held[heldKey(benefitID)]
}

func countEntries(t *testing.T, s *Store, citizenID string, kind domain.LedgerKind) int {
	t.Helper()
	entries, err := s.ListLedgerEntries(t.Context(), citizenID, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

func TestClaimHappyPath(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	cid := seedAccount(t, s, "+8613800000001")
	fundAccount(t, s, cid, 300)
	b := seedBenefit(t, s, 120, 5, 2)
	now := domain.Now()

	c := draftClaim(cid, b.ID, now)
	v, err := s.ClaimBenefit(ctx, c, claimRules(now))
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != domain.VoucherIssued || v.BalanceAfter != 180 || v.PointsSpent != 120 || v.BankID != b.BankID || v.LedgerEntryID != c.EntryID {
		t.Fatalf("voucher %+v", v)
	}
	got, err := s.FindClaimByIdempotencyKey(ctx, cid, c.IdempotencyKey)
	if err != nil || got != v {
		t.Fatalf("FindClaimByIdempotencyKey = %+v, %v; want %+v", got, err, v)
	}
	wantBalance(t, s, "after a claim", cid, 180, 300)
	wantBenefitState(t, s, "after a claim", b.ID, 1, 0)
	if n := pendingCount(t, s, cid); n != 0 {
		t.Errorf("%d pending items after a claim", n)
	}
	if h := heldCount(t, s, cid, b.ID); h != 1 {
		t.Errorf("held %d, want 1", h)
	}
	mustConsistent(t, s, 1)

	// Refused by the rules (limit 2, 180 points: the second goes, the third is
	// refused for points).
	if _, err := s.ClaimBenefit(ctx, draftClaim(cid, b.ID, now), claimRules(now)); err != nil {
		t.Fatal(err)
	}
	refused := draftClaim(cid, b.ID, now)
	_, err = s.ClaimBenefit(ctx, refused, claimRules(now))
	if domain.ErrorCodeOf(err) != domain.IneligibleLimit {
		t.Fatalf("third claim: %v, want %s", err, domain.IneligibleLimit)
	}
	if _, err := s.FindClaimByIdempotencyKey(ctx, cid, refused.IdempotencyKey); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("refused claim left its voucher: %v", err)
	}
	wantBenefitState(t, s, "after a refused claim", b.ID, 2, 0)
	wantBalance(t, s, "after a refused claim", cid, 60, 300)
	mustConsistent(t, s, 1)
}

// A claim refused after it reserved a unit (the rules changed their mind on a
// second look) gives the unit back.
func TestClaimRefusedAfterReservingGivesStockBack(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	replica := openStoreOn(t, s.db.Name())
	cid := seedAccount(t, s, "+8613800000001")
	fundAccount(t, s, cid, 100)
	b := seedBenefit(t, s, 100, 1, 5)
	now := domain.Now()
	calls := 0
	var claimedSeen []int64
	_, err := s.ClaimBenefit(ctx, draftClaim(cid, b.ID, now), func(b domain.Benefit, c domain.Citizen, held int) (domain.ClaimTerms, error) {
		calls++
		claimedSeen = append(claimedSeen, b.Claimed)
		if calls == 1 {
			// Another replica spends the points between the read and the commit.
			fundAccount(t, replica, cid, 0)
			return domain.ClaimTerms{PointsCost: 100, ExpiresAt: now.Add(time.Hour)}, nil
		}
		return domain.ClaimTerms{}, domain.Errorf(domain.KindUnprocessable, "changed_mind", "no")
	})
	if domain.ErrorCodeOf(err) != "changed_mind" || calls != 2 {
		t.Fatalf("claim: %v after %d calls", err, calls)
	}
	if claimedSeen[1] != 0 {
		t.Errorf("second look saw Claimed %d, want 0 (its own reservation left out)", claimedSeen[1])
	}
	wantBenefitState(t, s, "after the refusal", b.ID, 0, 0)
	wantBalance(t, s, "after the refusal", cid, 100, 100)
	if n := countDocs(t, s, collVouchers, bson.D{}); n != 0 {
		t.Errorf("%d vouchers left", n)
	}
	mustConsistent(t, s, 1)
}

// The saga's crash points: after each step the process dies; the recovery pass
// completes what was committed and undoes the rest, and the account adds up
// before and after it.
func TestClaimCrashAtEveryStep(t *testing.T) {
	steps := []struct {
		step      string
		committed bool
	}{
		{claimStepInserted, false},
		{claimStepReserved, false},
		{claimStepCommitted, true},
		{claimStepEntry, true},
		{claimStepStockKept, true},
		{claimStepIssued, true},
	}
	for _, tc := range steps {
		t.Run(tc.step, func(t *testing.T) {
			ctx := context.Background()
			s := openTestStore(t)
			cid := seedAccount(t, s, "+8613800000001")
			fundAccount(t, s, cid, 500)
			b := seedBenefit(t, s, 100, 3, 5)
			now := domain.Now()

			s.hooks.claimStep = func(step string) error {
				if step == tc.step {
					return errCrash
				}
				return nil
			}
			c := draftClaim(cid, b.ID, now)
			if _, err := s.ClaimBenefit(ctx, c, claimRules(now)); !errors.Is(err, errCrash) {
				t.Fatalf("crash: %v", err)
			}
			s.hooks.claimStep = nil

			found, err := s.FindClaimByIdempotencyKey(ctx, cid, c.IdempotencyKey)
			if err != nil {
				t.Fatalf("FindClaimByIdempotencyKey after the crash: %v", err)
			}
			wantStatus := domain.VoucherClaiming
			if tc.step == claimStepIssued {
				wantStatus = domain.VoucherIssued
			}
			if found.Status != wantStatus {
				t.Errorf("voucher %s after the crash, want %s", found.Status, wantStatus)
			}
			if tc.committed {
				wantBalance(t, s, "after the crash", cid, 400, 500)
			} else {
				wantBalance(t, s, "after the crash", cid, 500, 500)
			}
			mustConsistent(t, s, 1) // a pending claim entry counts as in the ledger
			// The carbon scan, which reads pending items too, sees only the funding
			// credit: a claim moves no CO2e.
			if entries, err := s.ScanCarbonEntries(ctx, "", 100); err != nil || len(entries) != 1 || entries[0].Kind != domain.LedgerEarn {
				t.Errorf("ScanCarbonEntries = %+v, %v; want the funding credit only", entries, err)
			}

			// The actions' recovery pass leaves claims alone.
			pendingBefore := pendingCount(t, s, cid)
			if c, r, err := s.CompleteInterruptedActions(ctx, now.Add(time.Minute)); err != nil || c != 0 || r != 0 || pendingCount(t, s, cid) != pendingBefore {
				t.Fatalf("CompleteInterruptedActions: %d, %d, %v", c, r, err)
			}
			// Within the grace period nothing is touched.
			if c, u, err := s.CompleteInterruptedClaims(ctx, now.Add(-time.Minute)); err != nil || c != 0 || u != 0 {
				t.Fatalf("recovery before the grace period: %d, %d, %v", c, u, err)
			}
			completed, undone, err := s.CompleteInterruptedClaims(ctx, now.Add(time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			if tc.committed {
				if completed != 1 || undone != 0 {
					t.Errorf("recovery: completed %d undone %d, want 1, 0", completed, undone)
				}
				v, err := s.FindClaimByIdempotencyKey(ctx, cid, c.IdempotencyKey)
				if err != nil || v.Status != domain.VoucherIssued || v.BalanceAfter != 400 || v.PointsSpent != 100 || v.LedgerEntryID != c.EntryID {
					t.Errorf("voucher after recovery: %+v, %v", v, err)
				}
				wantBalance(t, s, "after recovery", cid, 400, 500)
				wantBenefitState(t, s, "after recovery", b.ID, 1, 0)
				if n := countEntries(t, s, cid, domain.LedgerClaim); n != 1 {
					t.Errorf("%d claim entries, want 1", n)
				}
				if h := heldCount(t, s, cid, b.ID); h != 1 {
					t.Errorf("held %d, want 1", h)
				}
			} else {
				if completed != 0 || undone != 1 {
					t.Errorf("recovery: completed %d undone %d, want 0, 1", completed, undone)
				}
				if _, err := s.FindClaimByIdempotencyKey(ctx, cid, c.IdempotencyKey); !errors.Is(err, domain.ErrNotFound) {
					t.Errorf("undone claim still found: %v", err)
				}
				wantBalance(t, s, "after recovery", cid, 500, 500)
				wantBenefitState(t, s, "after recovery", b.ID, 0, 0)
				if n := countEntries(t, s, cid, domain.LedgerClaim); n != 0 {
					t.Errorf("%d claim entries, want 0", n)
				}
				if h := heldCount(t, s, cid, b.ID); h != 0 {
					t.Errorf("held %d, want 0", h)
				}
			}
			if n := pendingCount(t, s, cid); n != 0 {
				t.Errorf("%d pending items after recovery", n)
			}
			mustConsistent(t, s, 1)
			// Idempotent.
			if c, u, err := s.CompleteInterruptedClaims(ctx, now.Add(time.Minute)); err != nil || c != 0 || u != 0 {
				t.Fatalf("second recovery: %d, %d, %v", c, u, err)
			}
			// The client's retry: a replay if it was committed, a new claim (with a
			// new, later id) otherwise.
			later := domain.Now().Add(time.Millisecond)
			retry := draftClaim(cid, b.ID, later)
			retry.IdempotencyKey = c.IdempotencyKey
			v, err := s.ClaimBenefit(ctx, retry, claimRules(later))
			var dup *domain.DuplicateClaimError
			switch {
			case tc.committed && (!errors.As(err, &dup) || dup.Existing.ID != c.VoucherID):
				t.Errorf("retry of a committed claim: %v, want a duplicate of %s", err, c.VoucherID)
			case !tc.committed && (err != nil || v.BalanceAfter != 400):
				t.Errorf("retry of an undone claim: %+v, %v", v, err)
			}
			wantBenefitState(t, s, "after the retry", b.ID, 1, 0)
			mustConsistent(t, s, 1)
		})
	}
}

// A claim that stalls past the grace period (a paused process) and is undone by
// the recovery pass must not commit when it wakes up; the fence stops it, and it
// gives back the unit it reserved after the pass.
func TestStalledClaimIsFenced(t *testing.T) {
	for _, at := range []string{claimStepInserted, claimStepReserved} {
		t.Run(at, func(t *testing.T) {
			ctx := context.Background()
			s := openTestStore(t)
			cid := seedAccount(t, s, "+8613800000001")
			fundAccount(t, s, cid, 500)
			b := seedBenefit(t, s, 100, 3, 5)
			now := domain.Now()
			s.hooks.claimStep = func(step string) error {
				if step != at {
					return nil
				}
				c, u, err := s.CompleteInterruptedClaims(ctx, now.Add(time.Minute))
				if err != nil || c != 0 || u != 1 {
					return fmt.Errorf("recovery while stalled: %d, %d, %v", c, u, err)
				}
				return nil
			}
			_, err := s.ClaimBenefit(ctx, draftClaim(cid, b.ID, now), claimRules(now))
			s.hooks.claimStep = nil
			if !errors.Is(err, errClaimAbandoned) {
				t.Fatalf("stalled claim: %v, want errClaimAbandoned", err)
			}
			wantBalance(t, s, "after an abandoned claim", cid, 500, 500)
			wantBenefitState(t, s, "after an abandoned claim", b.ID, 0, 0)
			if n := countDocs(t, s, collVouchers, bson.D{}); n != 0 {
				t.Errorf("%d vouchers left", n)
			}
			later := domain.Now().Add(time.Millisecond)
			if v, err := s.ClaimBenefit(ctx, draftClaim(cid, b.ID, later), claimRules(later)); err != nil || v.BalanceAfter != 400 {
				t.Fatalf("next claim: %+v, %v", v, err)
			}
			mustConsistent(t, s, 1)
		})
	}
}

// A request that stalls between reading and reserving (here: in decide) while
// the recovery pass undoes its claim still reserves its unit afterwards. Going
// on, its commit misses the fence and it gives the unit back itself; dying right
// after reserving, it leaves a reservation without a voucher, which the next
// pass gives back.
func TestReservationAfterUndo(t *testing.T) {
	for _, dies := range []bool{false, true} {
		t.Run(fmt.Sprintf("dies=%v", dies), func(t *testing.T) {
			ctx := context.Background()
			s := openTestStore(t)
			cid := seedAccount(t, s, "+8613800000001")
			fundAccount(t, s, cid, 500)
			b := seedBenefit(t, s, 100, 1, 5)
			now := domain.Now()
			if dies {
				s.hooks.claimStep = func(step string) error {
					if step == claimStepReserved {
						return errCrash
					}
					return nil
				}
			}
			_, err := s.ClaimBenefit(ctx, draftClaim(cid, b.ID, now), func(domain.Benefit, domain.Citizen, int) (domain.ClaimTerms, error) {
				if c, u, err := s.CompleteInterruptedClaims(ctx, now.Add(time.Minute)); err != nil || c != 0 || u != 1 {
					t.Errorf("recovery while stalled: %d, %d, %v", c, u, err)
				}
				return domain.ClaimTerms{PointsCost: 100, ExpiresAt: now.Add(time.Hour)}, nil
			})
			s.hooks.claimStep = nil
			if dies {
				if !errors.Is(err, errCrash) {
					t.Fatalf("claim: %v", err)
				}
				wantBenefitState(t, s, "with a left reservation", b.ID, 1, 1)
				if c, u, err := s.CompleteInterruptedClaims(ctx, now.Add(time.Minute)); err != nil || c != 0 || u != 0 {
					t.Fatalf("recovery: %d, %d, %v", c, u, err)
				}
			} else if !errors.Is(err, errClaimAbandoned) {
				t.Fatalf("claim: %v, want errClaimAbandoned", err)
			}
			wantBenefitState(t, s, "in the end", b.ID, 0, 0)
			wantBalance(t, s, "in the end", cid, 500, 500)
			if n := countDocs(t, s, collVouchers, bson.D{}); n != 0 {
				t.Errorf("%d vouchers left", n)
			}
			later := domain.Now().Add(time.Millisecond)
			if _, err := s.ClaimBenefit(ctx, draftClaim(cid, b.ID, later), claimRules(later)); err != nil {
				t.Fatalf("the unit given back is claimable: %v", err)
			}
			mustConsistent(t, s, 1)
		})
	}
}

// Ten parallel claims for a benefit with a stock of 3 (and for one citizen with
// points for 2 of another) issue exactly what the stock and the points allow.
// Two stores (two connections, as two replicas) race on a real MongoDB; under
// FerretDB, which does not apply updates atomically across connections, one.
func TestParallelClaims(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	stores := []*Store{s, openStoreOn(t, s.db.Name())}
	if server.FerretDB {
		stores = stores[:1]
	}
	now := domain.Now()
	const n = 10
	b := seedBenefit(t, s, 10, 3, 1)
	cids := make([]string, n)
	for i := range cids {
		cids[i] = seedAccount(t, s, fmt.Sprintf("+86138000000%02d", i))
		fundAccount(t, s, cids[i], 10)
	}
	rich := cids[0]
	fundAccount(t, s, rich, 40) // 50: enough for 2 of `other`
	other := seedBenefit(t, s, 20, 100, 100)

	var wg sync.WaitGroup
	errs := make([]error, 2*n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			_, errs[i] = stores[i%len(stores)].ClaimBenefit(ctx, draftClaim(cids[i], b.ID, now), claimRules(now))
		}()
		go func() {
			defer wg.Done()
			<-start
			_, errs[n+i] = stores[(i+1)%len(stores)].ClaimBenefit(ctx, draftClaim(rich, other.ID, now), claimRules(now))
		}()
	}
	close(start)
	wg.Wait()
	won := map[string]int{}
	for i, err := range errs {
		switch code := domain.ErrorCodeOf(err); {
		case err == nil && i < n:
			won["stock"]++
		case err == nil:
			won["points"]++
		case code == domain.IneligibleSoldOut || code == domain.IneligibleNoPoints:
		default:
			t.Errorf("claim %d: %v", i, err)
		}
	}
	if won["stock"] != 3 || won["points"] != 2 {
		t.Errorf("won %v, want 3 of the stock and 2 with the points", won)
	}
	wantBenefitState(t, s, "stock", b.ID, 3, 0)
	wantBenefitState(t, s, "points", other.ID, 2, 0)
	if n := countDocs(t, s, collVouchers, bson.D{}); n != 5 {
		t.Errorf("%d vouchers, want 5", n)
	}
	mustConsistent(t, s, n)
}

// Expiry: each due voucher is refunded once, whatever step a crash stops at;
// the next run (or the recovery pass) finishes it.
func TestExpiryCrashAtEveryStep(t *testing.T) {
	for _, step := range []string{refundStepMarked, refundStepApplied, refundStepEntry, refundStepPulled} {
		for _, finisher := range []string{"expire", "recover"} {
			t.Run(step+"/"+finisher, func(t *testing.T) {
				ctx := context.Background()
				s := openTestStore(t)
				cid := seedAccount(t, s, "+8613800000001")
				fundAccount(t, s, cid, 300)
				b := seedBenefit(t, s, 100, 3, 5)
				now := domain.Now()
				v, err := s.ClaimBenefit(ctx, draftClaim(cid, b.ID, now), claimRules(now))
				if err != nil {
					t.Fatal(err)
				}
				due := v.ExpiresAt
				s.hooks.refundStep = func(st string) error {
					if st == step {
						return errCrash
					}
					return nil
				}
				ids := 0
				newID := func() string { ids++; return domain.NewID(due) }
				if _, err := s.ExpireVouchers(ctx, due, 10, newID); !errors.Is(err, errCrash) {
					t.Fatalf("crash: %v", err)
				}
				s.hooks.refundStep = nil
				mustConsistent(t, s, 1)
				got, _ := s.FindClaimByIdempotencyKey(ctx, cid, v.IdempotencyKey)
				if got.Status != domain.VoucherExpired || got.RefundEntryID == "" {
					t.Errorf("voucher after the crash: %s, refund entry %q", got.Status, got.RefundEntryID)
				}
				switch finisher {
				case "expire":
					if n, err := s.ExpireVouchers(ctx, due, 10, newID); err != nil || n != 0 {
						t.Fatalf("next run: %d, %v (resumed vouchers are not counted again)", n, err)
					}
				case "recover":
					if c, u, err := s.CompleteInterruptedClaims(ctx, due.Add(time.Minute)); err != nil || c != 0 || u != 0 {
						t.Fatalf("recovery: %d, %d, %v", c, u, err)
					}
				}
				if ids != 1 {
					t.Errorf("newEntryID called %d times, want 1", ids)
				}
				wantBalance(t, s, "after the refund", cid, 300, 300)
				if n := countEntries(t, s, cid, domain.LedgerRefund); n != 1 {
					t.Errorf("%d refund entries, want 1", n)
				}
				got, _ = s.FindClaimByIdempotencyKey(ctx, cid, v.IdempotencyKey)
				var raw bson.M
				_ = s.vouchers.FindOne(ctx, bson.D{{Key: "_id", Value: v.ID}}).Decode(&raw)
				if raw["status"] != voucherExpired {
					t.Errorf("stored status %v, want expired", raw["status"])
				}
				entries, _ := s.ListLedgerEntries(ctx, cid, "", 10)
				if entries[0].ID != got.RefundEntryID || entries[0].Points != 100 || entries[0].BalanceAfter != 300 || entries[0].CauseID != v.ID {
					t.Errorf("refund entry %+v for voucher %+v", entries[0], got)
				}
				if n := pendingCount(t, s, cid); n != 0 {
					t.Errorf("%d pending items", n)
				}
				mustConsistent(t, s, 1)
				// Nothing more to do, ever.
				if n, err := s.ExpireVouchers(ctx, due.Add(time.Hour), 10, newID); err != nil || n != 0 {
					t.Fatalf("later run: %d, %v", n, err)
				}
				wantBalance(t, s, "after another run", cid, 300, 300)
			})
		}
	}
}

// A stalled expiry run that wakes up after another finished the refund does not
// refund again.
func TestStalledRefundLandsOnce(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	replica := openStoreOn(t, s.db.Name())
	cid := seedAccount(t, s, "+8613800000001")
	fundAccount(t, s, cid, 300)
	b := seedBenefit(t, s, 100, 3, 5)
	now := domain.Now()
	v, err := s.ClaimBenefit(ctx, draftClaim(cid, b.ID, now), claimRules(now))
	if err != nil {
		t.Fatal(err)
	}
	s.hooks.refundStep = func(st string) error {
		if st == refundStepMarked {
			// Paused after marking: another replica's run finishes the refund.
			if _, err := replica.ExpireVouchers(ctx, v.ExpiresAt, 10, func() string { return domain.NewID(now) }); err != nil {
				return err
			}
		}
		return nil
	}
	if n, err := s.ExpireVouchers(ctx, v.ExpiresAt, 10, func() string { return domain.NewID(now) }); err != nil || n != 1 {
		t.Fatalf("stalled run: %d, %v", n, err)
	}
	s.hooks.refundStep = nil
	wantBalance(t, s, "after both runs", cid, 300, 300)
	if n := countEntries(t, s, cid, domain.LedgerRefund); n != 1 {
		t.Errorf("%d refund entries, want 1", n)
	}
	mustConsistent(t, s, 1)
}

// ClaimBenefit costs 9 round trips when nothing races, and a refused claim 4;
// counted with the driver's command monitor.
func TestClaimRoundTrips(t *testing.T) {
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
	fundAccount(t, s, cid, 100)
	b := seedBenefit(t, s, 100, 3, 5)
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
	got := count(func() {
		if _, err := s.ClaimBenefit(ctx, draftClaim(cid, b.ID, now), claimRules(now)); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("claim: %d round trips %v", len(got), got)
	if len(got) != 9 {
		t.Errorf("a claim took %d round trips %v, want 9", len(got), got)
	}
	got = count(func() {
		if _, err := s.ClaimBenefit(ctx, draftClaim(cid, b.ID, now), claimRules(now)); domain.ErrorCodeOf(err) != domain.IneligibleNoPoints {
			t.Fatalf("claim without points: %v", err)
		}
	})
	t.Logf("refused claim: %d round trips %v", len(got), got)
	if len(got) != 4 {
		t.Errorf("a refused claim took %d round trips %v, want 4", len(got), got)
	}
}

// A decide that grants what the stock or the balance cannot give is refused at
// once (by the guards it would be on every attempt), and nothing is written.
func TestClaimBeyondStockOrBalanceIsRefused(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t)
	cid := seedAccount(t, s, "+8613800000001")
	fundAccount(t, s, cid, 50)
	soldOut := seedBenefit(t, s, 10, 0, 5)
	b := seedBenefit(t, s, 10, 5, 5)
	now := domain.Now()
	grant := func(cost int64) func(domain.Benefit, domain.Citizen, int) (domain.ClaimTerms, error) {
		return func(domain.Benefit, domain.Citizen, int) (domain.ClaimTerms, error) {
			return domain.ClaimTerms{PointsCost: cost, ExpiresAt: now.Add(time.Hour)}, nil
		}
	}
	start := time.Now()
	if _, err := s.ClaimBenefit(ctx, draftClaim(cid, soldOut.ID, now), grant(10)); err == nil {
		t.Error("a claim beyond the stock went through")
	}
	if _, err := s.ClaimBenefit(ctx, draftClaim(cid, b.ID, now), grant(51)); err == nil {
		t.Error("a claim beyond the balance went through")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("refusing took %v", d)
	}
	wantBenefitState(t, s, "sold out", soldOut.ID, 0, 0)
	wantBenefitState(t, s, "too dear", b.ID, 0, 0)
	wantBalance(t, s, "after the refusals", cid, 50, 50)
	if n := countDocs(t, s, collVouchers, bson.D{}); n != 0 {
		t.Errorf("%d vouchers left", n)
	}
	mustConsistent(t, s, 1)
}
