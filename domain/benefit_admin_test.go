package domain

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeBenefitStore keeps banks, benefits, citizens and vouchers in memory, as
// the ports describe them (ID order, newest-first vouchers, all or nothing claims).
type fakeBenefitStore struct {
	mu       sync.Mutex
	banks    []Bank
	benefits []Benefit
	citizens map[string]Citizen
	vouchers []Voucher
}

func newFakeBenefitStore() *fakeBenefitStore {
	return &fakeBenefitStore{citizens: map[string]Citizen{}}
}

func (f *fakeBenefitStore) CreateBank(_ context.Context, b Bank) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.banks = append(f.banks, b)
	slices.SortFunc(f.banks, func(a, b Bank) int { return strings.Compare(a.ID, b.ID) })
	return nil
}

func (f *fakeBenefitStore) GetBank(_ context.Context, id string) (Bank, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.banks {
		if b.ID == id {
			return b, nil
		}
	}
	return Bank{}, ErrNotFound
}

func (f *fakeBenefitStore) ListBanks(context.Context) ([]Bank, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.banks), nil
}

func (f *fakeBenefitStore) CreateBenefit(_ context.Context, b Benefit) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	b.Claimed = 0
	f.benefits = append(f.benefits, b)
	slices.SortFunc(f.benefits, func(a, b Benefit) int { return strings.Compare(a.ID, b.ID) })
	return nil
}

func (f *fakeBenefitStore) GetBenefit(_ context.Context, id string) (Benefit, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, b := range f.benefits {
		if b.ID == id {
			return b, nil
		}
	}
	return Benefit{}, ErrNotFound
}

func (f *fakeBenefitStore) ListBenefits(_ context.Context, bankID, afterID string, limit int) ([]Benefit, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Benefit
	for _, b := range f.benefits {
		if b.ID > afterID && (bankID == "" || b.BankID == bankID) && len(out) < limit {
			out = append(out, b)
		}
	}
	return out, nil
}

func (f *fakeBenefitStore) ClaimBenefit(_ context.Context, c Claim, decide func(Benefit, Citizen, int) (ClaimTerms, error)) (Voucher, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range f.vouchers {
		if v.CitizenID == c.CitizenID && v.IdempotencyKey == c.IdempotencyKey {
			return Voucher{}, &DuplicateClaimError{Existing: v}
		}
	}
	i := slices.IndexFunc(f.benefits, func(b Benefit) bool { return b.ID == c.BenefitID })
	citizen, ok := f.citizens[c.CitizenID]
	if i < 0 || !ok {
		return Voucher{}, ErrNotFound
	}
	held := 0
	for _, v := range f.vouchers {
		if v.CitizenID == c.CitizenID && v.BenefitID == c.BenefitID {
			held++
		}
	}
	terms, err := decide(f.benefits[i], citizen, held)
	if err != nil {
		return Voucher{}, err
	}
	citizen.Balance -= terms.PointsCost
	f.citizens[c.CitizenID] = citizen
	f.benefits[i].Claimed++
	v := Voucher{ID: c.VoucherID, Code: c.Code, BenefitID: c.BenefitID, BankID: f.benefits[i].BankID, CitizenID: c.CitizenID,
		PointsSpent: terms.PointsCost, Status: VoucherIssued, IssuedAt: c.At, ExpiresAt: terms.ExpiresAt,
		IdempotencyKey: c.IdempotencyKey, LedgerEntryID: c.EntryID, BalanceAfter: citizen.Balance}
	f.vouchers = append(f.vouchers, v)
	return v, nil
}

func (f *fakeBenefitStore) FindClaimByIdempotencyKey(_ context.Context, citizenID, key string) (Voucher, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, v := range f.vouchers {
		if v.CitizenID == citizenID && v.IdempotencyKey == key {
			return v, nil
		}
	}
	return Voucher{}, ErrNotFound
}

func (f *fakeBenefitStore) ListVouchers(_ context.Context, citizenID, beforeID string, limit int) ([]Voucher, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var mine []Voucher
	for _, v := range f.vouchers {
		if v.CitizenID == citizenID && (beforeID == "" || v.ID < beforeID) && v.Status != VoucherClaiming {
			mine = append(mine, v)
		}
	}
	slices.SortFunc(mine, func(a, b Voucher) int { return strings.Compare(b.ID, a.ID) })
	return mine[:min(limit, len(mine))], nil
}

