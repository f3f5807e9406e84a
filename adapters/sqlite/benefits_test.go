package sqlite

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// These cover what is particular to the SQLite benefit store (plans, constraints,
// transactions under concurrency); the behaviour every store shares is in
// adapters/storetest.

func openBenefitStore(t *testing.T) *Store {
	t.Helper()
	s := openTemp(t, filepath.Join(t.TempDir(), "carbon.db"))
	t.Cleanup(func() { _ = s.Close() })
	if err := s.CreateBank(t.Context(), domain.Bank{ID: "bank-1", Code: "huzhou_bank", Name: "湖州银行", CreatedAt: testNow, CreatedBy: "seed"}); err != nil {
		t.Fatal(err)
	}
	return s
}

// newTestBenefit stores a benefit of bank-1, open around testNow, costing cost
// points.
func newTestBenefit(t *testing.T, s *Store, cost, stock int64, perCitizen int) domain.Benefit {
	t.Helper()
	b := domain.Benefit{
		ID: domain.NewID(testNow), BankID: "bank-1", Title: "绿色贷款利率优惠", Terms: "减免 10 个基点", Kind: domain.BenefitLoanRateDiscount,
		RateBP: 10, PointsCost: cost, Stock: stock, PerCitizenLimit: perCitizen,
		ValidFrom: testNow.Add(-time.Hour), ValidUntil: testNow.Add(time.Hour), VoucherTTL: 24 * time.Hour,
		CreatedAt: testNow, CreatedBy: "op-1",
	}
	if err := s.CreateBenefit(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	return b
}

// newFundedCitizen is a citizen holding points (earned by one action).
func newFundedCitizen(t *testing.T, s *Store, subject string, points int64) domain.Citizen {
	t.Helper()
	c := newTestCitizen(t, s, subject)
	if _, err := s.RecordAction(t.Context(), newTestAction(c.ID), domain.NewID(testNow), credit(points, 10*points)); err != nil {
		t.Fatal(err)
	}
	return c
}

func benefitService(s *Store) *domain.BenefitService {
	return &domain.BenefitService{Benefits: s, Now: func() time.Time { return testNow },
		ReplayWaitStep: time.Millisecond, ReplayWaitMax: time.Second}
}

func checkConsistent(t *testing.T, s *Store) {
	t.Helper()
	checks, err := s.CheckBalances(t.Context(), "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range checks {
		if !ch.Consistent() {
			t.Errorf("inconsistent: %+v", ch)
		}
	}
}

func countRows(t *testing.T, s *Store, query string, args ...any) int {
	t.Helper()
	var n int
	if err := s.read.QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Listings, lookups, the per-claim reads and writes and the expiry run are all
// served by an index: vouchers grow with every claim.
func TestBenefitQueriesUseIndexes(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "carbon.db"))
	t.Cleanup(func() { _ = s.Close() })
	wantIndex := map[string]string{
		listVouchersFirst:  "vouchers_citizen",
		listVouchersBefore: "vouchers_citizen",
		vouchersHeld:       "COVERING INDEX vouchers_citizen",
		dueVouchers:        "vouchers_expiry",
		listBenefitsBank:   "benefits_bank",
	}
	for _, q := range []string{
		bankByID, benefitByID, listBenefitsAll, listBenefitsBank,
		voucherByIdempotencyKey, listVouchersFirst, listVouchersBefore,
		citizenForClaim, vouchersHeld, spendPoints, claimUnit,
		dueVouchers, expireVoucher, refundPoints,
	} {
		args := make([]any, countParams(q))
		for i := range args {
			args[i] = i + 1
		}
		plan := queryPlan(t, s.write, q, args...)
		for _, step := range plan {
			for _, table := range []string{"banks", "benefits", "vouchers", "citizens"} {
				if step == "SCAN "+table || strings.HasPrefix(step, "SCAN "+table+" ") {
					t.Errorf("%.60q scans %s: %v", q, table, plan)
				}
			}
			if strings.HasPrefix(step, "USE TEMP B-TREE") {
				t.Errorf("%.60q sorts: %v", q, plan)
			}
		}
		if idx, ok := wantIndex[q]; ok && !slices.ContainsFunc(plan, func(step string) bool { return strings.Contains(step, idx+" ") }) {
			t.Errorf("%.60q does not use %s: %v", q, idx, plan)
		}
	}
}

