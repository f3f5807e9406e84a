package jobs

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of a run, the outcome label of jobs_runs_total.
const (
	outcomeOK         = "ok"
	outcomeError      = "error"
	outcomePanic      = "panic"
	outcomeSkipped    = "skipped"     // another runner has it, or it ran this period
	outcomeLockFailed = "lock_failed" // the Locker could not be asked (Redis down)
)

var outcomes = []string{outcomeOK, outcomeError, outcomePanic, outcomeSkipped, outcomeLockFailed}

// newRunCounter creates jobs_runs_total and registers it on reg, if any. A
// counter that is not registered still works, so callers need no nil checks.
// Several Schedulers may share one registry: the first one's counter is reused.
func newRunCounter(reg prometheus.Registerer, jobs []Job) (*prometheus.CounterVec, error) {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "jobs_runs_total",
		Help: "Scheduled job runs by job and outcome: ok, error, panic, skipped (another runner has it), lock_failed.",
	}, []string{"job", "outcome"})
	if reg != nil {
		if err := reg.Register(c); err != nil {
			var dup prometheus.AlreadyRegisteredError
			existing, ok := c, false
			if errors.As(err, &dup) {
				existing, ok = dup.ExistingCollector.(*prometheus.CounterVec)
			}
			if !ok {
				return nil, fmt.Errorf("jobs: register metrics: %w", err)
			}
			c = existing
		}
	}
	// Start every series at zero, so alerts on rate() see the first failure.
	for _, j := range jobs {
		for _, o := range outcomes {
			c.WithLabelValues(j.Name, o)
		}
	}
	return c, nil
}
