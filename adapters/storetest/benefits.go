package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// BenefitsStore is a store that also keeps banks, benefits and vouchers. The
// benefits part of the suite is written against it until domain.Store embeds
// domain.BankStore and domain.BenefitStore; then RunBenefits folds into Run.
type BenefitsStore interface {
	domain.Store
	domain.BankStore
	domain.BenefitStore
}

// RunBenefits runs the banks, benefits and vouchers part of the contract suite
// against the stores returned by open (same conventions as Run).
func RunBenefits(t *testing.T, open func(t *testing.T) BenefitsStore) {
	t.Run("banks", func(t *testing.T) { runBanks(t, open) })
	t.Run("benefits", func(t *testing.T) { runBenefits(t, open) })
	t.Run("claims", func(t *testing.T) { runClaims(t, open) })
	t.Run("voucher expiry", func(t *testing.T) { runVoucherExpiry(t, open) })
	t.Run("claim races", func(t *testing.T) { runClaimRaces(t, open) })
	t.Run("claim service", func(t *testing.T) { runClaimService(t, open) })
}

// newBank returns a bank with every field set, its code made unique by suffix.
func newBank(id, suffix string) domain.Bank {
	return domain.Bank{ID: id, Code: "huzhou_bank_" + suffix, Name: "湖州银行 " + suffix, CreatedAt: at(-48 * time.Hour), CreatedBy: "op-" + suffix}
}

func diffBank(want, got domain.Bank) fieldDiffs {
	var d fieldDiffs
	d.eq("ID", want.ID, got.ID)
	d.eq("Code", want.Code, got.Code)
	d.eq("Name", want.Name, got.Name)
	d.time("CreatedAt", want.CreatedAt, got.CreatedAt)
	d.eq("CreatedBy", want.CreatedBy, got.CreatedBy)
	return d
}

func seedBank(t *testing.T, s BenefitsStore) domain.Bank {
	t.Helper()
	b := newBank(domain.NewID(time.Now()), strings.ToLower(domain.RandomToken(6)))
	mustNoErr(t, "CreateBank", s.CreateBank(t.Context(), b))
	return b
}

// voucherTTL is whole days, as domain.ValidateBenefit allows, and none of the
// defaults the other fixtures use.
const voucherTTL = 45 * day

// newBenefit returns a loan rate discount of bankID with every field that applies
// to its kind set (Claimed left 0).
func newBenefit(id, bankID string) domain.Benefit {
	return domain.Benefit{
		ID: id, BankID: bankID,
		Title:           "绿色消费贷利率优惠",
		Terms:           "贷款利率下调 15 个基点，限湖州银行个人绿色消费贷。",
		Kind:            domain.BenefitLoanRateDiscount,
		RateBP:          15,
		PointsCost:      120,
		Stock:           50,
		PerCitizenLimit: 3,
		MinLevel:        2,
		Districts:       []string{"wuxing", "anji"},
		ValidFrom:       at(-30 * day),
		ValidUntil:      at(90*day + 1500*time.Microsecond),
		VoucherTTL:      voucherTTL,
		CreatedAt:       at(-31 * day),
		CreatedBy:       "op-benefits",
	}
}

func diffBenefit(want, got domain.Benefit) fieldDiffs {
	var d fieldDiffs
	d.eq("ID", want.ID, got.ID)
	d.eq("BankID", want.BankID, got.BankID)
	d.eq("Title", want.Title, got.Title)
	d.eq("Terms", want.Terms, got.Terms)
	d.eq("Kind", want.Kind, got.Kind)
	d.eq("RateBP", want.RateBP, got.RateBP)
	d.eq("AmountFen", want.AmountFen, got.AmountFen)
	d.eq("PointsCost", want.PointsCost, got.PointsCost)
	d.eq("Stock", want.Stock, got.Stock)
	d.eq("Claimed", want.Claimed, got.Claimed)
	d.eq("PerCitizenLimit", want.PerCitizenLimit, got.PerCitizenLimit)
	d.eq("MinLevel", want.MinLevel, got.MinLevel)
	// nil and empty both mean "every district".
	if !slices.Equal(want.Districts, got.Districts) {
		d = append(d, fmt.Sprintf("Districts: want %q, got %q", want.Districts, got.Districts))
	}
	d.time("ValidFrom", want.ValidFrom, got.ValidFrom)
	d.time("ValidUntil", want.ValidUntil, got.ValidUntil)
	d.eq("VoucherTTL", want.VoucherTTL, got.VoucherTTL)
	d.time("CreatedAt", want.CreatedAt, got.CreatedAt)
	d.eq("CreatedBy", want.CreatedBy, got.CreatedBy)
	return d
}

// seedBenefit stores newBenefit of bankID, changed by mutate (may be nil), and
// returns it as stored.
func seedBenefit(t *testing.T, s BenefitsStore, bankID string, mutate func(b *domain.Benefit)) domain.Benefit {
	t.Helper()
	b := newBenefit(domain.NewID(time.Now()), bankID)
	if mutate != nil {
		mutate(&b)
	}
	mustNoErr(t, "CreateBenefit", s.CreateBenefit(t.Context(), b))
	b.Claimed = 0
	return b
}

func getBenefit(t *testing.T, s BenefitsStore, id string) domain.Benefit {
	t.Helper()
	b, err := s.GetBenefit(t.Context(), id)
	mustNoErr(t, "GetBenefit", err)
	return b
}

