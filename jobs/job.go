package jobs

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// DefaultTimeout bounds a run when Job.Timeout is zero.
const DefaultTimeout = 10 * time.Minute

// leaseSlack is how much longer than its Timeout a run holds its lock: time for a
// run to notice its deadline and return before anyone else may start the job.
const leaseSlack = time.Minute

// cronSlot is the slot lease of cron jobs, whose spacing is not known up front:
// cron specs have minute resolution, so half a minute never blocks the next run.
const cronSlot = 30 * time.Second

// Job is one piece of scheduled work. Run must be idempotent and must return
// soon after its context is done (see the package comment).
type Job struct {
	// Name identifies the job in locks, logs, metrics and `run-job NAME`:
	// lower-case letters, digits and dashes.
	Name string
	// Every runs the job at this interval, on multiples of it since the Unix
	// epoch (so every replica fires at the same moment). Set Every or Cron.
	Every time.Duration
	// Cron runs the job on a five-field cron spec, in UTC unless the spec starts
	// with CRON_TZ=Zone (for example "CRON_TZ=Asia/Shanghai 0 0 * * 1").
	Cron string
	// Timeout is the deadline of one run; zero means DefaultTimeout.
	Timeout time.Duration
	// Run does the work. A returned error or a panic is logged and counted; the
	// job still runs at its next time.
	Run func(ctx context.Context) error
}

var jobName = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// check validates j and fills in defaults.
func (j Job) check() (Job, error) {
	switch {
	case !jobName.MatchString(j.Name):
		return j, fmt.Errorf("jobs: job name %q: want lower-case letters, digits and dashes", j.Name)
	case (j.Every > 0) == (j.Cron != ""):
		return j, fmt.Errorf("jobs: job %s: set exactly one of Every (> 0) and Cron", j.Name)
	case j.Every < 0 || j.Timeout < 0:
		return j, fmt.Errorf("jobs: job %s: negative Every or Timeout", j.Name)
	case j.Run == nil:
		return j, fmt.Errorf("jobs: job %s: Run is nil", j.Name)
	}
	if j.Timeout == 0 {
		j.Timeout = DefaultTimeout
	}
	return j, nil
}

// lease is how long a run holds the job's run lock.
func (j Job) lease() time.Duration { return j.Timeout + leaseSlack }

// slot is how long a run keeps other replicas from starting the job again.
func (j Job) slot() time.Duration {
	if j.Every > 0 {
		return max(j.Every/2, time.Millisecond) // leases must be positive
	}
	return cronSlot
}

// Errors from RunOnce and Shutdown.
var (
	ErrUnknownJob = errors.New("jobs: no such job")
	ErrBusy       = errors.New("jobs: the job is running elsewhere")
	ErrShutdown   = errors.New("jobs: scheduler is shut down")
)
