package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// The redemption part of the suite pins down, beyond the port comments: the
// stored redemption is the caller's with VoucherID, BenefitID, CitizenID and
// PointsSpent filled in from the voucher; a reversal's refund entry's CreatedAt
// is the `at` given; redemption changes only the voucher's Status.

var (
	redeemAt      = at(3 * time.Hour)
	reversalGrace = 72 * time.Hour
)

// redemptionFixture is one bank with a benefit and a citizen holding an issued
// voucher of it (cost 100 out of 1000 points).
type redemptionFixture struct {
	s       BenefitsStore
	bank    domain.Bank
	benefit domain.Benefit
	citizen domain.Citizen
	voucher domain.Voucher
}

func newRedemptionFixture(t *testing.T, s BenefitsStore) redemptionFixture {
	t.Helper()
	bank := seedBank(t, s)
	b := seedBenefit(t, s, bank.ID, nil)
	c := seedHolder(t, s, "wuxing", 1000, 900)
	v := claimFor(t, s, newClaim(c.ID, b.ID), 100, claimExpiry)
	return redemptionFixture{s: s, bank: bank, benefit: b, citizen: c, voucher: v}
}

// newRedemption is a redemption as the service builds it.
func newRedemption(bankID, code string, when time.Time) domain.Redemption {
	return domain.Redemption{
		ID: domain.NewID(time.Now()), VoucherCode: code, BankID: bankID, ExternalRef: "LOAN-" + domain.RandomToken(6),
		IdempotencyKey: "redeem-" + domain.RandomToken(12), RedeemedAt: when,
	}
}

func diffRedemption(want, got domain.Redemption) fieldDiffs {
	var d fieldDiffs
	d.eq("ID", want.ID, got.ID)
	d.eq("VoucherID", want.VoucherID, got.VoucherID)
	d.eq("VoucherCode", want.VoucherCode, got.VoucherCode)
	d.eq("BankID", want.BankID, got.BankID)
	d.eq("BenefitID", want.BenefitID, got.BenefitID)
	d.eq("CitizenID", want.CitizenID, got.CitizenID)
	d.eq("PointsSpent", want.PointsSpent, got.PointsSpent)
	d.eq("ExternalRef", want.ExternalRef, got.ExternalRef)
	d.eq("IdempotencyKey", want.IdempotencyKey, got.IdempotencyKey)
	d.time("RedeemedAt", want.RedeemedAt, got.RedeemedAt)
	d.timePtr("ReversedAt", want.ReversedAt, got.ReversedAt)
	d.eq("ReversalReason", want.ReversalReason, got.ReversalReason)
	d.eq("RefundEntryID", want.RefundEntryID, got.RefundEntryID)
	return d
}

func (f redemptionFixture) redeem(t *testing.T, r domain.Redemption) domain.Redemption {
	t.Helper()
	got, err := f.s.RedeemVoucher(t.Context(), r)
	mustNoErr(t, "RedeemVoucher", err)
	want := r
	want.VoucherID, want.BenefitID, want.CitizenID, want.PointsSpent = f.voucher.ID, f.benefit.ID, f.citizen.ID, f.voucher.PointsSpent
	diffRedemption(want, got).report(t, "RedeemVoucher")
	return got
}

func (f redemptionFixture) wantVoucherStatus(t *testing.T, what string, status domain.VoucherStatus) {
	t.Helper()
	want := f.voucher
	want.Status = status
	got := findClaim(t, f.s, f.citizen.ID, f.voucher.IdempotencyKey)
	if status == domain.VoucherExpired {
		want.RefundEntryID = got.RefundEntryID
	}
	diffVoucher(want, got).report(t, what)
}

func refundsOf(t *testing.T, s domain.Store, citizenID string) []domain.LedgerEntry {
	t.Helper()
	var out []domain.LedgerEntry
	for _, e := range listLedger(t, s, citizenID) {
		if e.Kind == domain.LedgerRefund {
			out = append(out, e)
		}
	}
	return out
}