func wantClaimed(t *testing.T, s BenefitsStore, what, benefitID string, want int64) {
	t.Helper()
	if got := getBenefit(t, s, benefitID).Claimed; got != want {
		t.Errorf("%s: benefit %s Claimed = %d, want %d", what, benefitID, got, want)
	}
}

// fund credits the citizen points and co2e grams through an earn entry, so the
// ledger stays consistent with the balance.
func fund(t *testing.T, s domain.Store, citizenID string, points, co2e int64) {
	t.Helper()
	record(t, s, newAction(citizenID, "travel.metro", testDay), earn(domain.Units(1), co2e, points))
}

// seedHolder creates a citizen living in district with points and co2e on their
// account, returned as stored.
func seedHolder(t *testing.T, s domain.Store, district string, points, co2e int64) domain.Citizen {
	t.Helper()
	d := newDraft("holder-" + domain.RandomToken(9))
	d.Balance, d.CO2eGramsTotal, d.PointsEarnedTotal = 0, 0, 0
	d.District = district
	c := seedCitizen(t, s, d)
	if points != 0 || co2e != 0 {
		fund(t, s, c.ID, points, co2e)
	}
	return getCitizen(t, s, c.ID)
}

// eraseCitizen erases the citizen's profile as the service does.
func eraseCitizen(t *testing.T, s domain.Store, id string) {
	t.Helper()
	_, err := s.SaveCitizenProfile(t.Context(), erase(getCitizen(t, s, id), at(3*time.Hour)))
	mustNoErr(t, "SaveCitizenProfile(erase)", err)
}

// claimAt is when the store-level claims are made; claimExpiry when their
// vouchers expire unless a test says otherwise.
var (
	claimAt     = at(2*time.Hour + 7*time.Microsecond)
	claimExpiry = at(32 * day)
)

// newClaim returns a claim as the service builds it: fresh ids, code and key.
func newClaim(citizenID, benefitID string) domain.Claim {
	now := time.Now()
	return domain.Claim{
		VoucherID: domain.NewID(now), Code: domain.NewVoucherCode(), CitizenID: citizenID, BenefitID: benefitID,
		IdempotencyKey: "claim-" + domain.RandomToken(12), EntryID: domain.NewID(now), At: claimAt,
	}
}

type decideFunc = func(domain.Benefit, domain.Citizen, int) (domain.ClaimTerms, error)

// pay is a decide func that always grants the claim for cost, expiring at expires.
func pay(cost int64, expires time.Time) decideFunc {
	return func(domain.Benefit, domain.Citizen, int) (domain.ClaimTerms, error) {
		return domain.ClaimTerms{PointsCost: cost, ExpiresAt: expires}, nil
	}
}

// claimFor makes c with decide granting cost and expires, and returns the voucher.
func claimFor(t *testing.T, s BenefitsStore, c domain.Claim, cost int64, expires time.Time) domain.Voucher {
	t.Helper()
	v, err := s.ClaimBenefit(t.Context(), c, pay(cost, expires))
	mustNoErr(t, "ClaimBenefit", err)
	return v
}

// issued is the voucher ClaimBenefit must return for c on a benefit of bankID.
func issued(c domain.Claim, bankID string, cost int64, expires time.Time, balanceAfter int64) domain.Voucher {
	return domain.Voucher{
		ID: c.VoucherID, Code: c.Code, BenefitID: c.BenefitID, BankID: bankID, CitizenID: c.CitizenID,
		PointsSpent: cost, Status: domain.VoucherIssued, IssuedAt: c.At, ExpiresAt: expires,
		IdempotencyKey: c.IdempotencyKey, LedgerEntryID: c.EntryID, BalanceAfter: balanceAfter,
	}
}

func diffVoucher(want, got domain.Voucher) fieldDiffs {
	var d fieldDiffs
	d.eq("ID", want.ID, got.ID)
	d.eq("Code", want.Code, got.Code)
	d.eq("BenefitID", want.BenefitID, got.BenefitID)
	d.eq("BankID", want.BankID, got.BankID)
	d.eq("CitizenID", want.CitizenID, got.CitizenID)
	d.eq("PointsSpent", want.PointsSpent, got.PointsSpent)
	d.eq("Status", want.Status, got.Status)
	d.time("IssuedAt", want.IssuedAt, got.IssuedAt)
	d.time("ExpiresAt", want.ExpiresAt, got.ExpiresAt)
	d.eq("IdempotencyKey", want.IdempotencyKey, got.IdempotencyKey)
	d.eq("LedgerEntryID", want.LedgerEntryID, got.LedgerEntryID)
	d.eq("RefundEntryID", want.RefundEntryID, got.RefundEntryID)
	d.eq("BalanceAfter", want.BalanceAfter, got.BalanceAfter)
	return d
}

// claimEntry is the ledger entry issuing v must append.
func claimEntry(v domain.Voucher) domain.LedgerEntry {
	return domain.LedgerEntry{
		ID: v.LedgerEntryID, CitizenID: v.CitizenID, Kind: domain.LedgerClaim, Points: -v.PointsSpent,
		BalanceAfter: v.BalanceAfter, CauseType: "voucher", CauseID: v.ID, CreatedAt: v.IssuedAt,
	}
}

