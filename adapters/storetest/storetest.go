// Package storetest is the contract test suite every domain.Store adapter (SQLite,
// MongoDB, ...) must pass. It checks behaviour only, through the domain ports, so
// services can rely on the same semantics whichever store is configured.
//
// Conventions the suite relies on:
//   - open returns a fresh, empty store for each subtest and arranges its own
//     cleanup (t.Cleanup), including Close; the suite never calls Close itself.
//     Subtests run in parallel, so open must be safe to call concurrently.
//   - Adapters store times with millisecond precision in UTC. The suite therefore
//     compares times with time.Equal after truncating both sides to the millisecond,
//     and feeds in times with sub-millisecond parts and a non-UTC zone to make sure
//     the instant survives.
//   - Errors are compared with errors.Is against domain.ErrNotFound and
//     domain.ErrConflict, which adapters must return (possibly wrapped).
//   - Beyond the port comments, the suite pins down two natural choices so that
//     adapters agree: SaveCitizenProfile returns the citizen as stored after the
//     save (stored totals, new version), not the caller's struct echoed back; and
//     RevokeSubjectSessions for a subject without sessions is not an error.
//   - For actions and the ledger the suite also pins down: a ledger entry's
//     CreatedAt is the action's RecordedAt; a reused idempotency key wins over used
//     evidence (a retry carries both, and must be replayed, not refused); a refused
//     recording (decide's error, used evidence, duplicate key, unknown or erased
//     citizen) leaves its idempotency key and evidence key free; an action pending
//     review is listed and holds its evidence; AnonymiseActions clears Source and
//     Reference; CheckBalances covers every citizen, those without entries and
//     erased ones included; DuplicateRequestError.Existing is the stored action in
//     full when the first request has finished (while it is still recording, at
//     least its ID, IdempotencyKey and RequestHash). decide may be called more
//     than once per RecordAction (the suite's decide funcs are pure).
//   - For banks, benefits and vouchers (RunBenefits) the suite pins down: a
//     voucher's IssuedAt and its claim entry's CreatedAt are Claim.At, and a
//     refund entry's CreatedAt is the now given to ExpireVouchers; claim and
//     refund entries carry no CO2e; the stored voucher keeps the BalanceAfter that
//     ClaimBenefit returned (FindClaimByIdempotencyKey, ListVouchers and
//     DuplicateClaimError.Existing show it); expiry changes only Status and
//     RefundEntryID; a reused idempotency key wins over decide's refusal (a retry
//     after the citizen reached the limit is replayed, not refused); a refused
//     claim (decide's error, unknown benefit, unknown or erased citizen) leaves its
//     key and code free; held counts expired vouchers too; nil and empty Districts
//     are the same. DuplicateClaimError.Existing is the stored voucher in full once
//     the first claim has finished (while it is still claiming, at least its ID,
//     IdempotencyKey and BenefitID). decide may be called more than once per
//     ClaimBenefit (the suite's decide funcs are pure).
//   - The service and property tests run domain.ActionService on the store with a
//     fake clock in 2025 and activity types written straight into the store; the
//     claim service and race tests run domain.BenefitService with a fixed clock
//     and levels of their own (claimLevels).
//   - Race tests release goroutines together and repeat where one round could
//     happen to run serially; they need no special adapter setup, but an adapter
//     whose test backend is not atomic (FerretDB) must serialise, e.g. one connection.
package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Run runs the whole contract suite against the stores returned by open.
func Run(t *testing.T, open func(t *testing.T) domain.Store) {
	t.Run("citizens", func(t *testing.T) { runCitizens(t, open) })
	t.Run("operators", func(t *testing.T) { runOperators(t, open) })
	t.Run("sessions", func(t *testing.T) { runSessions(t, open) })
	t.Run("prune sessions", func(t *testing.T) { runPruneSessions(t, open) })
	t.Run("catalog", func(t *testing.T) { runCatalog(t, open) })
	t.Run("actions", func(t *testing.T) { runActions(t, open) })
	t.Run("action races", func(t *testing.T) { runActionRaces(t, open) })
	t.Run("action service", func(t *testing.T) { runActionService(t, open) })
	t.Run("action property", func(t *testing.T) { runActionProperty(t, open) })
	t.Run("bank credentials", func(t *testing.T) {
		RunBankCredentials(t, func(t *testing.T) domain.BankCredentialStore { return open(t) })
	})
	t.Run("benefits", func(t *testing.T) { RunBenefits(t, func(t *testing.T) BenefitsStore { return open(t) }) })
	t.Run("redemptions", func(t *testing.T) { runRedemptions(t, func(t *testing.T) BenefitsStore { return open(t) }) })
	t.Run("consents", func(t *testing.T) { runConsents(t, open) })
	t.Run("scans", func(t *testing.T) { runScans(t, open) })
	t.Run("Ping succeeds on an open store", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		if err := s.Ping(t.Context()); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
}

// shanghai is a fixed +08:00 zone: inputs are given in local time to check that
// adapters keep the instant, not the wall clock.
var shanghai = time.FixedZone("CST", 8*60*60)

// baseTime has a sub-millisecond part on purpose (see the package doc).
var baseTime = time.Date(2025, 3, 14, 9, 26, 53, 589_793_238, shanghai)

// at returns baseTime shifted by d.
func at(d time.Duration) time.Time { return baseTime.Add(d) }

// ms normalises a time the way adapters store it.
func ms(t time.Time) time.Time { return t.UTC().Truncate(time.Millisecond) }

func sameTime(a, b time.Time) bool { return ms(a).Equal(ms(b)) }

func sameTimePtr(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return sameTime(*a, *b)
}

func fmtTimePtr(p *time.Time) string {
	if p == nil {
		return "<nil>"
	}
	return ms(*p).Format(time.RFC3339Nano)
}

// fieldDiffs collects human-readable differences between an expected and an
// actual value, one per field.
type fieldDiffs []string

func (d *fieldDiffs) eq(field string, want, got any) {
	if want != got {
		*d = append(*d, fmt.Sprintf("%s: want %v, got %v", field, want, got))
	}
}

func (d *fieldDiffs) time(field string, want, got time.Time) {
	if !sameTime(want, got) {
		*d = append(*d, fmt.Sprintf("%s: want %s, got %s", field,
			ms(want).Format(time.RFC3339Nano), ms(got).Format(time.RFC3339Nano)))
	}
}

func (d *fieldDiffs) timePtr(field string, want, got *time.Time) {
	if !sameTimePtr(want, got) {
		*d = append(*d, fmt.Sprintf("%s: want %s, got %s", field, fmtTimePtr(want), fmtTimePtr(got)))
	}
}

func (d fieldDiffs) report(t *testing.T, what string) {
	t.Helper()
	for _, line := range d {
		t.Errorf("%s: %s", what, line)
	}
}

func mustNoErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

func wantErr(t *testing.T, what string, err, target error) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("%s: want error %v, got %v", what, target, err)
	}
}

// race runs f from n goroutines released at the same moment and returns their
// errors, indexed by goroutine.
func race(n int, f func(i int) error) []error {
	errs := make([]error, n)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	for i := range n {
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return errs
}

// checkExactlyOneWinner asserts that exactly one error is nil and every other one
// is loser (compared with errors.Is).
func checkExactlyOneWinner(t *testing.T, what string, errs []error, loser error) {
	t.Helper()
	wins := 0
	for i, err := range errs {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, loser):
			t.Errorf("%s: goroutine %d: want nil or %v, got %v", what, i, loser, err)
		}
	}
	if wins != 1 {
		t.Errorf("%s: %d of %d racing calls succeeded, want exactly 1", what, wins, len(errs))
	}
}