// The schema itself refuses to oversell a benefit or reuse a voucher code.
func TestBenefitSchemaConstraints(t *testing.T) {
	s := openBenefitStore(t)
	b := newTestBenefit(t, s, 10, 1, 1)
	if _, err := s.write.Exec("UPDATE benefits SET claimed = 2 WHERE id = ?", b.ID); !isCheckViolation(err) {
		t.Errorf("claimed above stock: %v, want a CHECK violation", err)
	}
	if err := s.CreateBank(t.Context(), domain.Bank{ID: "bank-2", Code: "huzhou_bank", Name: "other"}); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("CreateBank(taken code) = %v, want ErrConflict", err)
	}
	c := newFundedCitizen(t, s, "+8613800000001", 100)
	other := newTestBenefit(t, s, 10, 5, 5)
	claim := func(benefitID, key, code string) error {
		_, err := s.ClaimBenefit(t.Context(), domain.Claim{VoucherID: domain.NewID(testNow), Code: code, CitizenID: c.ID,
			BenefitID: benefitID, IdempotencyKey: key, EntryID: domain.NewID(testNow), At: testNow},
			func(b domain.Benefit, _ domain.Citizen, _ int) (domain.ClaimTerms, error) {
				return domain.ClaimTerms{PointsCost: b.PointsCost, ExpiresAt: testNow.Add(b.VoucherTTL)}, nil
			})
		return err
	}
	if err := claim(b.ID, "k1", "CODE-1"); err != nil {
		t.Fatal(err)
	}
	// decide lets a sold-out claim through: the guarded update refuses it.
	if err := claim(b.ID, "k2", "CODE-2"); err == nil || !strings.Contains(err.Error(), "no stock left") {
		t.Errorf("claim past the stock = %v, want a refusal", err)
	}
	if err := claim(other.ID, "k3", "CODE-1"); !errors.Is(err, domain.ErrConflict) {
		t.Errorf("claim with a taken code = %v, want ErrConflict", err)
	}
	if got := balanceOf(t, s, c.ID); got != 90 {
		t.Errorf("balance = %d, want 90 (one claim)", got)
	}
	if n := countRows(t, s, "SELECT count(*) FROM vouchers"); n != 1 {
		t.Errorf("%d vouchers, want 1", n)
	}
	if got, _ := s.GetBenefit(t.Context(), other.ID); got.Claimed != 0 {
		t.Errorf("claimed after failed claims = %d, want 0", got.Claimed)
	}
	checkConsistent(t, s)
}

// A refused claim, and a claim whose decide panics, write nothing and leave the
// writer usable.
func TestClaimBenefitRefusalAndPanicWriteNothing(t *testing.T) {
	s := openBenefitStore(t)
	b := newTestBenefit(t, s, 10, 5, 5)
	c := newFundedCitizen(t, s, "+8613800000001", 100)
	entries := countRows(t, s, "SELECT count(*) FROM ledger_entries")
	claim := domain.Claim{VoucherID: domain.NewID(testNow), Code: domain.NewVoucherCode(), CitizenID: c.ID,
		BenefitID: b.ID, IdempotencyKey: "k1", EntryID: domain.NewID(testNow), At: testNow}
	refusal := errors.New("not eligible")
	if _, err := s.ClaimBenefit(t.Context(), claim, func(domain.Benefit, domain.Citizen, int) (domain.ClaimTerms, error) {
		return domain.ClaimTerms{}, refusal
	}); err != refusal {
		t.Fatalf("ClaimBenefit = %v, want decide's error itself", err)
	}
	func() {
		defer func() {
			if v := recover(); v != "boom" {
				t.Errorf("recovered %v, want boom", v)
			}
		}()
		_, _ = s.ClaimBenefit(t.Context(), claim, func(domain.Benefit, domain.Citizen, int) (domain.ClaimTerms, error) { panic("boom") })
		t.Error("ClaimBenefit returned; want decide's panic")
	}()
	if n := countRows(t, s, "SELECT count(*) FROM vouchers"); n != 0 {
		t.Errorf("%d vouchers after refusals, want 0", n)
	}
	if n := countRows(t, s, "SELECT count(*) FROM ledger_entries"); n != entries {
		t.Errorf("%d ledger entries after refusals, want %d", n, entries)
	}
	if got := balanceOf(t, s, c.ID); got != 100 {
		t.Errorf("balance = %d, want 100", got)
	}
	// The key is still free, and the writer is not stuck in the panicked transaction.
	v, err := s.ClaimBenefit(t.Context(), claim, func(b domain.Benefit, _ domain.Citizen, held int) (domain.ClaimTerms, error) {
		if held != 0 || b.Claimed != 0 {
			t.Errorf("decide saw held %d, claimed %d; want 0 and 0", held, b.Claimed)
		}
		return domain.ClaimTerms{PointsCost: 10, ExpiresAt: testNow.Add(time.Hour)}, nil
	})
	if err != nil || v.BalanceAfter != 90 || v.Status != domain.VoucherIssued {
		t.Fatalf("ClaimBenefit after refusals = %+v, %v", v, err)
	}
}

