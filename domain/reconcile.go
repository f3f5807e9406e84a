package domain

import (
	"context"
	"errors"
	"time"
)

// Reconciler proves the ledger's invariant: it completes recordings a crash cut
// short, then checks every citizen's balance and lifetime totals against the sums of
// their ledger entries. It changes nothing else: a mismatch is reported, not fixed,
// because it means a bug that an operator must look at.
type Reconciler struct {
	Actions ActionStore
	Claims  BenefitStore // optional: its interrupted claims are completed too
	Now     func() time.Time
	// Grace is how old an unfinished recording must be before it counts as
	// interrupted rather than in progress.
	Grace time.Duration
	// Recovered, when set, runs after recordings were completed: their ledger
	// entries carry the time of the interrupted request, which may be too old for
	// the leaderboards' catch-up to pick up, so the boards are rebuilt.
	Recovered func(ctx context.Context) (RebuildReport, error)
}

// ReconcileReport is the outcome of one reconciliation pass.
type ReconcileReport struct {
	CompletedRecordings int
	RemovedRecordings   int
	CompletedClaims     int
	UndoneClaims        int
	CitizensChecked     int
	Mismatches          []BalanceCheck
}

const reconcilePage = 500

// Run does one full pass. It is idempotent and safe to run while the service runs.
func (r *Reconciler) Run(ctx context.Context) (ReconcileReport, error) {
	var rep ReconcileReport
	var err error
	rep.CompletedRecordings, rep.RemovedRecordings, err = r.Actions.CompleteInterruptedActions(ctx, r.Now().Add(-r.Grace))
	if err != nil {
		return rep, err
	}
	if r.Claims != nil {
		if rep.CompletedClaims, rep.UndoneClaims, err = r.Claims.CompleteInterruptedClaims(ctx, r.Now().Add(-r.Grace)); err != nil {
			return rep, err
		}
	}
	if rep.CompletedRecordings > 0 && r.Recovered != nil {
		if _, err := r.Recovered(ctx); err != nil && !errors.Is(err, ErrBoardsBusy) {
			return rep, err
		}
	}
	after := ""
	for {
		checks, err := r.Actions.CheckBalances(ctx, after, reconcilePage)
		if err != nil {
			return rep, err
		}
		for _, c := range checks {
			rep.CitizensChecked++
			if !c.Consistent() {
				rep.Mismatches = append(rep.Mismatches, c)
			}
		}
		if len(checks) < reconcilePage {
			return rep, nil
		}
		after = checks[len(checks)-1].CitizenID
	}
}