func (f *fakeBenefitStore) ExpireVouchers(context.Context, time.Time, int, func() string) (int, error) {
	return 0, nil
}

func (f *fakeBenefitStore) CompleteInterruptedClaims(context.Context, time.Time) (int, int, error) {
	return 0, 0, nil
}

var adminNow = time.Date(2026, 6, 1, 12, 0, 0, 0, Shanghai)

func newAdminService(t *testing.T) (*BenefitService, *fakeBenefitStore) {
	t.Helper()
	f := newFakeBenefitStore()
	ctx := context.Background()
	for _, b := range []Bank{{ID: "01BANK", Code: "huzhou_bank", Name: "湖州银行"}, {ID: "02BANK", Code: "anji_rcb", Name: "安吉农商银行"}} {
		if err := f.CreateBank(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	return &BenefitService{Benefits: f, Banks: f, Levels: testLevels, Now: func() time.Time { return adminNow },
		ReplayWaitStep: time.Millisecond, ReplayWaitMax: time.Second}, f
}

func fieldCodes(err error) []string {
	var de *Error
	if !errors.As(err, &de) || de.Kind != KindInvalid {
		return nil
	}
	var out []string
	for _, f := range de.Fields {
		out = append(out, f.Field+":"+f.Code)
	}
	return out
}

func TestCreateBenefitStoresAValidBenefitOfAnExistingBank(t *testing.T) {
	s, f := newAdminService(t)
	in := validBenefit()
	in.Claimed = 7 // ignored
	in.ValidFrom = in.ValidFrom.Add(123456 * time.Nanosecond)
	got, err := s.CreateBenefit(context.Background(), "op-1", in)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID == "" || got.CreatedBy != "op-1" || !got.CreatedAt.Equal(adminNow) || got.Claimed != 0 || got.Bank.Name != "湖州银行" {
		t.Fatalf("created %+v", got)
	}
	if got.ValidFrom.Location() != time.UTC || got.ValidFrom.Nanosecond()%int(time.Millisecond) != 0 {
		t.Fatalf("valid_from %v not UTC at millisecond precision", got.ValidFrom)
	}
	stored, err := f.GetBenefit(context.Background(), got.ID)
	if err != nil || stored.Title != in.Title || !stored.ValidFrom.Equal(got.ValidFrom) {
		t.Fatalf("stored %+v, %v", stored, err)
	}
}

func TestCreateBenefitNamesAnUnknownBankWithTheOtherBadFields(t *testing.T) {
	s, f := newAdminService(t)
	cases := []struct {
		name   string
		change func(*Benefit)
		want   []string
	}{
		{"unknown bank", func(b *Benefit) { b.BankID = "nope" }, []string{"bank_id:unknown_bank"}},
		{"unknown bank and no title", func(b *Benefit) { b.BankID, b.Title = "nope", "" }, []string{"bank_id:unknown_bank", "title:required"}},
		{"no bank", func(b *Benefit) { b.BankID = "" }, []string{"bank_id:required"}},
		{"window over", func(b *Benefit) {
			b.ValidFrom, b.ValidUntil = adminNow.Add(-48*time.Hour), adminNow
		}, []string{"valid_until:in_past"}},
		{"window backwards in the past", func(b *Benefit) {
			b.ValidFrom, b.ValidUntil = adminNow.Add(-time.Hour), adminNow.Add(-2*time.Hour)
		}, []string{"valid_until:not_after_valid_from"}},
		{"level not configured", func(b *Benefit) { b.MinLevel = 4 }, []string{"min_level:unknown_level"}},
	}
	for _, c := range cases {
		b := validBenefit()
		c.change(&b)
		_, err := s.CreateBenefit(context.Background(), "op-1", b)
		if got := fieldCodes(err); !slices.Equal(got, c.want) {
			t.Errorf("%s: got %v (%v), want %v", c.name, got, err, c.want)
		}
	}
	if len(f.benefits) != 0 {
		t.Fatalf("refused benefits were stored: %d", len(f.benefits))
	}
}

func TestGetAndListBenefitsNameTheirBank(t *testing.T) {
	s, _ := newAdminService(t)
	ctx := context.Background()
	if _, err := s.GetBenefit(ctx, "missing"); ErrorCodeOf(err) != "benefit_not_found" {
		t.Fatalf("unknown benefit: %v", err)
	}
	var ids []string
	names := map[string]string{"01BANK": "湖州银行", "02BANK": "安吉农商银行"}
	for i := range 5 {
		b := validBenefit()
		if i%2 == 1 {
			b.BankID = "02BANK"
		}
		v, err := s.CreateBenefit(ctx, "op-1", b)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, v.ID)
		one, err := s.GetBenefit(ctx, v.ID)
		if err != nil || one.Bank.ID != b.BankID || one.Bank.Name != names[b.BankID] {
			t.Fatalf("get: %+v, %v", one, err)
		}
	}
	slices.Sort(ids) // ULIDs made in the same millisecond are not in creation order
	page, err := s.ListBenefits(ctx, "", ids[0], 3)
	if err != nil || len(page) != 3 || page[0].ID != ids[1] || page[2].ID != ids[3] {
		t.Fatalf("page after the first: %+v, %v", page, err)
	}
	for _, b := range page {
		if b.Bank.ID != b.BankID || b.Bank.Name != names[b.BankID] {
			t.Fatalf("listed %+v", b)
		}
	}
	anji, err := s.ListBenefits(ctx, "02BANK", "", 10)
	if err != nil || len(anji) != 2 {
		t.Fatalf("one bank's: %d, %v", len(anji), err)
	}
	if _, err := s.ListBenefits(ctx, "nope", "", 10); !slices.Equal(fieldCodes(err), []string{"bank_id:unknown_bank"}) {
		t.Fatalf("unknown bank filter: %v", err)
	}
}

// storeBenefit puts b straight into the store (no validation), as a past
// operator or the seeds may have.
func storeBenefit(t *testing.T, f *fakeBenefitStore, b Benefit) Benefit {
	t.Helper()
	if b.ID == "" {
		b.ID = NewID(adminNow)
	}
	if err := f.CreateBenefit(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOffersListBenefitsOpenNowWithEveryReasonAndWhatIsHeld(t *testing.T) {
	s, f := newAdminService(t)
	ctx := context.Background()
	open := validBenefit()
	open.ID = "B1"
	open = storeBenefit(t, f, open)
	notYet := validBenefit()
	notYet.ID, notYet.ValidFrom = "B2", adminNow.Add(time.Hour)
	storeBenefit(t, f, notYet)
	ended := validBenefit()
	ended.ID, ended.ValidUntil = "B3", adminNow // exclusive
	storeBenefit(t, f, ended)
	soldOut := validBenefit()
	soldOut.ID, soldOut.Districts, soldOut.MinLevel, soldOut.PerCitizenLimit, soldOut.Stock = "B4", nil, 0, 2, 2
	soldOut = storeBenefit(t, f, soldOut)

	rich := Citizen{ID: "rich", District: "anji", Balance: 10_000, CO2eGramsTotal: 60_000}
	f.citizens[rich.ID] = rich
	// rich claims the sold-out one's whole stock (two vouchers, two keys).
	for _, key := range []string{"k1", "k2"} {
		if _, _, err := s.Claim(ctx, rich.ID, soldOut.ID, key); err != nil {
			t.Fatal(err)
		}
	}
	rich = f.citizens[rich.ID]

	offers, err := s.Offers(ctx, rich, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(offers) != 2 || offers[0].ID != open.ID || offers[1].ID != soldOut.ID {
		t.Fatalf("offers %+v", offers)
	}
	if !offers[0].Eligible || len(offers[0].Reasons) != 0 || offers[0].Held != 0 || offers[0].Bank.Name != "湖州银行" {
		t.Fatalf("open offer %+v", offers[0])
	}
	if got := offers[1]; got.Eligible || got.Held != 2 || got.StockLeft() != 0 ||
		!slices.Equal(reasonCodes(got.Reasons), []string{IneligibleSoldOut, IneligibleLimit}) {
		t.Fatalf("sold-out offer %+v", got)
	}

	poor := Citizen{ID: "poor", District: "wuxing", Balance: 10, CO2eGramsTotal: 100}
	offers, err = s.Offers(ctx, poor, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{IneligibleLevel, IneligibleDistrict, IneligibleNoPoints}
	if got := reasonCodes(offers[0].Reasons); !slices.Equal(got, want) {
		t.Fatalf("poor citizen's reasons %v, want %v", got, want)
	}
	for _, r := range offers[0].Reasons {
		if r.Message == "" {
			t.Fatalf("reason %s without a message", r.Code)
		}
	}
}

func reasonCodes(rs []IneligibleReason) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.Code)
	}
	return out
}

func TestOffersPageThroughManyClosedBenefits(t *testing.T) {
	s, f := newAdminService(t)
	// 3 open benefits among 2.5 scan pages of closed ones.
	var openIDs []string
	for i := range offerScanPage*5/2 + 3 {
		b := validBenefit()
		b.ID = fmt.Sprintf("B%05d", i)
		if i%(offerScanPage) == 7 || i == offerScanPage*5/2+2 {
			openIDs = append(openIDs, b.ID)
		} else {
			b.ValidUntil = adminNow.Add(-time.Hour)
		}
		storeBenefit(t, f, b)
	}
	c := Citizen{ID: "c", District: "anji", Balance: 1}
	var got []string
	after := ""
	for range 10 {
		page, err := s.Offers(context.Background(), c, after, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range page {
			got = append(got, o.ID)
		}
		if len(page) < 2 {
			break
		}
		after = page[len(page)-1].ID
	}
	if !slices.Equal(got, openIDs) {
		t.Fatalf("paged offers %v, want %v", got, openIDs)
	}
}

func TestOffersCountVouchersBeyondOnePage(t *testing.T) {
	s, f := newAdminService(t)
	b := validBenefit()
	b.Stock, b.PerCitizenLimit = 10_000, 10_000
	b = storeBenefit(t, f, b)
	for i := range voucherCountPage + 3 {
		f.vouchers = append(f.vouchers, Voucher{ID: fmt.Sprintf("V%05d", i), CitizenID: "c", BenefitID: b.ID, Status: VoucherRedeemed})
	}
	f.vouchers = append(f.vouchers, Voucher{ID: "V99999", CitizenID: "other", BenefitID: b.ID, Status: VoucherIssued})
	offers, err := s.Offers(context.Background(), Citizen{ID: "c", District: "anji"}, "", 5)
	if err != nil || len(offers) != 1 || offers[0].Held != voucherCountPage+3 {
		t.Fatalf("offers %+v, %v", offers, err)
	}
}

func TestVouchersNameTheirBankAndBenefitAndBelongToTheirHolder(t *testing.T) {
	s, f := newAdminService(t)
	ctx := context.Background()
	b := validBenefit()
	b.Stock, b.PerCitizenLimit = 10, 5
	b = storeBenefit(t, f, b)
	f.citizens["c"] = Citizen{ID: "c", District: "anji", Balance: 100_000, CO2eGramsTotal: 60_000}
	f.citizens["d"] = Citizen{ID: "d", District: "anji", Balance: 100_000, CO2eGramsTotal: 60_000}
	var claimed []Voucher
	for i := range 3 {
		v, _, err := s.Claim(ctx, "c", b.ID, fmt.Sprint("key-", i))
		if err != nil {
			t.Fatal(err)
		}
		claimed = append(claimed, v)
	}
	other, _, err := s.Claim(ctx, "d", b.ID, "key-0")
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.Vouchers(ctx, "c", "", 10)
	if err != nil || len(list) != 3 {
		t.Fatalf("vouchers %+v, %v", list, err)
	}
	for _, v := range list {
		if v.Bank.Name != "湖州银行" || v.BenefitTitle != b.Title || v.CitizenID != "c" {
			t.Fatalf("voucher %+v", v)
		}
	}
	for _, v := range claimed {
		got, err := s.Voucher(ctx, "c", v.ID)
		if err != nil || got.ID != v.ID || got.Code != v.Code || got.BenefitTitle != b.Title {
			t.Fatalf("voucher %s: %+v, %v", v.ID, got, err)
		}
	}
	for _, id := range []string{other.ID, "", "nope", claimed[0].ID + "0", strings.Repeat("Z", 65)} {
		if _, err := s.Voucher(ctx, "c", id); ErrorCodeOf(err) != "voucher_not_found" {
			t.Fatalf("voucher %q: %v", id, err)
		}
	}
	described, err := s.DescribeVoucher(ctx, other)
	if err != nil || described.Bank.ID != "01BANK" || described.BenefitTitle != b.Title {
		t.Fatalf("described %+v, %v", described, err)
	}
}