// refundEntry is the ledger entry expiring v at now must append.
func refundEntry(v domain.Voucher, balanceAfter int64, now time.Time) domain.LedgerEntry {
	return domain.LedgerEntry{
		ID: v.RefundEntryID, CitizenID: v.CitizenID, Kind: domain.LedgerRefund, Points: v.PointsSpent,
		BalanceAfter: balanceAfter, CauseType: "voucher", CauseID: v.ID, CreatedAt: now,
	}
}

// entryByID returns the citizen's ledger entry with id.
func entryByID(t *testing.T, s domain.Store, citizenID, id string) (domain.LedgerEntry, bool) {
	t.Helper()
	for _, e := range listLedger(t, s, citizenID) {
		if e.ID == id {
			return e, true
		}
	}
	return domain.LedgerEntry{}, false
}

func wantEntry(t *testing.T, s domain.Store, what string, want domain.LedgerEntry) {
	t.Helper()
	got, ok := entryByID(t, s, want.CitizenID, want.ID)
	if !ok {
		t.Errorf("%s: no ledger entry %s for citizen %s", what, want.ID, want.CitizenID)
		return
	}
	diffEntry(want, got).report(t, what)
}

func listVouchers(t *testing.T, s BenefitsStore, citizenID string) []domain.Voucher {
	t.Helper()
	vs, err := s.ListVouchers(t.Context(), citizenID, "", 1000)
	mustNoErr(t, "ListVouchers", err)
	return vs
}

func findClaim(t *testing.T, s BenefitsStore, citizenID, key string) domain.Voucher {
	t.Helper()
	v, err := s.FindClaimByIdempotencyKey(t.Context(), citizenID, key)
	mustNoErr(t, "FindClaimByIdempotencyKey", err)
	return v
}

func voucherID(v domain.Voucher) string { return v.ID }

// wantStored checks that v reads back in full by key and in the citizen's listing.
func wantStored(t *testing.T, s BenefitsStore, what string, v domain.Voucher) {
	t.Helper()
	diffVoucher(v, findClaim(t, s, v.CitizenID, v.IdempotencyKey)).report(t, what+": FindClaimByIdempotencyKey")
	for _, got := range listVouchers(t, s, v.CitizenID) {
		if got.ID == v.ID {
			diffVoucher(v, got).report(t, what+": ListVouchers")
			return
		}
	}
	t.Errorf("%s: voucher %s not listed", what, v.ID)
}

// claimView is what ClaimBenefit handed decide.
type claimView struct {
	benefit domain.Benefit
	citizen domain.Citizen
	held    int
}

var errDecline = errors.New("storetest: probe declines to claim")

// probeClaim returns what ClaimBenefit hands decide for the citizen and benefit,
// claiming nothing.
func probeClaim(t *testing.T, s BenefitsStore, citizenID, benefitID string) claimView {
	t.Helper()
	var seen claimView
	called := false
	_, err := s.ClaimBenefit(t.Context(), newClaim(citizenID, benefitID), func(b domain.Benefit, c domain.Citizen, held int) (domain.ClaimTerms, error) {
		seen, called = claimView{b, c, held}, true
		return domain.ClaimTerms{}, errDecline
	})
	if !errors.Is(err, errDecline) || !called {
		t.Fatalf("ClaimBenefit with a declining decide: want decide called and its error back, got called=%v, %v", called, err)
	}
	return seen
}

func wantHeld(t *testing.T, s BenefitsStore, what, citizenID, benefitID string, held int, claimed int64) {
	t.Helper()
	if v := probeClaim(t, s, citizenID, benefitID); v.held != held || v.benefit.Claimed != claimed {
		t.Errorf("%s: decide saw held %d and Claimed %d, want %d and %d", what, v.held, v.benefit.Claimed, held, claimed)
	}
}

// wallet is what a refused claim may not change for a citizen.
type wallet struct {
	Balance, CO2eGramsTotal, PointsEarnedTotal int64
	Ledger, Vouchers                           string
}

func walletOf(t *testing.T, s BenefitsStore, citizenID string) wallet {
	t.Helper()
	c := getCitizen(t, s, citizenID)
	w := wallet{Balance: c.Balance, CO2eGramsTotal: c.CO2eGramsTotal, PointsEarnedTotal: c.PointsEarnedTotal}
	for _, e := range listLedger(t, s, citizenID) {
		w.Ledger += fmt.Sprintf("%s:%s:%d:%d ", e.ID, e.Kind, e.Points, e.BalanceAfter)
	}
	for _, v := range listVouchers(t, s, citizenID) {
		w.Vouchers += fmt.Sprintf("%s:%s:%s:%s ", v.ID, v.Status, v.Code, v.RefundEntryID)
	}
	return w
}

// world is the wallets of some citizens and the claimed counts of some benefits.
type world struct {
	wallets map[string]wallet
	claimed map[string]int64
}

func worldOf(t *testing.T, s BenefitsStore, citizenIDs, benefitIDs []string) world {
	t.Helper()
	w := world{wallets: map[string]wallet{}, claimed: map[string]int64{}}
	for _, id := range citizenIDs {
		w.wallets[id] = walletOf(t, s, id)
	}
	for _, id := range benefitIDs {
		w.claimed[id] = getBenefit(t, s, id).Claimed
	}
	return w
}

func wantSameWorld(t *testing.T, s BenefitsStore, what string, before world) {
	t.Helper()
	for id, w := range before.wallets {
		if now := walletOf(t, s, id); now != w {
			t.Errorf("%s changed citizen %s:\n before %+v\n after  %+v", what, id, w, now)
		}
	}
	for id, n := range before.claimed {
		wantClaimed(t, s, what, id, n)
	}
}

