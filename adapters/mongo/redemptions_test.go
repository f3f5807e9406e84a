package mongo

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// redemptionFixture is a citizen funded with 300 points holding one issued
// voucher of 100 points (balance 200).
type redemptionFixture struct {
	s       *Store
	cid     string
	voucher domain.Voucher
	bankID  string
	now     time.Time
}

func newRedemptionFixture(t *testing.T) redemptionFixture {
	t.Helper()
	s := openTestStore(t)
	cid := seedAccount(t, s, "+8613800000001")
	fundAccount(t, s, cid, 300)
	b := seedBenefit(t, s, 100, 3, 5)
	now := domain.Now()
	v, err := s.ClaimBenefit(t.Context(), draftClaim(cid, b.ID, now), claimRules(now))
	if err != nil {
		t.Fatal(err)
	}
	return redemptionFixture{s: s, cid: cid, voucher: v, bankID: b.BankID, now: now}
}

// draftRedemption is a redemption of the fixture's voucher as the service builds it, at `at`.
func (f redemptionFixture) draftRedemption(key string, at time.Time) domain.Redemption {
	return domain.Redemption{
		ID: domain.NewID(at), VoucherCode: f.voucher.Code, BankID: f.bankID, ExternalRef: "POS-" + key,
		IdempotencyKey: key, RedeemedAt: at,
	}
}

// storedVoucherStatus is the voucher's status as stored (not as read by the domain).
func storedVoucherStatus(t *testing.T, s *Store, id string) string {
	t.Helper()
	var raw struct {
		Status string `bson:"status"`
	}
	if err := s.vouchers.FindOne(t.Context(), bson.D{{Key: "_id", Value: id}}).Decode(&raw); err != nil {
		t.Fatal(err)
	}
	return raw.Status
}