// 100 citizens racing for a benefit with 5 vouchers: exactly 5 are issued, the
// others are told it is sold out.
func TestClaimBenefitRaceNeverOversells(t *testing.T) {
	s := openBenefitStore(t)
	b := newTestBenefit(t, s, 10, 5, 1)
	const racers = 100
	citizens := make([]domain.Citizen, racers)
	for i := range citizens {
		citizens[i] = newFundedCitizen(t, s, fmt.Sprintf("+86138%08d", i), 50)
	}
	svc := benefitService(s)
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() {
			<-start
			_, _, errs[i] = svc.Claim(t.Context(), citizens[i].ID, b.ID, "claim-1")
		})
	}
	close(start)
	wg.Wait()
	won := 0
	for _, err := range errs {
		var de *domain.Error
		switch {
		case err == nil:
			won++
		case errors.As(err, &de) && de.Code == domain.IneligibleSoldOut:
		default:
			t.Errorf("Claim: %v, want success or %s", err, domain.IneligibleSoldOut)
		}
	}
	got, err := s.GetBenefit(t.Context(), b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s, "SELECT count(*) FROM vouchers WHERE benefit_id = ?", b.ID); won != 5 || n != 5 || got.Claimed != 5 {
		t.Errorf("%d claims succeeded, %d vouchers stored, claimed = %d; want 5 each", won, n, got.Claimed)
	}
	checkConsistent(t, s)
}