func runBanks(t *testing.T, open func(t *testing.T) BenefitsStore) {
	t.Run("CreateBank stores every field, readable by GetBank", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		b := newBank(domain.NewID(time.Now()), "huzhou")
		mustNoErr(t, "CreateBank", s.CreateBank(t.Context(), b))
		got, err := s.GetBank(t.Context(), b.ID)
		mustNoErr(t, "GetBank", err)
		diffBank(b, got).report(t, "GetBank")
	})

	t.Run("CreateBank refuses a taken code with ErrConflict and keeps the first bank", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		first := newBank(domain.NewID(time.Now()), "abc")
		mustNoErr(t, "CreateBank", s.CreateBank(t.Context(), first))
		dup := newBank(domain.NewID(time.Now()), "abc")
		dup.Name, dup.CreatedBy = "农业银行湖州分行", "op-other"
		wantErr(t, "CreateBank(taken code)", s.CreateBank(t.Context(), dup), domain.ErrConflict)
		got, err := s.GetBank(t.Context(), first.ID)
		mustNoErr(t, "GetBank(first)", err)
		diffBank(first, got).report(t, "first bank after a refused duplicate")
		_, err = s.GetBank(t.Context(), dup.ID)
		wantErr(t, "GetBank(refused duplicate)", err, domain.ErrNotFound)
		banks, err := s.ListBanks(t.Context())
		mustNoErr(t, "ListBanks", err)
		if ids := idsOf(banks, bankID); !slices.Equal(ids, []string{first.ID}) {
			t.Errorf("ListBanks after a refused duplicate = %v, want [%s]", ids, first.ID)
		}
		// Another code is fine.
		mustNoErr(t, "CreateBank(another code)", s.CreateBank(t.Context(), newBank(domain.NewID(time.Now()), "abcd")))
	})

	t.Run("GetBank returns ErrNotFound for an unknown bank", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		b := seedBank(t, s)
		_, err := s.GetBank(t.Context(), domain.NewID(time.Now()))
		wantErr(t, "GetBank(unknown)", err, domain.ErrNotFound)
		_, err = s.GetBank(t.Context(), b.Code)
		wantErr(t, "GetBank(a bank's code instead of its id)", err, domain.ErrNotFound)
	})

	t.Run("ListBanks returns every bank in ID order", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		banks, err := s.ListBanks(t.Context())
		mustNoErr(t, "ListBanks(empty store)", err)
		if len(banks) != 0 {
			t.Errorf("ListBanks(empty store) = %d banks, want none", len(banks))
		}
		ids := ascendingIDs(4)
		want := make([]domain.Bank, len(ids))
		for i, id := range ids {
			// Codes run against the ids, so neither insertion nor code order is ID order.
			want[i] = newBank(id, fmt.Sprintf("z%d", len(ids)-i))
		}
		for _, i := range []int{2, 0, 3, 1} {
			mustNoErr(t, "CreateBank", s.CreateBank(t.Context(), want[i]))
		}
		banks, err = s.ListBanks(t.Context())
		mustNoErr(t, "ListBanks", err)
		if got := idsOf(banks, bankID); !slices.Equal(got, ids) {
			t.Fatalf("ListBanks = %v, want %v", got, ids)
		}
		for i, b := range banks {
			diffBank(want[i], b).report(t, "listed bank "+b.ID)
		}
	})
}

func bankID(b domain.Bank) string       { return b.ID }
func benefitID(b domain.Benefit) string { return b.ID }

