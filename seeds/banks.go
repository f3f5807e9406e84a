package seeds

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// BankSeed is one pilot bank with the benefits it offers at launch.
type BankSeed struct {
	Bank     domain.Bank
	Benefits []domain.Benefit // BankID, IDs and times are filled in by LoadBanks
}

// ClaimWindowEnd is when the seeded benefits stop being claimable:
// 2028-01-01T00:00:00+08:00, the end of the pilot's second year. They are
// claimable from EffectiveFrom.
func ClaimWindowEnd() time.Time { return time.Date(2028, 1, 1, 0, 0, 0, 0, domain.Shanghai) }

type bankFile struct {
	Code     string        `json:"code"`
	Name     string        `json:"name"`
	Benefits []benefitFile `json:"benefits"`
}

type benefitFile struct {
	Title           string   `json:"title"`
	Terms           string   `json:"terms"`
	Kind            string   `json:"kind"`
	RateBP          int      `json:"rate_bp"`
	AmountFen       int64    `json:"amount_fen"`
	PointsCost      int64    `json:"points_cost"`
	Stock           int64    `json:"stock"`
	PerCitizenLimit int      `json:"per_citizen_limit"`
	MinLevel        int      `json:"min_level"`
	Districts       []string `json:"districts"`
	VoucherTTLDays  int      `json:"voucher_ttl_days"`
}

// Banks returns the pilot banks and their benefits, decoded strictly and each
// benefit checked with the domain's rules against the seeded levels.
func Banks() ([]BankSeed, error) {
	data, err := files.ReadFile("banks.json")
	if err != nil {
		return nil, fmt.Errorf("seeds: %w", err)
	}
	var raw []bankFile
	if err := decodeStrict(data, &raw); err != nil {
		return nil, fmt.Errorf("seeds: banks.json: %w", err)
	}
	levels := Levels()
	codes := map[string]bool{}
	out := make([]BankSeed, 0, len(raw))
	for _, rb := range raw {
		if rb.Code == "" || rb.Name == "" || codes[rb.Code] {
			return nil, fmt.Errorf("seeds: banks.json: bank %q: code and name are required and codes unique", rb.Code)
		}
		codes[rb.Code] = true
		seed := BankSeed{Bank: domain.Bank{Code: rb.Code, Name: rb.Name}}
		for _, f := range rb.Benefits {
			b := domain.Benefit{
				BankID: "seed:" + rb.Code, Title: f.Title, Terms: f.Terms, Kind: domain.BenefitKind(f.Kind),
				RateBP: f.RateBP, AmountFen: f.AmountFen, PointsCost: f.PointsCost, Stock: f.Stock,
				PerCitizenLimit: f.PerCitizenLimit, MinLevel: f.MinLevel, Districts: f.Districts,
				ValidFrom: EffectiveFrom().UTC(), ValidUntil: ClaimWindowEnd().UTC(),
				VoucherTTL: time.Duration(f.VoucherTTLDays) * 24 * time.Hour,
			}
			if err := domain.ValidateBenefit(b, levels); err != nil {
				return nil, fmt.Errorf("seeds: banks.json: %s %q: %w", rb.Code, f.Title, describe(err))
			}
			seed.Benefits = append(seed.Benefits, b)
		}
		if len(seed.Benefits) == 0 {
			return nil, fmt.Errorf("seeds: banks.json: bank %s offers no benefit", rb.Code)
		}
		out = append(out, seed)
	}
	return out, nil
}

// BankAndBenefitStore is what LoadBanks writes to.
type BankAndBenefitStore interface {
	domain.BankStore
	domain.BenefitStore
}

// LoadBanks creates the pilot banks the store does not have yet, each with its
// seeded benefits, and reports how many of each it created. A bank that exists is
// left alone with whatever benefits operators gave it, so running it again (or on
// several replicas at once) changes nothing. A crash after creating a bank but
// before all its benefits leaves it with fewer; they are not added later (the
// bank exists, so operators own it), which beats seeding a benefit twice.
func LoadBanks(ctx context.Context, store BankAndBenefitStore, now time.Time) (banks, benefits int, err error) {
	seeds, err := Banks()
	if err != nil {
		return 0, 0, err
	}
	existing, err := store.ListBanks(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("seeds: list banks: %w", err)
	}
	have := map[string]bool{}
	for _, b := range existing {
		have[b.Code] = true
	}
	now = now.UTC()
	for _, s := range seeds {
		if have[s.Bank.Code] {
			continue
		}
		bank := s.Bank
		bank.ID, bank.CreatedAt, bank.CreatedBy = domain.NewID(now), now, CreatedBy
		switch err := store.CreateBank(ctx, bank); {
		case errors.Is(err, domain.ErrConflict):
			continue // another replica seeded it first: its benefits are its business
		case err != nil:
			return banks, benefits, fmt.Errorf("seeds: create bank %s: %w", bank.Code, err)
		}
		banks++
		for _, b := range s.Benefits {
			b.ID, b.BankID, b.CreatedAt, b.CreatedBy = domain.NewID(now), bank.ID, now, CreatedBy
			if err := store.CreateBenefit(ctx, b); err != nil {
				return banks, benefits, fmt.Errorf("seeds: create benefit %q of %s: %w", b.Title, bank.Code, err)
			}
			benefits++
		}
	}
	return banks, benefits, nil
}
