package domain

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// DefaultReversalWindow is how long after a redemption the bank may reverse it
// (CARBON_REDEMPTION_REVERSAL_WINDOW).
const DefaultReversalWindow = 72 * time.Hour

// MaxRedemptionRange bounds a listing's [from, to) range.
const MaxRedemptionRange = 92 * 24 * time.Hour

// RedemptionService lets a bank redeem its own vouchers, reverse redemptions and
// list them for settlement. A bank never learns whether a code it does not own
// exists: another bank's voucher or redemption is "not found", like an unknown one.
type RedemptionService struct {
	Redemptions RedemptionStore
	Benefits    BenefitStore // the redeemed vouchers' benefits, for the bank's view
	Now         func() time.Time
	// ReversalWindow is how long after RedeemedAt a reversal is accepted; zero
	// means DefaultReversalWindow.
	ReversalWindow time.Duration
}

// RedemptionView is a redemption with its benefit and until when it may be reversed.
type RedemptionView struct {
	Redemption
	Benefit         Benefit
	ReversibleUntil time.Time
}

var (
	externalRefPattern = regexp.MustCompile(`^[\x21-\x7e]([\x20-\x7e]{0,62}[\x21-\x7e])?$`)
	voucherCodePattern = regexp.MustCompile(`^[0-9A-Za-z-]{1,64}$`)

	errVoucherCodeUnknown = Errorf(KindNotFound, "voucher_not_found", "no voucher with this code")
	errRedemptionNotFound = Errorf(KindNotFound, "redemption_not_found", "no redemption with this id")
)

// maxReversalReason is the longest reason, in characters.
const maxReversalReason = 256

func (s *RedemptionService) window() time.Duration {
	if s.ReversalWindow > 0 {
		return s.ReversalWindow
	}
	return DefaultReversalWindow
}

// Redeem redeems the bank's voucher with code. A retry with the same
// idempotency key and code gets the first redemption (replayed); the key with
// another code is 422 idempotency_key_reused.
func (s *RedemptionService) Redeem(ctx context.Context, bankID, key, code, externalRef string) (v RedemptionView, replayed bool, err error) {
	if !idempotencyKeyPattern.MatchString(key) {
		return RedemptionView{}, false, errKeyRequired
	}
	var bad []FieldError
	code = strings.ToUpper(code)
	if !voucherCodePattern.MatchString(code) {
		bad = append(bad, FieldError{Field: "voucher_code", Code: "invalid", Message: "must be a voucher code (letters, digits and dashes, at most 64)"})
	}
	if !externalRefPattern.MatchString(externalRef) {
		bad = append(bad, FieldError{Field: "external_ref", Code: "invalid", Message: "must be 1-64 printable ASCII characters, not starting or ending with a space"})
	}
	if len(bad) > 0 {
		return RedemptionView{}, false, Invalid(bad...)
	}
	now := s.Now()
	r, err := s.Redemptions.RedeemVoucher(ctx, Redemption{
		ID: NewID(now), VoucherCode: code, BankID: bankID, ExternalRef: externalRef, IdempotencyKey: key, RedeemedAt: now,
	})
	var dup *DuplicateRedemptionError
	switch {
	case errors.As(err, &dup):
		if dup.Existing.VoucherCode != code {
			return RedemptionView{}, false, errKeyReused
		}
		r, replayed = dup.Existing, true
	case errors.Is(err, ErrNotFound):
		return RedemptionView{}, false, errVoucherCodeUnknown
	case err != nil:
		return RedemptionView{}, false, err
	}
	v, err = s.view(ctx, r, nil)
	return v, replayed, err
}

// Reverse reverses the bank's redemption id, refunding the citizen. Reversing
// again with the same reason is an idempotent replay (replayed true): the
// reversal route carries no Idempotency-Key, so a retried request must not fail;
// another reason is 409 already_reversed.
func (s *RedemptionService) Reverse(ctx context.Context, bankID, id, reason string) (v RedemptionView, replayed bool, err error) {
	reason = strings.TrimSpace(reason)
	if reason == "" || !utf8.ValidString(reason) || utf8.RuneCountInString(reason) > maxReversalReason ||
		strings.ContainsFunc(reason, unicode.IsControl) {
		return RedemptionView{}, false, Invalid(FieldError{Field: "reason", Code: "invalid",
			Message: "must be 1-256 characters without control characters"})
	}
	now := s.Now()
	r, err := s.Redemptions.ReverseRedemption(ctx, bankID, id, reason, now, s.window(), NewID(now))
	var done *RedemptionReversedError
	switch {
	case errors.As(err, &done):
		if done.Existing.ReversalReason != reason {
			return RedemptionView{}, false, ErrAlreadyReversed
		}
		r, replayed = done.Existing, true
	case errors.Is(err, ErrNotFound):
		return RedemptionView{}, false, errRedemptionNotFound
	case err != nil:
		return RedemptionView{}, false, err
	}
	v, err = s.view(ctx, r, nil)
	return v, replayed, err
}

// Get returns the bank's redemption id.
func (s *RedemptionService) Get(ctx context.Context, bankID, id string) (RedemptionView, error) {
	r, err := s.Redemptions.GetRedemption(ctx, bankID, id)
	if errors.Is(err, ErrNotFound) {
		return RedemptionView{}, errRedemptionNotFound
	}
	if err != nil {
		return RedemptionView{}, err
	}
	return s.view(ctx, r, nil)
}

// CheckRedemptionRange validates a listing range: both ends set, to after from,
// at most MaxRedemptionRange apart.
func CheckRedemptionRange(from, to time.Time) error {
	switch {
	case !to.After(from):
		return Invalid(FieldError{Field: "to", Code: "out_of_range", Message: "must be after from"})
	case to.Sub(from) > MaxRedemptionRange:
		return Invalid(FieldError{Field: "to", Code: "out_of_range", Message: "must be at most 92 days after from"})
	}
	return nil
}

// List returns up to limit of the bank's redemptions made in [from, to) with ID
// above afterID, in ID order.
func (s *RedemptionService) List(ctx context.Context, bankID string, from, to time.Time, afterID string, limit int) ([]RedemptionView, error) {
	if err := CheckRedemptionRange(from, to); err != nil {
		return nil, err
	}
	list, err := s.Redemptions.ListRedemptions(ctx, bankID, from, to, afterID, limit)
	if err != nil {
		return nil, err
	}
	benefits := map[string]Benefit{}
	out := make([]RedemptionView, 0, len(list))
	for _, r := range list {
		v, err := s.view(ctx, r, benefits)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (s *RedemptionService) view(ctx context.Context, r Redemption, cache map[string]Benefit) (RedemptionView, error) {
	b, ok := cache[r.BenefitID]
	if !ok {
		var err error
		if b, err = s.Benefits.GetBenefit(ctx, r.BenefitID); err != nil {
			return RedemptionView{}, err
		}
		if cache != nil {
			cache[r.BenefitID] = b
		}
	}
	return RedemptionView{Redemption: r, Benefit: b, ReversibleUntil: r.RedeemedAt.Add(s.window())}, nil
}
