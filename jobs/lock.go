package jobs

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-co-op/gocron/v2"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// releaseTimeout bounds releasing a run lock. Release does not use the run's
// context: at shutdown that is already cancelled, and an unreleased lock would
// keep the job from running on other replicas until its lease ran out.
const releaseTimeout = 5 * time.Second

// errSkipped tells gocron not to run this time; the reason is already logged.
var errSkipped = errors.New("jobs: run skipped")

// jobLocker is the gocron Locker of one job (see the package comment for the two
// keys). It logs and counts skipped runs itself, since it knows why.
type jobLocker struct {
	s   *Scheduler
	job Job
}

var _ gocron.Locker = (*jobLocker)(nil)

func (l *jobLocker) runKey() string  { return "job:" + l.job.Name + ":run" }
func (l *jobLocker) slotKey() string { return "job:" + l.job.Name + ":slot" }

// Lock is called by gocron before each scheduled run; an error skips the run.
func (l *jobLocker) Lock(ctx context.Context, _ string) (gocron.Lock, error) {
	run, err := l.lockRun(ctx)
	if err != nil {
		return nil, err
	}
	_, fresh, err := l.s.locker.TryLock(ctx, l.slotKey(), l.job.slot())
	if err != nil || !fresh {
		_ = run.Unlock(ctx)
		if err != nil {
			return nil, l.lockFailed(err)
		}
		return nil, l.skipped("it already ran this period")
	}
	return run, nil
}

// lockRun takes the run lock only: RunOnce uses it directly, since a run asked
// for by hand should not be refused because the schedule ran recently.
func (l *jobLocker) lockRun(ctx context.Context) (*runLock, error) {
	lock, ok, err := l.s.locker.TryLock(ctx, l.runKey(), l.job.lease())
	switch {
	case err != nil:
		return nil, l.lockFailed(err)
	case !ok:
		return nil, l.skipped("another run holds its lock")
	}
	return &runLock{lock: lock, expires: time.Now().Add(l.job.lease()), s: l.s, job: l.job.Name}, nil
}

func (l *jobLocker) skipped(why string) error {
	l.s.log.Debug("job run skipped: "+why, "job", l.job.Name)
	l.s.runs.WithLabelValues(l.job.Name, outcomeSkipped).Inc()
	return errSkipped
}

func (l *jobLocker) lockFailed(err error) error {
	l.s.log.Warn("job run skipped: cannot take its lock", "job", l.job.Name, "error", err)
	l.s.runs.WithLabelValues(l.job.Name, outcomeLockFailed).Inc()
	return fmt.Errorf("jobs: lock %s: %w", l.job.Name, err)
}

// runLock is a held run lock.
type runLock struct {
	lock    domain.Lock
	expires time.Time // by the local clock, for the warning below
	s       *Scheduler
	job     string
}

func (r *runLock) Unlock(ctx context.Context) error {
	if time.Now().After(r.expires) {
		// Another replica may have taken the lock and started the job meanwhile;
		// Release will not free its lock, but the overlap already happened.
		r.s.log.Warn("job ran past its lock lease; it must honour its context deadline", "job", r.job)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	defer cancel()
	if err := r.lock.Release(ctx); err != nil {
		r.s.log.Warn("cannot release job lock; it will expire by itself", "job", r.job, "error", err)
		return err
	}
	return nil
}