func runBenefits(t *testing.T, open func(t *testing.T) BenefitsStore) {
	t.Run("CreateBenefit stores every field and starts Claimed at 0", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		bank := seedBank(t, s)
		loan := newBenefit(domain.NewID(time.Now()), bank.ID)
		loan.Claimed = 7 // ignored
		cash := newBenefit(domain.NewID(time.Now()), bank.ID)
		cash.Title, cash.Terms = "绿色出行返现", "返现 8.88 元至湖州银行借记卡。"
		cash.Kind, cash.RateBP, cash.AmountFen = domain.BenefitCashback, 0, 888
		cash.PointsCost, cash.Stock, cash.PerCitizenLimit, cash.MinLevel, cash.Districts = 1, 1_000_000, 1, 0, nil
		cash.VoucherTTL = 7 * day
		for _, b := range []domain.Benefit{loan, cash} {
			mustNoErr(t, "CreateBenefit "+string(b.Kind), s.CreateBenefit(t.Context(), b))
		}
		loan.Claimed = 0
		for _, want := range []domain.Benefit{loan, cash} {
			diffBenefit(want, getBenefit(t, s, want.ID)).report(t, "GetBenefit "+string(want.Kind))
		}
		listed, err := s.ListBenefits(t.Context(), "", "", 10)
		mustNoErr(t, "ListBenefits", err)
		if len(listed) != 2 {
			t.Fatalf("ListBenefits = %d benefits, want 2", len(listed))
		}
		for _, got := range listed {
			want := loan
			if got.ID == cash.ID {
				want = cash
			}
			diffBenefit(want, got).report(t, "listed benefit "+got.ID)
		}
	})

	t.Run("GetBenefit returns ErrNotFound for an unknown benefit", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		bank := seedBank(t, s)
		seedBenefit(t, s, bank.ID, nil)
		_, err := s.GetBenefit(t.Context(), domain.NewID(time.Now()))
		wantErr(t, "GetBenefit(unknown)", err, domain.ErrNotFound)
		_, err = s.GetBenefit(t.Context(), bank.ID)
		wantErr(t, "GetBenefit(a bank id)", err, domain.ErrNotFound)
	})

	t.Run("ListBenefits pages in ID order through one bank's benefits or every bank's", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		banks := []domain.Bank{seedBank(t, s), seedBank(t, s)}
		ids := ascendingIDs(7)
		// Bank 0 has the even ids, bank 1 the odd ones; inserted newest first.
		var ofBank [2][]string
		for i := len(ids) - 1; i >= 0; i-- {
			bank := i % 2
			b := newBenefit(ids[i], banks[bank].ID)
			b.Title = fmt.Sprintf("benefit %d", i)
			mustNoErr(t, "CreateBenefit", s.CreateBenefit(t.Context(), b))
			ofBank[bank] = append([]string{ids[i]}, ofBank[bank]...)
		}
		list := func(bankID, after string, limit int) []string {
			t.Helper()
			got, err := s.ListBenefits(t.Context(), bankID, after, limit)
			mustNoErr(t, "ListBenefits", err)
			for _, b := range got {
				if bankID != "" && b.BankID != bankID {
					t.Errorf("ListBenefits(bank %s) returned %s of bank %s", bankID, b.ID, b.BankID)
				}
			}
			return idsOf(got, benefitID)
		}
		check := func(what string, want []string, page func(after string, limit int) []string) {
			t.Helper()
			if got := page("", len(want)+3); !slices.Equal(got, want) {
				t.Errorf("%s: all = %v, want %v", what, got, want)
			}
			for _, limit := range []int{1, 2, 3} {
				var got []string
				after := ""
				for range len(want) + 2 {
					p := page(after, limit)
					if len(p) > limit {
						t.Errorf("%s: limit %d returned %d benefits", what, limit, len(p))
					}
					got = append(got, p...)
					if len(p) < limit {
						break
					}
					after = p[len(p)-1]
				}
				if !slices.Equal(got, want) {
					t.Errorf("%s: pages of %d = %v, want %v", what, limit, got, want)
				}
			}
		}
		check("every bank's", ids, func(after string, limit int) []string { return list("", after, limit) })
		for i, bank := range banks {
			check(fmt.Sprintf("bank %d's", i), ofBank[i], func(after string, limit int) []string { return list(bank.ID, after, limit) })
		}
		// The cursor may be another bank's benefit.
		if got, want := list(banks[0].ID, ids[1], 10), []string{ids[2], ids[4], ids[6]}; !slices.Equal(got, want) {
			t.Errorf("ListBenefits(bank 0, after bank 1's %s) = %v, want %v", ids[1], got, want)
		}
		if got := list("", ids[6], 10); len(got) != 0 {
			t.Errorf("ListBenefits after the last = %v, want none", got)
		}
		if got := list(domain.NewID(time.Now()), "", 10); len(got) != 0 {
			t.Errorf("ListBenefits(unknown bank) = %v, want none", got)
		}
	})

	t.Run("ListBenefits on an empty store returns nothing", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		got, err := s.ListBenefits(t.Context(), "", "", 10)
		mustNoErr(t, "ListBenefits", err)
		if len(got) != 0 {
			t.Errorf("ListBenefits = %d benefits, want none", len(got))
		}
	})
}

