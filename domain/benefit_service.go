package domain

import (
	"context"
	"crypto/rand"
	"errors"
	"slices"
	"strings"
	"time"
)

// BenefitService lets citizens claim benefits for points.
type BenefitService struct {
	Benefits BenefitStore
	Banks    BankStore // the banks benefits belong to (CreateBenefit, offers, vouchers)
	Levels   []Level
	Now      func() time.Time
	// ReplayWaitStep and ReplayWaitMax bound how long a repeated claim waits for
	// the first one to finish (stores without transactions claim in steps).
	ReplayWaitStep, ReplayWaitMax time.Duration
}

// Reasons a citizen may not claim a benefit, as stable codes.
const (
	IneligibleNotYet     = "not_yet_available"
	IneligibleEnded      = "no_longer_available"
	IneligibleSoldOut    = "sold_out"
	IneligibleLimit      = "claim_limit_reached"
	IneligibleLevel      = "level_too_low"
	IneligibleDistrict   = "district_not_eligible"
	IneligibleNoPoints   = "insufficient_points"
	IneligibleNotCitizen = "account_erased"
)

var ineligibleMessages = map[string]string{
	IneligibleNotYet:     "this benefit cannot be claimed yet",
	IneligibleEnded:      "this benefit can no longer be claimed",
	IneligibleSoldOut:    "all vouchers of this benefit have been claimed",
	IneligibleLimit:      "you already hold as many vouchers of this benefit as one citizen may",
	IneligibleLevel:      "your carbon level is below the one this benefit requires",
	IneligibleDistrict:   "this benefit is offered to residents of other districts",
	IneligibleNoPoints:   "you do not have enough points",
	IneligibleNotCitizen: "this account was deleted",
}

// Ineligibility lists why citizen c (holding `held` vouchers of b) cannot claim b
// at now; empty means they can. Every reason is listed, most fundamental first.
func Ineligibility(b Benefit, c Citizen, held int, now time.Time, levels []Level) []string {
	var why []string
	switch {
	case c.Erased():
		return []string{IneligibleNotCitizen}
	case now.Before(b.ValidFrom):
		why = append(why, IneligibleNotYet)
	case !now.Before(b.ValidUntil):
		why = append(why, IneligibleEnded)
	}
	if b.Claimed >= b.Stock {
		why = append(why, IneligibleSoldOut)
	}
	if held >= b.PerCitizenLimit {
		why = append(why, IneligibleLimit)
	}
	if b.MinLevel > 0 && LevelFor(levels, c.CO2eGramsTotal).Number < b.MinLevel {
		why = append(why, IneligibleLevel)
	}
	if len(b.Districts) > 0 && !slices.Contains(b.Districts, c.District) {
		why = append(why, IneligibleDistrict)
	}
	if c.Balance < b.PointsCost {
		why = append(why, IneligibleNoPoints)
	}
	return why
}

var errBenefitNotFound = Errorf(KindNotFound, "benefit_not_found", "no benefit with this id")

// Claim debits the benefit's points cost and issues a voucher, or refuses with the
// first reason the citizen is not eligible. A retry with the same idempotency key
// gets the first voucher, even if the citizen would no longer be eligible.
func (s *BenefitService) Claim(ctx context.Context, citizenID, benefitID, key string) (v Voucher, replayed bool, err error) {
	if !idempotencyKeyPattern.MatchString(key) {
		return Voucher{}, false, errKeyRequired
	}
	if existing, err := s.Benefits.FindClaimByIdempotencyKey(ctx, citizenID, key); err == nil {
		return s.replayClaim(ctx, citizenID, benefitID, key, existing)
	} else if !errors.Is(err, ErrNotFound) {
		return Voucher{}, false, err
	}
	now := s.Now()
	c := Claim{
		VoucherID: NewID(now), Code: NewVoucherCode(), CitizenID: citizenID, BenefitID: benefitID,
		IdempotencyKey: key, EntryID: NewID(now), At: now,
	}
	v, err = s.Benefits.ClaimBenefit(ctx, c, func(b Benefit, citizen Citizen, held int) (ClaimTerms, error) {
		if why := Ineligibility(b, citizen, held, now, s.Levels); len(why) > 0 {
			return ClaimTerms{}, Errorf(KindUnprocessable, why[0], "%s", ineligibleMessages[why[0]])
		}
		return ClaimTerms{PointsCost: b.PointsCost, ExpiresAt: now.Add(b.VoucherTTL)}, nil
	})
	var dup *DuplicateClaimError
	switch {
	case errors.As(err, &dup):
		return s.replayClaim(ctx, citizenID, benefitID, key, dup.Existing)
	case errors.Is(err, ErrNotFound):
		// The benefit or the citizen is gone; only one of them is the caller's news.
		if _, gerr := s.Benefits.GetBenefit(ctx, benefitID); gerr == nil {
			return Voucher{}, false, errAccountErased
		}
		return Voucher{}, false, errBenefitNotFound
	}
	return v, false, err
}

// replayClaim answers a repeated claim with the first one's voucher, waiting while
// it is still being issued.
func (s *BenefitService) replayClaim(ctx context.Context, citizenID, benefitID, key string, v Voucher) (Voucher, bool, error) {
	if v.BenefitID != benefitID {
		return Voucher{}, false, errKeyReused
	}
	deadline := time.Now().Add(s.ReplayWaitMax)
	for v.Status == VoucherClaiming {
		if time.Now().After(deadline) {
			return Voucher{}, false, errRecordingStuck
		}
		select {
		case <-ctx.Done():
			return Voucher{}, false, ctx.Err()
		case <-time.After(s.ReplayWaitStep):
		}
		var err error
		if v, err = s.Benefits.FindClaimByIdempotencyKey(ctx, citizenID, key); errors.Is(err, ErrNotFound) {
			return Voucher{}, false, errRecordingStuck
		} else if err != nil {
			return Voucher{}, false, err
		}
	}
	return v, true, nil
}

// voucherAlphabet is Crockford's base32 without the letters people confuse (no I,
// L, O, U), so a code read out at a bank counter is typed correctly.
const voucherAlphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// NewVoucherCode returns 20 random characters (100 bits) in groups of four, e.g.
// "7K2Q-M9XA-…": unguessable by a bank or a citizen trying codes.
func NewVoucherCode() string {
	var raw [20]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails on supported platforms
	var b strings.Builder
	for i, r := range raw {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(voucherAlphabet[int(r)%len(voucherAlphabet)]) // 256 is a multiple of 32: no bias
	}
	return b.String()
}