// A citizen with points for exactly 3 claims sends 30 at once: 3 succeed, the
// balance ends at 0 having gone 20, 10, 0, and lifetime points and CO2e stay.
func TestClaimBenefitRaceNeverOverspends(t *testing.T) {
	s := openBenefitStore(t)
	b := newTestBenefit(t, s, 10, 100, 100)
	c := newFundedCitizen(t, s, "+8613800000001", 30)
	svc := benefitService(s)
	const racers = 30
	var wg sync.WaitGroup
	start := make(chan struct{})
	vouchers := make([]domain.Voucher, racers)
	errs := make([]error, racers)
	for i := range racers {
		wg.Go(func() {
			<-start
			vouchers[i], _, errs[i] = svc.Claim(t.Context(), c.ID, b.ID, fmt.Sprintf("claim-%d", i))
		})
	}
	close(start)
	wg.Wait()
	var after []int64
	for i, err := range errs {
		var de *domain.Error
		switch {
		case err == nil:
			after = append(after, vouchers[i].BalanceAfter)
		case errors.As(err, &de) && de.Code == domain.IneligibleNoPoints:
		default:
			t.Errorf("Claim: %v, want success or %s", err, domain.IneligibleNoPoints)
		}
	}
	slices.Sort(after)
	if !slices.Equal(after, []int64{0, 10, 20}) {
		t.Errorf("BalanceAfter of the successful claims = %v, want [0 10 20]", after)
	}
	got, err := s.GetCitizen(t.Context(), c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Balance != 0 || got.PointsEarnedTotal != 30 || got.CO2eGramsTotal != 300 {
		t.Errorf("citizen after claims: balance %d, earned %d, CO2e %d; want 0, 30, 300", got.Balance, got.PointsEarnedTotal, got.CO2eGramsTotal)
	}
	if n := countRows(t, s, "SELECT count(*) FROM ledger_entries WHERE citizen_id = ? AND kind = 'claim'", c.ID); n != 3 {
		t.Errorf("%d claim entries, want 3", n)
	}
	if n := countRows(t, s, "SELECT count(*) FROM ledger_entries WHERE balance_after < 0"); n != 0 {
		t.Errorf("%d entries with a negative balance after", n)
	}
	checkConsistent(t, s)
}

// Expiry refunds each due voucher once, with an entry, and leaves lifetime totals.
func TestExpireVouchersRefundsOnce(t *testing.T) {
	ctx := t.Context()
	s := openBenefitStore(t)
	b := newTestBenefit(t, s, 10, 10, 10)
	c := newFundedCitizen(t, s, "+8613800000001", 30)
	svc := benefitService(s)
	var issued []domain.Voucher
	for i := range 3 {
		v, _, err := svc.Claim(ctx, c.ID, b.ID, fmt.Sprintf("k%d", i))
		if err != nil {
			t.Fatal(err)
		}
		issued = append(issued, v)
	}
	// Due at testNow+24h; the third one is redeemed first and must not be refunded.
	if _, err := s.write.Exec("UPDATE vouchers SET status = 'redeemed' WHERE id = ?", issued[2].ID); err != nil {
		t.Fatal(err)
	}
	if n, err := s.ExpireVouchers(ctx, testNow.Add(23*time.Hour), 10, func() string { return domain.NewID(testNow) }); err != nil || n != 0 {
		t.Fatalf("ExpireVouchers before they are due = %d, %v; want 0", n, err)
	}
	due := testNow.Add(24 * time.Hour)
	if n, err := s.ExpireVouchers(ctx, due, 1, func() string { return domain.NewID(due) }); err != nil || n != 1 {
		t.Fatalf("ExpireVouchers(limit 1) = %d, %v; want 1", n, err)
	}
	if n, err := s.ExpireVouchers(ctx, due, 10, func() string { return domain.NewID(due) }); err != nil || n != 1 {
		t.Fatalf("ExpireVouchers(rest) = %d, %v; want 1", n, err)
	}
	if n, err := s.ExpireVouchers(ctx, due, 10, func() string { return domain.NewID(due) }); err != nil || n != 0 {
		t.Fatalf("ExpireVouchers again = %d, %v; want 0", n, err)
	}
	got, err := s.GetCitizen(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Balance != 20 || got.PointsEarnedTotal != 30 || got.CO2eGramsTotal != 300 {
		t.Errorf("citizen after expiry: balance %d, earned %d, CO2e %d; want 20, 30, 300", got.Balance, got.PointsEarnedTotal, got.CO2eGramsTotal)
	}
	list, err := s.ListVouchers(ctx, c.ID, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range list {
		want := domain.VoucherExpired
		if v.ID == issued[2].ID {
			want = domain.VoucherRedeemed
		}
		if v.Status != want || (want == domain.VoucherExpired) == (v.RefundEntryID == "") {
			t.Errorf("voucher %s: status %s, refund entry %q; want %s", v.ID, v.Status, v.RefundEntryID, want)
		}
	}
	entries, err := s.ListLedgerEntries(ctx, c.ID, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	refunds := 0
	for _, e := range entries {
		if e.Kind == domain.LedgerRefund {
			refunds++
			if e.Points != 10 || e.CauseType != "voucher" || e.CO2eGrams != 0 || !e.CreatedAt.Equal(due) {
				t.Errorf("refund entry = %+v", e)
			}
		}
	}
	if refunds != 2 {
		t.Errorf("%d refund entries, want 2", refunds)
	}
	checkConsistent(t, s)
}
