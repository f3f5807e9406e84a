package seeds

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func TestEveryPilotBankOffersValidBenefits(t *testing.T) {
	banks, err := Banks()
	if err != nil {
		t.Fatal(err)
	}
	if len(banks) < 3 {
		t.Fatalf("%d pilot banks, want at least 3", len(banks))
	}
	kinds := map[domain.BenefitKind]bool{}
	for _, b := range banks {
		for _, f := range b.Benefits {
			kinds[f.Kind] = true
			if !f.ValidFrom.Equal(EffectiveFrom()) || !f.ValidUntil.Equal(ClaimWindowEnd()) {
				t.Errorf("%s %q: claim window %s .. %s", b.Bank.Code, f.Title, f.ValidFrom, f.ValidUntil)
			}
		}
	}
	if !kinds[domain.BenefitLoanRateDiscount] {
		t.Error("no pilot bank offers a loan rate discount, the pilot's main benefit")
	}
}

// benefitMemStore is just enough of a store for LoadBanks.
type benefitMemStore struct {
	mu       sync.Mutex
	banks    []domain.Bank
	benefits []domain.Benefit
}

func (s *benefitMemStore) CreateBank(_ context.Context, b domain.Bank) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if slices.ContainsFunc(s.banks, func(x domain.Bank) bool { return x.Code == b.Code }) {
		return domain.ErrConflict
	}
	s.banks = append(s.banks, b)
	return nil
}

func (s *benefitMemStore) ListBanks(context.Context) ([]domain.Bank, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.banks), nil
}

func (s *benefitMemStore) CreateBenefit(_ context.Context, b domain.Benefit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.benefits = append(s.benefits, b)
	return nil
}

func (s *benefitMemStore) GetBank(context.Context, string) (domain.Bank, error) {
	panic("not used by LoadBanks")
}
func (s *benefitMemStore) GetBenefit(context.Context, string) (domain.Benefit, error) {
	panic("not used by LoadBanks")
}
func (s *benefitMemStore) ListBenefits(context.Context, string, string, int) ([]domain.Benefit, error) {
	panic("not used by LoadBanks")
}
func (s *benefitMemStore) ClaimBenefit(context.Context, domain.Claim, func(domain.Benefit, domain.Citizen, int) (domain.ClaimTerms, error)) (domain.Voucher, error) {
	panic("not used by LoadBanks")
}
func (s *benefitMemStore) FindClaimByIdempotencyKey(context.Context, string, string) (domain.Voucher, error) {
	panic("not used by LoadBanks")
}
func (s *benefitMemStore) ListVouchers(context.Context, string, string, int) ([]domain.Voucher, error) {
	panic("not used by LoadBanks")
}
func (s *benefitMemStore) ExpireVouchers(context.Context, time.Time, int, func() string) (int, error) {
	panic("not used by LoadBanks")
}
func (s *benefitMemStore) CompleteInterruptedClaims(context.Context, time.Time) (int, int, error) {
	panic("not used by LoadBanks")
}

func TestLoadBanksIsIdempotentAndLeavesOperatorsBanksAlone(t *testing.T) {
	ctx := context.Background()
	seeded, _ := Banks()
	store := &benefitMemStore{}
	// An operator created one pilot bank before the seeds ran: it is left alone.
	store.banks = append(store.banks, domain.Bank{ID: "01OPERATOR", Code: seeded[0].Bank.Code, Name: "ours"})
	banks, benefits, err := LoadBanks(ctx, store, seedNow)
	wantBenefits := 0
	for _, b := range seeded[1:] {
		wantBenefits += len(b.Benefits)
	}
	if err != nil || banks != len(seeded)-1 || benefits != wantBenefits {
		t.Fatalf("LoadBanks = %d, %d, %v; want %d, %d", banks, benefits, err, len(seeded)-1, wantBenefits)
	}
	for _, b := range store.benefits {
		if b.BankID == "01OPERATOR" || b.ID == "" || b.CreatedBy != CreatedBy || !b.CreatedAt.Equal(seedNow) {
			t.Errorf("seeded benefit %+v", b)
		}
		if !slices.ContainsFunc(store.banks, func(x domain.Bank) bool { return x.ID == b.BankID }) {
			t.Errorf("benefit %q belongs to no bank", b.Title)
		}
	}
	if banks, benefits, err := LoadBanks(ctx, store, seedNow); err != nil || banks != 0 || benefits != 0 {
		t.Fatalf("second LoadBanks = %d, %d, %v; want nothing created", banks, benefits, err)
	}
}
