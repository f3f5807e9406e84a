// Package jobs runs scheduled work (DESIGN.md §3): pruning sessions now, and later
// leaderboard rollover, voucher expiry, notification dispatch, reconciliation and
// stats rollups. Every replica runs a Scheduler with the same jobs; a shared lock
// makes sure each job has one runner at a time across all of them.
//
// # One runner per job: a per-job lease, not leader election
//
// The Scheduler wraps github.com/go-co-op/gocron/v2 and plugs a gocron Locker
// (WithDistributedJobLocker) built on domain.Locker into every job, rather than a
// gocron Elector. An Elector needs a leadership lease that someone keeps renewing,
// and domain.Locker has no renewal; a leader that stalls (GC pause, lost network)
// keeps running jobs after its lease ran out while a new leader starts them too.
// A per-job lease only has to outlive one run, which the Scheduler enforces: each
// run's context has a deadline (Job.Timeout), and the lease lasts that long plus
// leaseSlack. Jobs also spread across replicas instead of piling onto a leader.
//
// Per job, two keys are taken, both as leases on domain.Locker:
//
//   - "job:NAME:run" for the whole run, released when it ends: no two runs of a
//     job overlap, on any replica.
//   - "job:NAME:slot", never released, lasting half the interval (30s for cron
//     jobs): replicas whose timers fire a little apart, because of clock skew,
//     do not each run the job once the first has finished. Interval jobs start
//     on multiples of Every since the Unix epoch, so replicas fire together.
//
// A replica that cannot take both skips that run (logged at debug, counted as
// "skipped"). In embedded mode the Locker is adapters/memory, so the single
// process always gets the lock; production uses adapters/redis.
//
// # What a job must be
//
// Idempotent: a run can be cut off at any point (deadline, shutdown, crash) and
// repeated, and a lease that expires under a run that ignores its context lets
// another replica start the same job. Run must return soon after ctx is done.
// Jobs are plain values, so `run-job NAME` can run one once from the command line
// (Scheduler.RunOnce) through the same logging, metrics and run lock.
package jobs
