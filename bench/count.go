package bench

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// The methods of domain.ActionStore, in the order CallCounts lists them.
const (
	callRecordAction = iota
	callFindByKey
	callGetAction
	callListActions
	callListLedger
	callAnonymise
	callCompleteInterrupted
	callCheckBalances
	numCalls
)

var callNames = [numCalls]string{
	"RecordAction", "FindActionByIdempotencyKey", "GetAction", "ListActions",
	"ListLedgerEntries", "AnonymiseActions", "CompleteInterruptedActions", "CheckBalances",
}

// CountingStore is a domain.ActionStore that counts the calls it passes on to
// the adapter, and the ledger entries RecordAction reports having written.
type CountingStore struct {
	next          domain.ActionStore
	calls         [numCalls]atomic.Int64
	ledgerEntries atomic.Int64
}

var _ domain.ActionStore = (*CountingStore)(nil)

// NewCountingStore wraps next.
func NewCountingStore(next domain.ActionStore) *CountingStore { return &CountingStore{next: next} }

// CallCounts are calls per ActionStore method (per action once divided).
type CallCounts [numCalls]float64

// Total is the number of calls into the store.
func (c CallCounts) Total() float64 {
	var t float64
	for _, v := range c {
		t += v
	}
	return t
}

// String lists the non-zero counts, e.g. "2.00 = RecordAction 1.00 + FindActionByIdempotencyKey 1.00".
func (c CallCounts) String() string {
	var parts []string
	for i, v := range c {
		if v != 0 {
			parts = append(parts, fmt.Sprintf("%s %.2f", callNames[i], v))
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return fmt.Sprintf("%.2f = %s", c.Total(), strings.Join(parts, " + "))
}

func (s *CountingStore) snapshot() CallCounts {
	var c CallCounts
	for i := range c {
		c[i] = float64(s.calls[i].Load())
	}
	return c
}

func (c CallCounts) minus(o CallCounts) CallCounts {
	for i := range c {
		c[i] -= o[i]
	}
	return c
}

func (c CallCounts) per(n int64) CallCounts {
	if n == 0 {
		return CallCounts{}
	}
	for i := range c {
		c[i] /= float64(n)
	}
	return c
}

func (s *CountingStore) RecordAction(ctx context.Context, a domain.Action, newEntryID string, decide func(domain.DayUsage) (domain.Credit, error)) (domain.Action, error) {
	s.calls[callRecordAction].Add(1)
	out, err := s.next.RecordAction(ctx, a, newEntryID, decide)
	if err == nil && out.LedgerEntryID != "" {
		s.ledgerEntries.Add(1)
	}
	return out, err
}

func (s *CountingStore) FindActionByIdempotencyKey(ctx context.Context, citizenID, key string) (domain.Action, error) {
	s.calls[callFindByKey].Add(1)
	return s.next.FindActionByIdempotencyKey(ctx, citizenID, key)
}

func (s *CountingStore) GetAction(ctx context.Context, id string) (domain.Action, error) {
	s.calls[callGetAction].Add(1)
	return s.next.GetAction(ctx, id)
}

func (s *CountingStore) ListActions(ctx context.Context, citizenID, beforeID string, limit int) ([]domain.Action, error) {
	s.calls[callListActions].Add(1)
	return s.next.ListActions(ctx, citizenID, beforeID, limit)
}

func (s *CountingStore) ListLedgerEntries(ctx context.Context, citizenID, beforeID string, limit int) ([]domain.LedgerEntry, error) {
	s.calls[callListLedger].Add(1)
	return s.next.ListLedgerEntries(ctx, citizenID, beforeID, limit)
}

func (s *CountingStore) AnonymiseActions(ctx context.Context, citizenID string) error {
	s.calls[callAnonymise].Add(1)
	return s.next.AnonymiseActions(ctx, citizenID)
}

func (s *CountingStore) CompleteInterruptedActions(ctx context.Context, before time.Time) (int, int, error) {
	s.calls[callCompleteInterrupted].Add(1)
	return s.next.CompleteInterruptedActions(ctx, before)
}

func (s *CountingStore) CheckBalances(ctx context.Context, afterID string, limit int) ([]domain.BalanceCheck, error) {
	s.calls[callCheckBalances].Add(1)
	return s.next.CheckBalances(ctx, afterID, limit)
}