func runClaims(t *testing.T, open func(t *testing.T) BenefitsStore) {
	t.Run("ClaimBenefit issues the voucher with one claim entry, debiting the balance only", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		bank := seedBank(t, s)
		b := seedBenefit(t, s, bank.ID, nil)
		c := seedHolder(t, s, "wuxing", 500, 1234)
		other := seedHolder(t, s, "wuxing", 500, 1234)
		otherBefore := walletOf(t, s, other.ID)

		// decide's terms rule, not the benefit's PointsCost or VoucherTTL.
		cl := newClaim(c.ID, b.ID)
		expires := at(45*day + 3*time.Microsecond)
		v, err := s.ClaimBenefit(t.Context(), cl, pay(130, expires))
		mustNoErr(t, "ClaimBenefit", err)
		want := issued(cl, bank.ID, 130, expires, 370)
		diffVoucher(want, v).report(t, "returned voucher")
		wantStored(t, s, "claimed voucher", want)
		entries := listLedger(t, s, c.ID)
		if len(entries) != 2 {
			t.Fatalf("ledger has %d entries after funding and one claim, want 2", len(entries))
		}
		wantEntry(t, s, "claim entry", claimEntry(want))
		wantTotals(t, s, c.ID, 370, 1234, 500) // spending lowers neither CO2e nor points earned
		stored := b
		stored.Claimed = 1
		diffBenefit(stored, getBenefit(t, s, b.ID)).report(t, "benefit after one claim")
		profile := getCitizen(t, s, c.ID)
		profile.Balance, profile.Version = c.Balance, c.Version
		diffCitizen(c, profile).report(t, "citizen after a claim (only the balance may change)")

		// A second claim debits from the new balance.
		cl2 := newClaim(c.ID, b.ID)
		v2 := claimFor(t, s, cl2, 120, claimExpiry)
		want2 := issued(cl2, bank.ID, 120, claimExpiry, 250)
		diffVoucher(want2, v2).report(t, "second returned voucher")
		wantStored(t, s, "second voucher", want2)
		wantEntry(t, s, "second claim entry", claimEntry(want2))
		wantTotals(t, s, c.ID, 250, 1234, 500)
		wantClaimed(t, s, "after two claims", b.ID, 2)
		if n := len(listLedger(t, s, c.ID)); n != 3 {
			t.Errorf("ledger has %d entries after two claims, want 3", n)
		}
		if n := len(listVouchers(t, s, c.ID)); n != 2 {
			t.Errorf("ListVouchers = %d vouchers, want 2", n)
		}
		// The whole balance may be spent.
		cl3 := newClaim(c.ID, b.ID)
		if v3 := claimFor(t, s, cl3, 250, claimExpiry); v3.BalanceAfter != 0 {
			t.Errorf("claim of the whole balance: BalanceAfter = %d, want 0", v3.BalanceAfter)
		}
		wantTotals(t, s, c.ID, 0, 1234, 500)
		if now := walletOf(t, s, other.ID); now != otherBefore {
			t.Errorf("another citizen's claims changed citizen %s:\n before %+v\n after  %+v", other.ID, otherBefore, now)
		}
		checkConsistent(t, s)
	})

	t.Run("ClaimBenefit hands decide the stored benefit, the current citizen and the vouchers they hold", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		bank := seedBank(t, s)
		x := seedBenefit(t, s, bank.ID, nil)
		y := seedBenefit(t, s, bank.ID, func(b *domain.Benefit) { b.Districts = nil; b.MinLevel = 0 })
		a := seedHolder(t, s, "wuxing", 1000, 60_000)
		b := seedHolder(t, s, "nanxun", 1000, 0)

		first := probeClaim(t, s, a.ID, x.ID)
		diffBenefit(x, first.benefit).report(t, "benefit decide saw")
		diffCitizen(a, first.citizen).report(t, "citizen decide saw")
		if first.held != 0 {
			t.Errorf("decide saw held %d before any claim, want 0", first.held)
		}

		claimFor(t, s, newClaim(a.ID, x.ID), 100, claimExpiry)
		claimFor(t, s, newClaim(a.ID, x.ID), 100, claimExpiry)
		claimFor(t, s, newClaim(b.ID, x.ID), 100, claimExpiry)
		claimFor(t, s, newClaim(a.ID, y.ID), 100, claimExpiry)
		wantHeld(t, s, "a on x", a.ID, x.ID, 2, 3)
		wantHeld(t, s, "b on x", b.ID, x.ID, 1, 3)
		wantHeld(t, s, "a on y", a.ID, y.ID, 1, 1)
		wantHeld(t, s, "b on y", b.ID, y.ID, 0, 1)

		// The citizen as it is now: after the claims and a profile change.
		a = getCitizen(t, s, a.ID)
		a.District = "anji"
		a, err := s.SaveCitizenProfile(t.Context(), a)
		mustNoErr(t, "SaveCitizenProfile", err)
		now := probeClaim(t, s, a.ID, x.ID)
		diffCitizen(a, now.citizen).report(t, "citizen decide saw after claims and a profile change")
		if now.citizen.Balance != 700 || now.citizen.District != "anji" {
			t.Errorf("decide saw balance %d in %q, want 700 in anji", now.citizen.Balance, now.citizen.District)
		}
		stored := x
		stored.Claimed = 3
		diffBenefit(stored, now.benefit).report(t, "benefit decide saw after three claims")
	})

	t.Run("ClaimBenefit writes nothing when decide returns an error; key and code stay free", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		bank := seedBank(t, s)
		b := seedBenefit(t, s, bank.ID, nil)
		c := seedHolder(t, s, "wuxing", 500, 0)
		claimFor(t, s, newClaim(c.ID, b.ID), 100, claimExpiry)
		before := worldOf(t, s, []string{c.ID}, []string{b.ID})

		refused := newClaim(c.ID, b.ID)
		boom := domain.Errorf(domain.KindUnprocessable, domain.IneligibleSoldOut, "no")
		_, err := s.ClaimBenefit(t.Context(), refused, func(domain.Benefit, domain.Citizen, int) (domain.ClaimTerms, error) {
			return domain.ClaimTerms{PointsCost: 100, ExpiresAt: claimExpiry}, boom // terms next to an error count for nothing
		})
		if !errors.Is(err, boom) {
			t.Fatalf("ClaimBenefit: want decide's error %v, got %v", boom, err)
		}
		wantSameWorld(t, s, "a refused claim", before)
		_, err = s.FindClaimByIdempotencyKey(t.Context(), c.ID, refused.IdempotencyKey)
		wantErr(t, "FindClaimByIdempotencyKey(refused)", err, domain.ErrNotFound)
		wantHeld(t, s, "after a refused claim", c.ID, b.ID, 1, 1)

		// The same claim again (key, code, voucher and entry ids) goes through.
		v := claimFor(t, s, refused, 100, claimExpiry)
		want := issued(refused, bank.ID, 100, claimExpiry, 300)
		diffVoucher(want, v).report(t, "retry of the refused claim")
		wantStored(t, s, "retry of the refused claim", want)
		wantEntry(t, s, "retry's claim entry", claimEntry(want))
		wantClaimed(t, s, "after the retry", b.ID, 2)
		checkConsistent(t, s)
	})

	t.Run("ClaimBenefit refuses a reused idempotency key with DuplicateClaimError, per citizen", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		bank := seedBank(t, s)
		b := seedBenefit(t, s, bank.ID, func(b *domain.Benefit) { b.PerCitizenLimit = 1 })
		other := seedBenefit(t, s, bank.ID, nil)
		c := seedHolder(t, s, "wuxing", 500, 0)
		d := seedHolder(t, s, "wuxing", 500, 0)
		cl := newClaim(c.ID, b.ID)
		first := claimFor(t, s, cl, 100, claimExpiry)
		before := worldOf(t, s, []string{c.ID, d.ID}, []string{b.ID, other.ID})

		check := func(what string, again domain.Claim, decide decideFunc) {
			t.Helper()
			_, err := s.ClaimBenefit(t.Context(), again, decide)
			var dup *domain.DuplicateClaimError
			if !errors.As(err, &dup) {
				t.Fatalf("%s: want *DuplicateClaimError, got %v", what, err)
			}
			diffVoucher(first, dup.Existing).report(t, what+": Existing")
			wantSameWorld(t, s, what, before)
		}
		// A retry of the same claim, after the citizen reached the limit: the key
		// decides, so the service can replay the voucher.
		retry := newClaim(c.ID, b.ID)
		retry.IdempotencyKey = cl.IdempotencyKey
		check("retry, same key", retry, func(b domain.Benefit, _ domain.Citizen, held int) (domain.ClaimTerms, error) {
			if held >= b.PerCitizenLimit {
				return domain.ClaimTerms{}, domain.Errorf(domain.KindUnprocessable, domain.IneligibleLimit, "limit")
			}
			return domain.ClaimTerms{PointsCost: 100, ExpiresAt: claimExpiry}, nil
		})
		// Another benefit under the same key.
		reuse := newClaim(c.ID, other.ID)
		reuse.IdempotencyKey = cl.IdempotencyKey
		check("another benefit, same key", reuse, pay(100, claimExpiry))

		// Keys are scoped to the citizen.
		theirs := newClaim(d.ID, b.ID)
		theirs.IdempotencyKey = cl.IdempotencyKey
		tv := claimFor(t, s, theirs, 100, claimExpiry)
		if tv.BalanceAfter != 400 {
			t.Errorf("other citizen's BalanceAfter = %d, want 400", tv.BalanceAfter)
		}
		if got := findClaim(t, s, d.ID, cl.IdempotencyKey); got.ID != theirs.VoucherID {
			t.Errorf("FindClaimByIdempotencyKey(d, key) = %s, want d's %s", got.ID, theirs.VoucherID)
		}
		diffVoucher(first, findClaim(t, s, c.ID, cl.IdempotencyKey)).report(t, "FindClaimByIdempotencyKey(c, key)")
		wantClaimed(t, s, "after the other citizen's claim", b.ID, 2)
		checkConsistent(t, s)
	})

	t.Run("ClaimBenefit returns ErrNotFound for an unknown benefit or an unknown or erased citizen and writes nothing", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		bank := seedBank(t, s)
		b := seedBenefit(t, s, bank.ID, nil)
		c := seedHolder(t, s, "wuxing", 500, 0)
		gone := seedHolder(t, s, "wuxing", 500, 0)
		claimFor(t, s, newClaim(gone.ID, b.ID), 100, claimExpiry)
		eraseCitizen(t, s, gone.ID)
		before := worldOf(t, s, []string{c.ID, gone.ID}, []string{b.ID})

		for _, tc := range []struct {
			what string
			cl   domain.Claim
		}{
			{"unknown benefit", newClaim(c.ID, domain.NewID(time.Now()))},
			{"a bank id as benefit", newClaim(c.ID, bank.ID)},
			{"unknown citizen", newClaim(domain.NewID(time.Now()), b.ID)},
			{"erased citizen", newClaim(gone.ID, b.ID)},
		} {
			_, err := s.ClaimBenefit(t.Context(), tc.cl, pay(100, claimExpiry))
			wantErr(t, "ClaimBenefit("+tc.what+")", err, domain.ErrNotFound)
			_, err = s.FindClaimByIdempotencyKey(t.Context(), tc.cl.CitizenID, tc.cl.IdempotencyKey)
			wantErr(t, "FindClaimByIdempotencyKey("+tc.what+")", err, domain.ErrNotFound)
			wantSameWorld(t, s, "ClaimBenefit("+tc.what+")", before)
			if vs, err := s.ListVouchers(t.Context(), tc.cl.CitizenID, "", 10); err != nil || (tc.cl.CitizenID != gone.ID && len(vs) != 0) {
				t.Errorf("ListVouchers(%s) = %d vouchers, %v; want none", tc.what, len(vs), err)
			}
		}
		// The refused claim's key and code stay free for a real citizen.
		retry := newClaim(c.ID, domain.NewID(time.Now()))
		_, err := s.ClaimBenefit(t.Context(), retry, pay(100, claimExpiry))
		wantErr(t, "ClaimBenefit(unknown benefit)", err, domain.ErrNotFound)
		retry.BenefitID = b.ID
		claimFor(t, s, retry, 100, claimExpiry)
		wantTotals(t, s, c.ID, 400, 0, 500)
	})

	t.Run("FindClaimByIdempotencyKey returns ErrNotFound for unknown keys and other citizens", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		bank := seedBank(t, s)
		b := seedBenefit(t, s, bank.ID, nil)
		c := seedHolder(t, s, "wuxing", 500, 0)
		d := seedHolder(t, s, "wuxing", 500, 0)
		v := claimFor(t, s, newClaim(c.ID, b.ID), 100, claimExpiry)
		_, err := s.FindClaimByIdempotencyKey(t.Context(), c.ID, "never-sent")
		wantErr(t, "FindClaimByIdempotencyKey(unknown key)", err, domain.ErrNotFound)
		_, err = s.FindClaimByIdempotencyKey(t.Context(), d.ID, v.IdempotencyKey)
		wantErr(t, "FindClaimByIdempotencyKey(another citizen)", err, domain.ErrNotFound)
		_, err = s.FindClaimByIdempotencyKey(t.Context(), c.ID, v.ID)
		wantErr(t, "FindClaimByIdempotencyKey(the voucher id as key)", err, domain.ErrNotFound)
		// An action's key is not a claim's.
		a := record(t, s, newAction(c.ID, "travel.metro", testDay), earn(domain.Units(1), 250, 25))
		_, err = s.FindClaimByIdempotencyKey(t.Context(), c.ID, a.IdempotencyKey)
		wantErr(t, "FindClaimByIdempotencyKey(an action's key)", err, domain.ErrNotFound)
	})

	t.Run("ListVouchers pages newest first through one citizen's vouchers", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		bank := seedBank(t, s)
		x := seedBenefit(t, s, bank.ID, nil)
		y := seedBenefit(t, s, bank.ID, nil)
		c := seedHolder(t, s, "wuxing", 1000, 0)
		d := seedHolder(t, s, "wuxing", 1000, 0)
		empty := seedHolder(t, s, "wuxing", 1000, 0)
		ids := ascendingIDs(6)
		var mine []string
		for i, id := range []int{3, 0, 5, 1, 4, 2} { // claimed out of ID order
			cl := newClaim(c.ID, []string{x.ID, y.ID}[i%2])
			cl.VoucherID = ids[id]
			claimFor(t, s, cl, int64(10+i), claimExpiry)
			mine = append(mine, cl.VoucherID)
			claimFor(t, s, newClaim(d.ID, x.ID), 10, claimExpiry)
		}
		probeClaim(t, s, c.ID, x.ID) // a refused claim is not listed

		checkPaging(t, "ListVouchers", newestFirst(mine), func(before string, limit int) []string {
			got, err := s.ListVouchers(t.Context(), c.ID, before, limit)
			mustNoErr(t, "ListVouchers", err)
			for _, v := range got {
				if v.CitizenID != c.ID {
					t.Errorf("ListVouchers(%s) returned %s's voucher %s", c.ID, v.CitizenID, v.ID)
				}
			}
			return idsOf(got, voucherID)
		})
		for _, v := range listVouchers(t, s, c.ID) {
			diffVoucher(findClaim(t, s, c.ID, v.IdempotencyKey), v).report(t, "listed voucher "+v.ID)
		}
		if n := len(listVouchers(t, s, d.ID)); n != 6 {
			t.Errorf("ListVouchers(d) = %d vouchers, want 6", n)
		}
		if n := len(listVouchers(t, s, empty.ID)); n != 0 {
			t.Errorf("ListVouchers(citizen without vouchers) = %d, want 0", n)
		}
		if n := len(listVouchers(t, s, domain.NewID(time.Now()))); n != 0 {
			t.Errorf("ListVouchers(unknown citizen) = %d, want 0", n)
		}
	})

	t.Run("CompleteInterruptedClaims finds nothing to do on a healthy store", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		completed, undone, err := s.CompleteInterruptedClaims(t.Context(), time.Now().Add(time.Hour))
		mustNoErr(t, "CompleteInterruptedClaims(empty store)", err)
		if completed != 0 || undone != 0 {
			t.Errorf("CompleteInterruptedClaims(empty store) = (%d, %d), want (0, 0)", completed, undone)
		}
		bank := seedBank(t, s)
		b := seedBenefit(t, s, bank.ID, nil)
		c := seedHolder(t, s, "wuxing", 500, 0)
		v := claimFor(t, s, newClaim(c.ID, b.ID), 100, claimExpiry)
		claimFor(t, s, newClaim(c.ID, b.ID), 100, at(-time.Hour))
		probeClaim(t, s, c.ID, b.ID) // refused
		dup := newClaim(c.ID, b.ID)
		dup.IdempotencyKey = v.IdempotencyKey
		_, err = s.ClaimBenefit(t.Context(), dup, pay(100, claimExpiry))
		var de *domain.DuplicateClaimError
		if !errors.As(err, &de) {
			t.Errorf("ClaimBenefit(reused key): want *DuplicateClaimError, got %v", err)
		}
		_, err = s.ExpireVouchers(t.Context(), at(0), 10, func() string { return domain.NewID(time.Now()) })
		mustNoErr(t, "ExpireVouchers", err)
		before := worldOf(t, s, []string{c.ID}, []string{b.ID})
		for _, cutoff := range []time.Time{time.Now().Add(time.Hour), time.Now().Add(365 * day)} {
			completed, undone, err = s.CompleteInterruptedClaims(t.Context(), cutoff)
			mustNoErr(t, "CompleteInterruptedClaims", err)
			if completed != 0 || undone != 0 {
				t.Errorf("CompleteInterruptedClaims(%s) = (%d, %d), want (0, 0)", cutoff.Format(time.RFC3339), completed, undone)
			}
		}
		wantSameWorld(t, s, "CompleteInterruptedClaims", before)
		checkConsistent(t, s)
	})
}