func storedRedemption(t *testing.T, s *Store, id string) (redemptionDoc, bool) {
	t.Helper()
	d, err := s.findRedemption(t.Context(), bson.D{{Key: "_id", Value: id}})
	if errors.Is(err, domain.ErrNotFound) {
		return d, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return d, true
}

func crashAt(step string) func(string) error {
	return func(st string) error {
		if st == step {
			return errCrash
		}
		return nil
	}
}

// A redemption stopped after each of its steps is finished by the recovery pass
// if the voucher was redeemed and undone otherwise; a retry with the same key
// then replays or redeems, and a later expiry refunds nothing.
func TestRedemptionCrashAtEveryStep(t *testing.T) {
	for _, tc := range []struct {
		step      string
		committed bool // the voucher was redeemed before the crash
	}{
		{redemptionStepInserted, false},
		{redemptionStepRedeemed, true},
	} {
		t.Run(tc.step, func(t *testing.T) {
			ctx := context.Background()
			f := newRedemptionFixture(t)
			s := f.s
			r := f.draftRedemption("redeem-1", f.now)
			s.hooks.redemptionStep = crashAt(tc.step)
			if _, err := s.RedeemVoucher(ctx, r); !errors.Is(err, errCrash) {
				t.Fatalf("crash: %v", err)
			}
			s.hooks.redemptionStep = nil

			wantStatus := voucherIssued
			if tc.committed {
				wantStatus = voucherRedeemed
			}
			if st := storedVoucherStatus(t, s, f.voucher.ID); st != wantStatus {
				t.Errorf("voucher %s after the crash, want %s", st, wantStatus)
			}
			if d, ok := storedRedemption(t, s, r.ID); !ok || d.State != redemptionPending {
				t.Errorf("redemption after the crash: %+v, found %v; want pending", d, ok)
			}
			if _, err := s.GetRedemption(ctx, f.bankID, r.ID); !errors.Is(err, domain.ErrNotFound) {
				t.Errorf("a pending redemption is shown: %v", err)
			}
			wantBalance(t, s, "after the crash", f.cid, 200, 300)
			mustConsistent(t, s, 1)

			// Within the grace period nothing is touched.
			if _, _, err := s.CompleteInterruptedClaims(ctx, f.now.Add(-time.Minute)); err != nil {
				t.Fatal(err)
			}
			if d, ok := storedRedemption(t, s, r.ID); !ok || d.State != redemptionPending {
				t.Errorf("redemption after an early recovery: %+v, found %v; want pending", d, ok)
			}
			for range 2 { // idempotent
				if c, u, err := s.CompleteInterruptedClaims(ctx, f.now.Add(time.Minute)); err != nil || c != 0 || u != 0 {
					t.Fatalf("recovery: %d, %d, %v", c, u, err)
				}
			}
			d, found := storedRedemption(t, s, r.ID)
			if tc.committed {
				if !found || d.State != redemptionDone {
					t.Errorf("committed redemption after recovery: %+v, found %v; want done", d, found)
				}
				if got, err := s.GetRedemption(ctx, f.bankID, r.ID); err != nil || got.VoucherID != f.voucher.ID || got.PointsSpent != 100 {
					t.Errorf("GetRedemption after recovery: %+v, %v", got, err)
				}
				if st := storedVoucherStatus(t, s, f.voucher.ID); st != voucherRedeemed {
					t.Errorf("voucher %s after recovery, want redeemed", st)
				}
			} else {
				if found {
					t.Errorf("undone redemption still stored: %+v", d)
				}
				if st := storedVoucherStatus(t, s, f.voucher.ID); st != voucherIssued {
					t.Errorf("voucher %s after recovery, want issued", st)
				}
			}
			wantBalance(t, s, "after recovery", f.cid, 200, 300)
			mustConsistent(t, s, 1)

			// The bank's retry with the same key: a replay if it was committed, a
			// new redemption otherwise.
			later := domain.Now().Add(time.Millisecond)
			retry := f.draftRedemption(r.IdempotencyKey, later)
			got, err := s.RedeemVoucher(ctx, retry)
			var dup *domain.DuplicateRedemptionError
			switch {
			case tc.committed && (!errors.As(err, &dup) || dup.Existing.ID != r.ID):
				t.Errorf("retry of a committed redemption: %v, want a duplicate of %s", err, r.ID)
			case !tc.committed && (err != nil || got.ID != retry.ID || got.VoucherID != f.voucher.ID):
				t.Errorf("retry of an undone redemption: %+v, %v", got, err)
			}
			if st := storedVoucherStatus(t, s, f.voucher.ID); st != voucherRedeemed {
				t.Errorf("voucher %s after the retry, want redeemed", st)
			}
			if n := countDocs(t, s, collRedemptions, bson.D{}); n != 1 {
				t.Errorf("%d redemptions, want 1", n)
			}

			// A redeemed voucher is never refunded by expiry.
			due := f.voucher.ExpiresAt.Add(time.Hour)
			if n, err := s.ExpireVouchers(ctx, due, 10, func() string { return domain.NewID(due) }); err != nil || n != 0 {
				t.Fatalf("ExpireVouchers: %d, %v; want nothing expired", n, err)
			}
			if st := storedVoucherStatus(t, s, f.voucher.ID); st != voucherRedeemed {
				t.Errorf("voucher %s after expiry, want redeemed", st)
			}
			if n := countEntries(t, s, f.cid, domain.LedgerRefund); n != 0 {
				t.Errorf("%d refund entries, want 0", n)
			}
			wantBalance(t, s, "after expiry", f.cid, 200, 300)
			mustConsistent(t, s, 1)
		})
	}
}

// A reversal stopped after each of its steps is finished by the recovery pass:
// the voucher ends reversed, the refund lands once, and retries are told.
func TestReversalCrashAtEveryStep(t *testing.T) {
	for _, tc := range []struct {
		step   string
		refund bool // the step is the refund's (testHooks.refundStep)
	}{
		{reversalStepDecided, false},
		{reversalStepReversing, false},
		{refundStepApplied, true},
		{refundStepEntry, true},
		{refundStepPulled, true},
		{reversalStepRefunded, false},
	} {
		t.Run(tc.step, func(t *testing.T) {
			ctx := context.Background()
			f := newRedemptionFixture(t)
			s := f.s
			r := f.draftRedemption("redeem-1", f.now)
			if _, err := s.RedeemVoucher(ctx, r); err != nil {
				t.Fatal(err)
			}
			at := f.now.Add(time.Second)
			entryID := domain.NewID(at)
			if tc.refund {
				s.hooks.refundStep = crashAt(tc.step)
			} else {
				s.hooks.redemptionStep = crashAt(tc.step)
			}
			if _, err := s.ReverseRedemption(ctx, f.bankID, r.ID, "customer returned", at, time.Hour, entryID); !errors.Is(err, errCrash) {
				t.Fatalf("crash: %v", err)
			}
			s.hooks.refundStep, s.hooks.redemptionStep = nil, nil
			mustConsistent(t, s, 1) // a pending refund item counts as in the ledger

			// The decision holds: a second reversal is told, and does nothing.
			var rev *domain.RedemptionReversedError
			if _, err := s.ReverseRedemption(ctx, f.bankID, r.ID, "again", at.Add(time.Second), time.Hour, domain.NewID(at)); !errors.As(err, &rev) {
				t.Errorf("second reversal after the crash: %v, want RedemptionReversedError", err)
			}

			// Within the grace period nothing is touched.
			if _, _, err := s.CompleteInterruptedClaims(ctx, f.now.Add(-time.Minute)); err != nil {
				t.Fatal(err)
			}
			for range 2 { // idempotent
				if c, u, err := s.CompleteInterruptedClaims(ctx, at.Add(time.Minute)); err != nil || c != 0 || u != 0 {
					t.Fatalf("recovery: %d, %d, %v", c, u, err)
				}
			}

			d, _ := storedRedemption(t, s, r.ID)
			if d.State != redemptionDone || d.Reversal != reversalClosed || d.ReversedAt == nil || d.RefundEntryID != entryID {
				t.Errorf("redemption after recovery: %+v", d)
			}
			if st := storedVoucherStatus(t, s, f.voucher.ID); st != voucherReversed {
				t.Errorf("voucher %s after recovery, want reversed", st)
			}
			wantBalance(t, s, "after recovery", f.cid, 300, 300)
			if n := countEntries(t, s, f.cid, domain.LedgerRefund); n != 1 {
				t.Errorf("%d refund entries, want 1", n)
			}
			entries, err := s.ListLedgerEntries(ctx, f.cid, "", 10)
			if err != nil {
				t.Fatal(err)
			}
			if e := entries[0]; e.ID != entryID || e.Kind != domain.LedgerRefund || e.Points != 100 || e.BalanceAfter != 300 ||
				e.CauseType != domain.RedemptionCause || e.CauseID != r.ID {
				t.Errorf("refund entry %+v", e)
			}
			if n := pendingCount(t, s, f.cid); n != 0 {
				t.Errorf("%d pending items after recovery", n)
			}
			mustConsistent(t, s, 1)

			// Retries: the redemption replays (reversed), the reversal is told.
			retry := f.draftRedemption(r.IdempotencyKey, domain.Now().Add(time.Millisecond))
			var dup *domain.DuplicateRedemptionError
			if _, err := s.RedeemVoucher(ctx, retry); !errors.As(err, &dup) || dup.Existing.ID != r.ID || !dup.Existing.Reversed() {
				t.Errorf("retry of the redemption: %v, want a duplicate of the reversed %s", err, r.ID)
			}
			if _, err := s.ReverseRedemption(ctx, f.bankID, r.ID, "customer returned", at, time.Hour, entryID); !errors.As(err, &rev) {
				t.Errorf("retry of the reversal: %v, want RedemptionReversedError", err)
			}
			// A new key cannot redeem the reversed voucher.
			if _, err := s.RedeemVoucher(ctx, f.draftRedemption("redeem-2", domain.Now())); !errors.Is(err, domain.ErrVoucherAlreadyRedeemed) {
				t.Errorf("redeeming a reversed voucher: %v", err)
			}

			// Expiry refunds nothing more.
			due := f.voucher.ExpiresAt.Add(time.Hour)
			if n, err := s.ExpireVouchers(ctx, due, 10, func() string { return domain.NewID(due) }); err != nil || n != 0 {
				t.Fatalf("ExpireVouchers: %d, %v; want nothing expired", n, err)
			}
			if st := storedVoucherStatus(t, s, f.voucher.ID); st != voucherReversed {
				t.Errorf("voucher %s after expiry, want reversed", st)
			}
			wantBalance(t, s, "after expiry", f.cid, 300, 300)
			if n := countEntries(t, s, f.cid, domain.LedgerRefund); n != 1 {
				t.Errorf("%d refund entries after expiry, want 1", n)
			}
			mustConsistent(t, s, 1)
		})
	}
}

// A redemption that stalls past the grace period after inserting its pending
// redemption (a paused process), and is undone by the recovery pass meanwhile,
// must not redeem the voucher when it wakes up: that would leave a redeemed
// voucher without a redemption, which can never be reversed or refunded.
func TestStalledRedemptionIsFenced(t *testing.T) {
	ctx := context.Background()
	f := newRedemptionFixture(t)
	s := f.s
	r := f.draftRedemption("redeem-1", f.now)
	s.hooks.redemptionStep = func(step string) error {
		if step != redemptionStepInserted {
			return nil
		}
		_, _, err := s.CompleteInterruptedClaims(ctx, f.now.Add(time.Minute))
		return err
	}
	_, err := s.RedeemVoucher(ctx, r)
	s.hooks.redemptionStep = nil
	if !errors.Is(err, errRedemptionAbandoned) {
		t.Errorf("stalled redemption: %v, want errRedemptionAbandoned", err)
	}
	if _, found := storedRedemption(t, s, r.ID); found {
		t.Errorf("undone redemption still stored")
	}
	if st := storedVoucherStatus(t, s, f.voucher.ID); st != voucherIssued {
		t.Errorf("voucher %s after the stalled redemption, want issued", st)
	}
	// The bank's retry redeems it.
	retry := f.draftRedemption(r.IdempotencyKey, domain.Now().Add(time.Millisecond))
	if got, err := s.RedeemVoucher(ctx, retry); err != nil || got.ID != retry.ID {
		t.Fatalf("retry: %+v, %v", got, err)
	}
	if st := storedVoucherStatus(t, s, f.voucher.ID); st != voucherRedeemed {
		t.Errorf("voucher %s after the retry, want redeemed", st)
	}
	wantBalance(t, s, "after the retry", f.cid, 200, 300)
	mustConsistent(t, s, 1)
}
