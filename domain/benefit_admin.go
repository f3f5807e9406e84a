package domain

import (
	"context"
	"errors"
	"time"
)

// What operators and citizens see of benefits and vouchers, beyond claiming
// (benefit_service.go): operators create and read benefits; citizens see the
// offers open now, with whether they may claim each and why not, and their
// vouchers.

// BenefitView is a benefit with the bank that offers it.
type BenefitView struct {
	Benefit
	Bank Bank
}

// StockLeft is how many vouchers of b may still be issued.
func (b Benefit) StockLeft() int64 { return max(0, b.Stock-b.Claimed) }

// IneligibleReason is one reason a citizen may not claim a benefit: a stable code
// (the Ineligible* constants) and a message that may be shown to them.
type IneligibleReason struct {
	Code    string
	Message string
}

// IneligibleReasons pairs the codes Ineligibility returns with their messages.
func IneligibleReasons(codes []string) []IneligibleReason {
	out := make([]IneligibleReason, 0, len(codes))
	for _, c := range codes {
		out = append(out, IneligibleReason{Code: c, Message: ineligibleMessages[c]})
	}
	return out
}

// Offer is a benefit open for claims as one citizen sees it: how many of its
// vouchers they hold, and whether they may claim one now (Reasons empty) or why not.
type Offer struct {
	BenefitView
	Held     int
	Eligible bool
	Reasons  []IneligibleReason
}

// VoucherView is a voucher with what its holder needs to use it.
type VoucherView struct {
	Voucher
	Bank         Bank
	BenefitTitle string
}

var errVoucherNotFound = Errorf(KindNotFound, "voucher_not_found", "no voucher with this id")

// offerScanPage is how many benefits Offers reads from the store at a time while
// it looks for ones open now.
const offerScanPage = 200

// voucherCountPage is the page size Offers counts the citizen's vouchers with.
const voucherCountPage = 500

// CreateBenefit validates b (ValidateBenefit against s.Levels, plus: its bank must
// exist and it must still be claimable at some point from now) and stores it with
// a new ID, nothing claimed, created now by operatorID. Every bad field is named.
// The window is kept at millisecond precision, in UTC.
func (s *BenefitService) CreateBenefit(ctx context.Context, operatorID string, b Benefit) (BenefitView, error) {
	now := s.Now()
	b.ValidFrom = b.ValidFrom.UTC().Truncate(time.Millisecond)
	b.ValidUntil = b.ValidUntil.UTC().Truncate(time.Millisecond)
	var fields []FieldError
	if err := ValidateBenefit(b, s.Levels); err != nil {
		var de *Error
		if !errors.As(err, &de) || de.Kind != KindInvalid {
			return BenefitView{}, err
		}
		fields = append(fields, de.Fields...)
	}
	if b.ValidUntil.After(b.ValidFrom) && !b.ValidUntil.After(now) {
		fields = append(fields, FieldError{Field: "valid_until", Code: "in_past",
			Message: "must be in the future, or nobody could ever claim the benefit"})
	}
	var bank Bank
	if b.BankID != "" {
		var err error
		switch bank, err = s.Banks.GetBank(ctx, b.BankID); {
		case errors.Is(err, ErrNotFound):
			fields = append([]FieldError{{Field: "bank_id", Code: "unknown_bank", Message: "no bank with this id"}}, fields...)
		case err != nil:
			return BenefitView{}, err
		}
	}
	if len(fields) > 0 {
		return BenefitView{}, Invalid(fields...)
	}
	b.ID, b.Claimed, b.CreatedAt, b.CreatedBy = NewID(now), 0, now, operatorID
	if err := s.Benefits.CreateBenefit(ctx, b); err != nil {
		return BenefitView{}, err
	}
	return BenefitView{Benefit: b, Bank: bank}, nil
}

// GetBenefit returns a benefit with its bank, or benefit_not_found.
func (s *BenefitService) GetBenefit(ctx context.Context, id string) (BenefitView, error) {
	b, err := s.Benefits.GetBenefit(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return BenefitView{}, errBenefitNotFound
	}
	if err != nil {
		return BenefitView{}, err
	}
	bank, err := s.Banks.GetBank(ctx, b.BankID)
	if errors.Is(err, ErrNotFound) {
		bank = Bank{ID: b.BankID} // cannot happen: benefits are created for existing banks, which are never deleted
	} else if err != nil {
		return BenefitView{}, err
	}
	return BenefitView{Benefit: b, Bank: bank}, nil
}

// ListBenefits returns up to limit benefits with ID above afterID, in ID order
// (creation order), of the bank bankID or of every bank when bankID is "". An
// unknown bankID is a validation error on bank_id, so a typo does not look like a
// bank without benefits.
func (s *BenefitService) ListBenefits(ctx context.Context, bankID, afterID string, limit int) ([]BenefitView, error) {
	if bankID != "" {
		if _, err := s.Banks.GetBank(ctx, bankID); errors.Is(err, ErrNotFound) {
			return nil, Invalid(FieldError{Field: "bank_id", Code: "unknown_bank", Message: "no bank with this id"})
		} else if err != nil {
			return nil, err
		}
	}
	list, err := s.Benefits.ListBenefits(ctx, bankID, afterID, limit)
	if err != nil || len(list) == 0 {
		return nil, err
	}
	banks, err := s.banksByID(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]BenefitView, 0, len(list))
	for _, b := range list {
		out = append(out, BenefitView{Benefit: b, Bank: offeringBank(banks, b.BankID)})
	}
	return out, nil
}