func runRedemptions(t *testing.T, open func(t *testing.T) BenefitsStore) {
	t.Run("RedeemVoucher redeems an issued voucher once; the same key is a duplicate, another key a conflict", func(t *testing.T) {
		t.Parallel()
		f := newRedemptionFixture(t, open(t))
		r := newRedemption(f.bank.ID, f.voucher.Code, redeemAt)
		got := f.redeem(t, r)
		f.wantVoucherStatus(t, "after redemption", domain.VoucherRedeemed)
		wantTotals(t, f.s, f.citizen.ID, 900, 900, 1000)

		stored, err := f.s.GetRedemption(t.Context(), f.bank.ID, r.ID)
		mustNoErr(t, "GetRedemption", err)
		diffRedemption(got, stored).report(t, "GetRedemption")

		again := r
		again.ID = domain.NewID(time.Now())
		_, err = f.s.RedeemVoucher(t.Context(), again)
		var dup *domain.DuplicateRedemptionError
		if !errors.As(err, &dup) {
			t.Fatalf("RedeemVoucher with a used key: want *DuplicateRedemptionError, got %v", err)
		}
		diffRedemption(got, dup.Existing).report(t, "DuplicateRedemptionError.Existing")

		// The key is per bank: another bank may use it (and learns nothing).
		other := seedBank(t, f.s)
		foreign := newRedemption(other.ID, f.voucher.Code, redeemAt)
		foreign.IdempotencyKey = r.IdempotencyKey
		_, err = f.s.RedeemVoucher(t.Context(), foreign)
		wantErr(t, "another bank, same key, same code", err, domain.ErrNotFound)

		_, err = f.s.RedeemVoucher(t.Context(), newRedemption(f.bank.ID, f.voucher.Code, redeemAt.Add(time.Minute)))
		wantErr(t, "a second key for a redeemed voucher", err, domain.ErrVoucherAlreadyRedeemed)
		checkConsistent(t, f.s)
	})

	t.Run("another bank's voucher looks exactly like an unknown code", func(t *testing.T) {
		t.Parallel()
		f := newRedemptionFixture(t, open(t))
		other := seedBank(t, f.s)
		_, err := f.s.RedeemVoucher(t.Context(), newRedemption(other.ID, f.voucher.Code, redeemAt))
		wantErr(t, "another bank's code", err, domain.ErrNotFound)
		_, err = f.s.RedeemVoucher(t.Context(), newRedemption(f.bank.ID, domain.NewVoucherCode(), redeemAt))
		wantErr(t, "unknown code", err, domain.ErrNotFound)
		f.wantVoucherStatus(t, "untouched", domain.VoucherIssued)

		r := f.redeem(t, newRedemption(f.bank.ID, f.voucher.Code, redeemAt))
		_, err = f.s.GetRedemption(t.Context(), other.ID, r.ID)
		wantErr(t, "GetRedemption by another bank", err, domain.ErrNotFound)
		_, err = f.s.ReverseRedemption(t.Context(), other.ID, r.ID, "nope", redeemAt.Add(time.Hour), reversalGrace, domain.NewID(time.Now()))
		wantErr(t, "ReverseRedemption by another bank", err, domain.ErrNotFound)
		list, err := f.s.ListRedemptions(t.Context(), other.ID, at(-day), at(day), "", 100)
		mustNoErr(t, "ListRedemptions", err)
		if len(list) != 0 {
			t.Errorf("another bank lists %d redemptions, want 0", len(list))
		}
	})

	t.Run("an expired voucher is refused, before and after expiry runs; expiry skips a redeemed one", func(t *testing.T) {
		t.Parallel()
		f := newRedemptionFixture(t, open(t))
		_, err := f.s.RedeemVoucher(t.Context(), newRedemption(f.bank.ID, f.voucher.Code, claimExpiry))
		wantErr(t, "at ExpiresAt, expiry not run", err, domain.ErrVoucherExpired)
		g := &entryIDs{}
		wantExpired(t, f.s, "expiry", claimExpiry, 10, 1, g)
		_, err = f.s.RedeemVoucher(t.Context(), newRedemption(f.bank.ID, f.voucher.Code, redeemAt))
		wantErr(t, "expired status", err, domain.ErrVoucherExpired)
		f.wantVoucherStatus(t, "expired", domain.VoucherExpired)

		f2 := newRedemptionFixture(t, f.s)
		f2.redeem(t, newRedemption(f2.bank.ID, f2.voucher.Code, redeemAt))
		wantExpired(t, f2.s, "expiry after redemption", claimExpiry.Add(day), 10, 0, g)
		f2.wantVoucherStatus(t, "redeemed, then expiry ran", domain.VoucherRedeemed)
		if n := len(refundsOf(t, f2.s, f2.citizen.ID)); n != 0 {
			t.Errorf("%d refunds after expiry of a redeemed voucher, want 0", n)
		}
		wantTotals(t, f2.s, f2.citizen.ID, 900, 900, 1000)
		checkConsistent(t, f2.s)
	})

	t.Run("ReverseRedemption refunds in full once, within the window", func(t *testing.T) {
		t.Parallel()
		f := newRedemptionFixture(t, open(t))
		r := f.redeem(t, newRedemption(f.bank.ID, f.voucher.Code, redeemAt))
		_, err := f.s.ReverseRedemption(t.Context(), f.bank.ID, r.ID, "late", redeemAt.Add(reversalGrace), reversalGrace, domain.NewID(time.Now()))
		wantErr(t, "at the end of the window", err, domain.ErrReversalWindowClosed)
		_, err = f.s.ReverseRedemption(t.Context(), f.bank.ID, domain.NewID(time.Now()), "x", redeemAt, reversalGrace, domain.NewID(time.Now()))
		wantErr(t, "unknown id", err, domain.ErrNotFound)

		when := redeemAt.Add(reversalGrace - time.Millisecond)
		entryID := domain.NewID(time.Now())
		got, err := f.s.ReverseRedemption(t.Context(), f.bank.ID, r.ID, "loan cancelled", when, reversalGrace, entryID)
		mustNoErr(t, "ReverseRedemption", err)
		want := r
		want.ReversedAt, want.ReversalReason, want.RefundEntryID = &when, "loan cancelled", entryID
		diffRedemption(want, got).report(t, "reversed")
		stored, err := f.s.GetRedemption(t.Context(), f.bank.ID, r.ID)
		mustNoErr(t, "GetRedemption", err)
		diffRedemption(want, stored).report(t, "reversed, stored")
		f.wantVoucherStatus(t, "after reversal", domain.VoucherReversed)
		wantEntry(t, f.s, "refund entry", domain.LedgerEntry{
			ID: entryID, CitizenID: f.citizen.ID, Kind: domain.LedgerRefund, Points: 100, BalanceAfter: 1000,
			CauseType: domain.RedemptionCause, CauseID: r.ID, CreatedAt: when,
		})
		wantTotals(t, f.s, f.citizen.ID, 1000, 900, 1000)

		_, err = f.s.ReverseRedemption(t.Context(), f.bank.ID, r.ID, "again", when, reversalGrace, domain.NewID(time.Now()))
		var done *domain.RedemptionReversedError
		if !errors.As(err, &done) {
			t.Fatalf("second reversal: want *RedemptionReversedError, got %v", err)
		}
		diffRedemption(want, done.Existing).report(t, "RedemptionReversedError.Existing")
		_, err = f.s.RedeemVoucher(t.Context(), newRedemption(f.bank.ID, f.voucher.Code, when))
		wantErr(t, "redeeming a reversed voucher", err, domain.ErrVoucherAlreadyRedeemed)
		wantExpired(t, f.s, "expiry after reversal", claimExpiry.Add(day), 10, 0, &entryIDs{})
		if n := len(refundsOf(t, f.s, f.citizen.ID)); n != 1 {
			t.Errorf("%d refunds, want 1", n)
		}
		checkConsistent(t, f.s)
	})

	t.Run("ListRedemptions pages one bank's redemptions in [from, to) in ID order", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		bank, other := seedBank(t, s), seedBank(t, s)
		b := seedBenefit(t, s, bank.ID, nil)
		ob := seedBenefit(t, s, other.ID, nil)
		c := seedHolder(t, s, "wuxing", 1000, 900)
		var mine []domain.Redemption
		for i := range 4 {
			v := claimFor(t, s, newClaim(c.ID, b.ID), 10, claimExpiry)
			r, err := s.RedeemVoucher(t.Context(), newRedemption(bank.ID, v.Code, redeemAt.Add(time.Duration(i)*time.Hour)))
			mustNoErr(t, "RedeemVoucher", err)
			mine = append(mine, r)
		}
		ov := claimFor(t, s, newClaim(c.ID, ob.ID), 10, claimExpiry)
		_, err := s.RedeemVoucher(t.Context(), newRedemption(other.ID, ov.Code, redeemAt))
		mustNoErr(t, "RedeemVoucher (other bank)", err)

		// [redeemAt+1h, redeemAt+3h) holds mine[1] and mine[2].
		from, to := redeemAt.Add(time.Hour), redeemAt.Add(3*time.Hour)
		p1, err := s.ListRedemptions(t.Context(), bank.ID, from, to, "", 1)
		mustNoErr(t, "ListRedemptions", err)
		p2, err := s.ListRedemptions(t.Context(), bank.ID, from, to, mine[1].ID, 5)
		mustNoErr(t, "ListRedemptions page 2", err)
		got := append(p1, p2...)
		if ids := idsOf(got, func(r domain.Redemption) string { return r.ID }); len(ids) != 2 || ids[0] != mine[1].ID || ids[1] != mine[2].ID {
			t.Errorf("ListRedemptions = %v, want [%s %s]", ids, mine[1].ID, mine[2].ID)
		} else {
			diffRedemption(mine[1], got[0]).report(t, "listed")
		}
		all, err := s.ListRedemptions(t.Context(), bank.ID, at(-day), at(day), "", 100)
		mustNoErr(t, "ListRedemptions all", err)
		if len(all) != 4 {
			t.Errorf("ListRedemptions over the whole range = %d, want 4 (the other bank's left out)", len(all))
		}
	})

	t.Run("racing redemptions of one code with different keys: exactly one wins", func(t *testing.T) {
		t.Parallel()
		f := newRedemptionFixture(t, open(t))
		errs := race(10, func(int) error {
			_, err := f.s.RedeemVoucher(t.Context(), newRedemption(f.bank.ID, f.voucher.Code, redeemAt))
			return err
		})
		checkExactlyOneWinner(t, "10 redemptions", errs, domain.ErrVoucherAlreadyRedeemed)
		f.wantVoucherStatus(t, "after the race", domain.VoucherRedeemed)
	})

	t.Run("racing reversals: exactly one refund", func(t *testing.T) {
		t.Parallel()
		f := newRedemptionFixture(t, open(t))
		r := f.redeem(t, newRedemption(f.bank.ID, f.voucher.Code, redeemAt))
		errs := race(4, func(int) error {
			_, err := f.s.ReverseRedemption(t.Context(), f.bank.ID, r.ID, "dup", redeemAt.Add(time.Hour), reversalGrace, domain.NewID(time.Now()))
			var done *domain.RedemptionReversedError
			if errors.As(err, &done) {
				return errAlreadyDone
			}
			return err
		})
		checkExactlyOneWinner(t, "4 reversals", errs, errAlreadyDone)
		if n := len(refundsOf(t, f.s, f.citizen.ID)); n != 1 {
			t.Errorf("%d refunds after racing reversals, want 1", n)
		}
		wantTotals(t, f.s, f.citizen.ID, 1000, 900, 1000)
		checkConsistent(t, f.s)
	})
}

var errAlreadyDone = errors.New("already reversed")
