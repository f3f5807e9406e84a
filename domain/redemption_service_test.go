package domain_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// stubRedemptions answers every call with the configured result.
type stubRedemptions struct {
	redeemed domain.Redemption
	err      error
	got      domain.Redemption
	window   time.Duration
}

func (s *stubRedemptions) RedeemVoucher(_ context.Context, r domain.Redemption) (domain.Redemption, error) {
	s.got = r
	return s.redeemed, s.err
}

func (s *stubRedemptions) ReverseRedemption(_ context.Context, _, _, _ string, _ time.Time, window time.Duration, _ string) (domain.Redemption, error) {
	s.window = window
	return s.redeemed, s.err
}

func (s *stubRedemptions) GetRedemption(context.Context, string, string) (domain.Redemption, error) {
	return s.redeemed, s.err
}

func (s *stubRedemptions) ListRedemptions(context.Context, string, time.Time, time.Time, string, int) ([]domain.Redemption, error) {
	return nil, s.err
}

type stubBenefits struct{ domain.BenefitStore }

func (stubBenefits) GetBenefit(_ context.Context, id string) (domain.Benefit, error) {
	return domain.Benefit{ID: id, Title: "t"}, nil
}

var fixedNow = time.Date(2026, 11, 27, 2, 0, 0, 0, time.UTC)

func newRedemptionService(st *stubRedemptions) *domain.RedemptionService {
	return &domain.RedemptionService{Redemptions: st, Benefits: stubBenefits{}, Now: func() time.Time { return fixedNow }}
}

func TestRedeemValidatesAndMapsStoreAnswers(t *testing.T) {
	ctx := context.Background()
	st := &stubRedemptions{redeemed: domain.Redemption{ID: "r1", VoucherCode: "ABCD-EFGH", BenefitID: "b1", RedeemedAt: fixedNow}}
	svc := newRedemptionService(st)

	v, replayed, err := svc.Redeem(ctx, "bank", "key", "abcd-efgh", "REF 1")
	if err != nil || replayed || v.ID != "r1" || v.Benefit.ID != "b1" || !v.ReversibleUntil.Equal(fixedNow.Add(72*time.Hour)) {
		t.Fatalf("Redeem = %+v, %v, %v", v, replayed, err)
	}
	if st.got.VoucherCode != "ABCD-EFGH" || st.got.BankID != "bank" || st.got.IdempotencyKey != "key" || !st.got.RedeemedAt.Equal(fixedNow) {
		t.Errorf("store got %+v", st.got)
	}

	for name, c := range map[string]struct{ key, code, ref, want string }{
		"no key":        {"", "A", "R", "idempotency_key_required"},
		"empty ref":     {"k", "A", "", "validation_failed"},
		"spaced ref":    {"k", "A", " R", "validation_failed"},
		"long ref":      {"k", "A", strings.Repeat("r", 65), "validation_failed"},
		"non-ASCII ref": {"k", "A", "贷款", "validation_failed"},
		"bad code":      {"k", "{$gt:1}", "R", "validation_failed"},
	} {
		if _, _, err := svc.Redeem(ctx, "bank", c.key, c.code, c.ref); domain.ErrorCodeOf(err) != c.want {
			t.Errorf("%s: error %v, want %s", name, err, c.want)
		}
	}

	st.err = &domain.DuplicateRedemptionError{Existing: st.redeemed}
	if _, replayed, err := svc.Redeem(ctx, "bank", "key", "ABCD-EFGH", "R"); err != nil || !replayed {
		t.Errorf("same key, same code: replayed %v, %v", replayed, err)
	}
	if _, _, err := svc.Redeem(ctx, "bank", "key", "OTHER", "R"); domain.ErrorCodeOf(err) != "idempotency_key_reused" {
		t.Errorf("same key, other code: %v", err)
	}
	st.err = domain.ErrNotFound
	if _, _, err := svc.Redeem(ctx, "bank", "key2", "OTHER", "R"); domain.ErrorCodeOf(err) != "voucher_not_found" {
		t.Errorf("unknown code: %v", err)
	}
}

func TestReverseReplaysTheSameReasonOnly(t *testing.T) {
	ctx := context.Background()
	reversed := fixedNow
	st := &stubRedemptions{err: &domain.RedemptionReversedError{Existing: domain.Redemption{ID: "r1", ReversedAt: &reversed, ReversalReason: "cancelled"}}}
	svc := newRedemptionService(st)
	svc.ReversalWindow = time.Hour
	if _, replayed, err := svc.Reverse(ctx, "bank", "r1", " cancelled "); err != nil || !replayed {
		t.Errorf("same reason: replayed %v, %v", replayed, err)
	}
	if st.window != time.Hour {
		t.Errorf("window passed %v", st.window)
	}
	if _, _, err := svc.Reverse(ctx, "bank", "r1", "other"); domain.ErrorCodeOf(err) != "already_reversed" {
		t.Errorf("other reason: %v", err)
	}
	for _, bad := range []string{"", "  ", "a\x00b", strings.Repeat("长", 257)} {
		if _, _, err := svc.Reverse(ctx, "bank", "r1", bad); domain.ErrorCodeOf(err) != "validation_failed" {
			t.Errorf("reason %q: %v", bad, err)
		}
	}
	st.err = domain.ErrNotFound
	if _, _, err := svc.Reverse(ctx, "bank", "r1", "x"); domain.ErrorCodeOf(err) != "redemption_not_found" {
		t.Errorf("not found: %v", err)
	}
}

func TestCheckRedemptionRange(t *testing.T) {
	if err := domain.CheckRedemptionRange(fixedNow, fixedNow.Add(92*24*time.Hour)); err != nil {
		t.Errorf("92 days: %v", err)
	}
	for _, to := range []time.Time{fixedNow, fixedNow.Add(-time.Second), fixedNow.Add(92*24*time.Hour + time.Millisecond)} {
		if err := domain.CheckRedemptionRange(fixedNow, to); domain.ErrorCodeOf(err) != "validation_failed" {
			t.Errorf("to %s: %v", to, err)
		}
	}
}
