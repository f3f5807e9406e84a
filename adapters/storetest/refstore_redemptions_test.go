package storetest

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// refRedemptions is the reference store's redemption state, guarded by refStore.mu.
type refRedemptions struct {
	byID  map[string]domain.Redemption
	byKey map[[2]string]string // (bank id, idempotency key) -> redemption id
}

func (s *refStore) redemptionState() *refRedemptions {
	if s.redemptions.byID == nil {
		s.redemptions = refRedemptions{byID: map[string]domain.Redemption{}, byKey: map[[2]string]string{}}
	}
	return &s.redemptions
}

func cloneRedemption(r domain.Redemption) domain.Redemption {
	if r.ReversedAt != nil {
		t := *r.ReversedAt
		r.ReversedAt = &t
	}
	return r
}

func (s *refStore) RedeemVoucher(_ context.Context, r domain.Redemption) (domain.Redemption, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.redemptionState()
	if id, ok := st.byKey[[2]string{r.BankID, r.IdempotencyKey}]; ok {
		return domain.Redemption{}, &domain.DuplicateRedemptionError{Existing: cloneRedemption(st.byID[id])}
	}
	var v domain.Voucher
	found := false
	for _, x := range s.vouchers {
		if x.Code == r.VoucherCode {
			v, found = x, true
			break
		}
	}
	if !found || v.BankID != r.BankID || v.Status == domain.VoucherClaiming {
		return domain.Redemption{}, domain.ErrNotFound
	}
	switch {
	case v.Status == domain.VoucherExpired:
		return domain.Redemption{}, domain.ErrVoucherExpired
	case v.Status != domain.VoucherIssued:
		return domain.Redemption{}, domain.ErrVoucherAlreadyRedeemed
	case !v.ExpiresAt.After(r.RedeemedAt):
		return domain.Redemption{}, domain.ErrVoucherExpired
	}
	r.VoucherID, r.BenefitID, r.CitizenID, r.PointsSpent = v.ID, v.BenefitID, v.CitizenID, v.PointsSpent
	r.ReversedAt, r.ReversalReason, r.RefundEntryID = nil, "", ""
	v.Status = domain.VoucherRedeemed
	s.vouchers[v.ID] = v
	st.byID[r.ID] = r
	st.byKey[[2]string{r.BankID, r.IdempotencyKey}] = r.ID
	return cloneRedemption(r), nil
}

func (s *refStore) ReverseRedemption(_ context.Context, bankID, id, reason string, at time.Time, window time.Duration, refundEntryID string) (domain.Redemption, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.redemptionState()
	r, ok := st.byID[id]
	if !ok || r.BankID != bankID {
		return domain.Redemption{}, domain.ErrNotFound
	}
	if r.ReversedAt != nil {
		return domain.Redemption{}, &domain.RedemptionReversedError{Existing: cloneRedemption(r)}
	}
	if !at.Before(r.RedeemedAt.Add(window)) {
		return domain.Redemption{}, domain.ErrReversalWindowClosed
	}
	c := s.citizens[r.CitizenID]
	c.Balance += r.PointsSpent
	s.citizens[r.CitizenID] = c
	s.ledger[refundEntryID] = domain.LedgerEntry{
		ID: refundEntryID, CitizenID: r.CitizenID, Kind: domain.LedgerRefund, Points: r.PointsSpent,
		BalanceAfter: c.Balance, CauseType: domain.RedemptionCause, CauseID: r.ID, CreatedAt: at,
	}
	v := s.vouchers[r.VoucherID]
	v.Status = domain.VoucherReversed
	s.vouchers[v.ID] = v
	t := at
	r.ReversedAt, r.ReversalReason, r.RefundEntryID = &t, reason, refundEntryID
	st.byID[id] = r
	return cloneRedemption(r), nil
}

func (s *refStore) GetRedemption(_ context.Context, bankID, id string) (domain.Redemption, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.redemptionState().byID[id]
	if !ok || r.BankID != bankID {
		return domain.Redemption{}, domain.ErrNotFound
	}
	return cloneRedemption(r), nil
}

func (s *refStore) ListRedemptions(_ context.Context, bankID string, from, to time.Time, afterID string, limit int) ([]domain.Redemption, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.Redemption
	for _, r := range s.redemptionState().byID {
		if r.BankID == bankID && !r.RedeemedAt.Before(from) && r.RedeemedAt.Before(to) && r.ID > afterID {
			out = append(out, cloneRedemption(r))
		}
	}
	slices.SortFunc(out, func(a, b domain.Redemption) int { return cmp.Compare(a.ID, b.ID) })
	return out[:max(min(limit, len(out)), 0)], nil
}