// Offers returns up to limit benefits with ID above afterID, in ID order, whose
// claim window is open now (ValidFrom <= now < ValidUntil), sold-out ones
// included, each with how many vouchers of it the citizen holds and every reason
// (Ineligibility) they may not claim it now. Benefits outside their window are
// skipped, so the last offer's ID is the cursor of the next page.
func (s *BenefitService) Offers(ctx context.Context, citizen Citizen, afterID string, limit int) ([]Offer, error) {
	if limit <= 0 {
		return nil, nil
	}
	now := s.Now()
	var open []Benefit
	for len(open) < limit {
		page, err := s.Benefits.ListBenefits(ctx, "", afterID, offerScanPage)
		if err != nil {
			return nil, err
		}
		for _, b := range page {
			if !now.Before(b.ValidFrom) && now.Before(b.ValidUntil) {
				open = append(open, b)
				if len(open) == limit {
					break
				}
			}
		}
		if len(page) < offerScanPage {
			break
		}
		afterID = page[len(page)-1].ID
	}
	if len(open) == 0 {
		return nil, nil
	}
	held, err := s.heldByBenefit(ctx, citizen.ID)
	if err != nil {
		return nil, err
	}
	banks, err := s.banksByID(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]Offer, 0, len(open))
	for _, b := range open {
		why := Ineligibility(b, citizen, held[b.ID], now, s.Levels)
		out = append(out, Offer{
			BenefitView: BenefitView{Benefit: b, Bank: offeringBank(banks, b.BankID)},
			Held:        held[b.ID], Eligible: len(why) == 0, Reasons: IneligibleReasons(why),
		})
	}
	return out, nil
}

// heldByBenefit counts the citizen's vouchers (any status) per benefit. It reads
// every voucher they ever claimed: few per citizen, since each benefit limits
// them. A store count per (citizen, benefit) would serve a long history better.
func (s *BenefitService) heldByBenefit(ctx context.Context, citizenID string) (map[string]int, error) {
	held := map[string]int{}
	before := ""
	for {
		page, err := s.Benefits.ListVouchers(ctx, citizenID, before, voucherCountPage)
		if err != nil {
			return nil, err
		}
		for _, v := range page {
			held[v.BenefitID]++
		}
		if len(page) < voucherCountPage {
			return held, nil
		}
		before = page[len(page)-1].ID
	}
}

// Vouchers returns up to limit of the citizen's vouchers with ID below beforeID
// ("" = newest), newest first, each with its bank and benefit title.
func (s *BenefitService) Vouchers(ctx context.Context, citizenID, beforeID string, limit int) ([]VoucherView, error) {
	vs, err := s.Benefits.ListVouchers(ctx, citizenID, beforeID, limit)
	if err != nil {
		return nil, err
	}
	return s.describe(ctx, vs)
}

// Voucher returns one of the citizen's vouchers; another citizen's is
// voucher_not_found, like an ID that does not exist.
//
// BenefitStore has no read by voucher ID yet, so this asks ListVouchers for the
// citizen's newest voucher with an ID below id+"\x00" (the smallest string after
// id): that is the voucher id itself if the citizen has it. IDs are ULIDs, so no
// real ID lies between the two.
func (s *BenefitService) Voucher(ctx context.Context, citizenID, id string) (VoucherView, error) {
	if id == "" || len(id) > 64 {
		return VoucherView{}, errVoucherNotFound
	}
	vs, err := s.Benefits.ListVouchers(ctx, citizenID, id+"\x00", 1)
	if err != nil {
		return VoucherView{}, err
	}
	if len(vs) == 0 || vs[0].ID != id || vs[0].CitizenID != citizenID {
		return VoucherView{}, errVoucherNotFound
	}
	views, err := s.describe(ctx, vs)
	if err != nil {
		return VoucherView{}, err
	}
	return views[0], nil
}

// DescribeVoucher adds the bank and the benefit title to v (a voucher Claim
// returned).
func (s *BenefitService) DescribeVoucher(ctx context.Context, v Voucher) (VoucherView, error) {
	views, err := s.describe(ctx, []Voucher{v})
	if err != nil {
		return VoucherView{}, err
	}
	return views[0], nil
}

func (s *BenefitService) describe(ctx context.Context, vs []Voucher) ([]VoucherView, error) {
	if len(vs) == 0 {
		return nil, nil
	}
	banks, err := s.banksByID(ctx)
	if err != nil {
		return nil, err
	}
	titles := map[string]string{}
	out := make([]VoucherView, 0, len(vs))
	for _, v := range vs {
		title, ok := titles[v.BenefitID]
		if !ok {
			b, err := s.Benefits.GetBenefit(ctx, v.BenefitID)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
			title, titles[v.BenefitID] = b.Title, b.Title // benefits are never deleted; "" if one were
		}
		out = append(out, VoucherView{Voucher: v, Bank: offeringBank(banks, v.BankID), BenefitTitle: title})
	}
	return out, nil
}

// banksByID reads every bank (there are a handful) to name them next to benefits.
func (s *BenefitService) banksByID(ctx context.Context) (map[string]Bank, error) {
	banks, err := s.Banks.ListBanks(ctx)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]Bank, len(banks))
	for _, b := range banks {
		byID[b.ID] = b
	}
	return byID, nil
}

func offeringBank(banks map[string]Bank, id string) Bank {
	if b, ok := banks[id]; ok {
		return b
	}
	return Bank{ID: id}
}
