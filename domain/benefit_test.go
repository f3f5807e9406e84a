package domain

import (
	"errors"
	"regexp"
	"slices"
	"testing"
	"time"
)

var testLevels = []Level{{1, "浅绿", 0}, {2, "中绿", 50_000}, {3, "深绿", 100_000}}

func validBenefit() Benefit {
	return Benefit{
		BankID: "01BANK", Title: "绿色消费贷利率优惠", Terms: "下调 50 个基点", Kind: BenefitLoanRateDiscount, RateBP: 50,
		PointsCost: 2000, Stock: 10, PerCitizenLimit: 1, MinLevel: 2, Districts: []string{"anji"},
		ValidFrom: time.Date(2026, 1, 1, 0, 0, 0, 0, Shanghai), ValidUntil: time.Date(2027, 1, 1, 0, 0, 0, 0, Shanghai),
		VoucherTTL: 30 * 24 * time.Hour,
	}
}

func TestValidateBenefitNamesEveryBadField(t *testing.T) {
	if err := ValidateBenefit(validBenefit(), testLevels); err != nil {
		t.Fatalf("control benefit refused: %v", err)
	}
	cases := map[string]struct {
		change func(*Benefit)
		field  string
	}{
		"no bank":              {func(b *Benefit) { b.BankID = "" }, "bank_id"},
		"no title":             {func(b *Benefit) { b.Title = "" }, "title"},
		"unknown kind":         {func(b *Benefit) { b.Kind = "lottery" }, "kind"},
		"rate of 0":            {func(b *Benefit) { b.RateBP = 0 }, "rate_bp"},
		"rate of 10000 bp":     {func(b *Benefit) { b.RateBP = 10_000 }, "rate_bp"},
		"amount on a discount": {func(b *Benefit) { b.AmountFen = 100 }, "amount_fen"},
		"cashback without amount": {func(b *Benefit) {
			b.Kind, b.RateBP = BenefitCashback, 0
		}, "amount_fen"},
		"free":                  {func(b *Benefit) { b.PointsCost = 0 }, "points_cost"},
		"no stock":              {func(b *Benefit) { b.Stock = 0 }, "stock"},
		"limit above stock":     {func(b *Benefit) { b.PerCitizenLimit = 11 }, "per_citizen_limit"},
		"unknown level":         {func(b *Benefit) { b.MinLevel = 9 }, "min_level"},
		"unknown district":      {func(b *Benefit) { b.Districts = []string{"hangzhou"} }, "districts"},
		"district twice":        {func(b *Benefit) { b.Districts = []string{"anji", "anji"} }, "districts"},
		"window backwards":      {func(b *Benefit) { b.ValidUntil = b.ValidFrom.Add(-time.Hour) }, "valid_until"},
		"voucher lives an hour": {func(b *Benefit) { b.VoucherTTL = time.Hour }, "voucher_ttl_days"},
		"voucher lives 2 years": {func(b *Benefit) { b.VoucherTTL = 730 * 24 * time.Hour }, "voucher_ttl_days"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			b := validBenefit()
			c.change(&b)
			var de *Error
			if err := ValidateBenefit(b, testLevels); !errors.As(err, &de) || de.Kind != KindInvalid ||
				!slices.ContainsFunc(de.Fields, func(f FieldError) bool { return f.Field == c.field }) {
				t.Fatalf("got %v, want a field error on %s", err, c.field)
			}
		})
	}
}

func TestIneligibilityListsEveryReason(t *testing.T) {
	b := validBenefit()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, Shanghai)
	rich := Citizen{ID: "c", District: "anji", Balance: 5000, CO2eGramsTotal: 60_000}
	if why := Ineligibility(b, rich, 0, now, testLevels); len(why) != 0 {
		t.Fatalf("eligible citizen refused: %v", why)
	}
	erased := rich
	erased.ErasedAt = &now
	poor := Citizen{ID: "p", District: "wuxing", Balance: 10, CO2eGramsTotal: 100}
	soldOut := b
	soldOut.Claimed = b.Stock
	cases := []struct {
		name string
		b    Benefit
		c    Citizen
		held int
		at   time.Time
		want []string
	}{
		{"not yet", b, rich, 0, b.ValidFrom.Add(-time.Second), []string{IneligibleNotYet}},
		{"ended at valid_until", b, rich, 0, b.ValidUntil, []string{IneligibleEnded}},
		{"sold out", soldOut, rich, 0, now, []string{IneligibleSoldOut}},
		{"limit", b, rich, 1, now, []string{IneligibleLimit}},
		{"everything wrong", soldOut, poor, 1, now, []string{IneligibleSoldOut, IneligibleLimit, IneligibleLevel, IneligibleDistrict, IneligibleNoPoints}},
		{"erased", b, erased, 0, now, []string{IneligibleNotCitizen}},
	}
	for _, c := range cases {
		if got := Ineligibility(c.b, c.c, c.held, c.at, testLevels); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, got, c.want)
		}
	}
}

func TestVoucherCodesAreLongRandomAndReadable(t *testing.T) {
	shape := regexp.MustCompile(`^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){4}$`)
	seen := map[string]bool{}
	for range 1000 {
		c := NewVoucherCode()
		if !shape.MatchString(c) || seen[c] {
			t.Fatalf("code %q: wrong shape or repeated", c)
		}
		seen[c] = true
	}
}
