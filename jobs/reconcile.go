package jobs

import (
	"context"
	"fmt"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// ReconcileName is the name of the Reconcile job, for `run-job`.
const ReconcileName = "reconcile"

// Reconcile returns the job that completes recordings a crash interrupted and then
// proves, citizen by citizen, that balances and lifetime totals equal the sums of
// the ledger. A mismatch fails the run (and is logged per citizen) so that it shows
// in jobs_runs_total{outcome="error"} and alerts; nothing is "fixed" automatically.
func Reconcile(r *domain.Reconciler, every time.Duration) Job {
	return Job{
		Name:    ReconcileName,
		Every:   every,
		Timeout: 30 * time.Minute,
		Run: func(ctx context.Context) error {
			rep, err := r.Run(ctx)
			log := Logger(ctx)
			log.InfoContext(ctx, "reconciled", "citizens_checked", rep.CitizensChecked,
				"recordings_completed", rep.CompletedRecordings, "recordings_removed", rep.RemovedRecordings,
				"claims_completed", rep.CompletedClaims, "claims_undone", rep.UndoneClaims,
				"mismatches", len(rep.Mismatches))
			for _, m := range rep.Mismatches {
				log.ErrorContext(ctx, "ledger mismatch", "citizen_id", m.CitizenID,
					"balance", m.Balance, "ledger_points", m.LedgerPoints,
					"co2e_g_total", m.CO2eGramsTotal, "ledger_co2e_g", m.LedgerCO2eGrams,
					"points_earned_total", m.PointsEarnedTotal, "ledger_earned", m.LedgerEarned)
			}
			if err != nil {
				return fmt.Errorf("reconcile: %w", err)
			}
			if len(rep.Mismatches) > 0 {
				return fmt.Errorf("reconcile: %d citizens' totals differ from their ledger", len(rep.Mismatches))
			}
			return nil
		},
	}
}
