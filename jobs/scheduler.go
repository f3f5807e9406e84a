package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-co-op/gocron/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Options configure a Scheduler.
type Options struct {
	// Locker decides which replica runs a job: adapters/redis in production,
	// adapters/memory in embedded mode (where this process always gets it).
	// Required.
	Locker domain.Locker
	// Logger gets run logs and gocron's own; nil means slog.Default().
	Logger *slog.Logger
	// Metrics, when set, gets the counter jobs_runs_total{job,outcome}.
	Metrics prometheus.Registerer
}

// Scheduler runs Jobs on their schedules, one runner per job across every
// replica that shares the Locker. Create it with New, call Start to begin
// scheduling (or only RunOnce, from the command line), and always Shutdown.
type Scheduler struct {
	locker  domain.Locker
	log     *slog.Logger
	runs    *prometheus.CounterVec
	gs      gocron.Scheduler
	lockers map[string]*jobLocker // by job name

	mu       sync.Mutex
	closed   bool           // set by Shutdown; no run starts after it
	running  sync.WaitGroup // runs in progress, scheduled or RunOnce
	stopping context.Context
	stop     context.CancelFunc
	gsOnce   sync.Once
	gsErr    error
}

// New validates jobs and schedules them; nothing runs before Start.
func New(opts Options, jobs ...Job) (*Scheduler, error) {
	if opts.Locker == nil {
		return nil, errors.New("jobs: Options.Locker is required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	s := &Scheduler{locker: opts.Locker, log: opts.Logger, lockers: map[string]*jobLocker{}}
	s.stopping, s.stop = context.WithCancel(context.Background())
	var stopTimeout time.Duration
	jobs = slices.Clone(jobs) // filled in below; the caller's slice stays as it was
	for i, j := range jobs {
		j, err := j.check()
		if err != nil {
			return nil, err
		}
		if _, dup := s.lockers[j.Name]; dup {
			return nil, fmt.Errorf("jobs: two jobs named %s", j.Name)
		}
		jobs[i] = j
		s.lockers[j.Name] = &jobLocker{s: s, job: j}
		stopTimeout = max(stopTimeout, j.lease())
	}
	var err error
	if s.runs, err = newRunCounter(opts.Metrics, jobs); err != nil {
		return nil, err
	}
	// Shutdown(ctx) bounds the wait; gocron's own stop timeout must not cut in
	// before a run could legitimately end.
	s.gs, err = gocron.NewScheduler(gocron.WithLocation(time.UTC), gocron.WithStopTimeout(stopTimeout),
		gocron.WithLogger(gocronLogger{s.log.With("component", "gocron")}))
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	for _, j := range jobs {
		if err := s.schedule(j); err != nil {
			_ = s.gs.Shutdown()
			return nil, err
		}
	}
	return s, nil
}

func (s *Scheduler) schedule(j Job) error {
	def := gocron.CronJob(j.Cron, false)
	opts := []gocron.JobOption{
		gocron.WithName(j.Name),
		gocron.WithDistributedJobLocker(s.lockers[j.Name]),
		// A run still going when the next is due: skip the next here rather than
		// have it refused by our own run lock.
		gocron.WithSingletonMode(gocron.LimitModeReschedule),
	}
	if j.Every > 0 {
		def = gocron.DurationJob(j.Every)
		opts = append(opts, gocron.WithStartAt(gocron.WithStartDateTimePast(alignedStart(time.Now(), j.Every))))
	}
	task := gocron.NewTask(func(ctx context.Context) error { return s.run(ctx, j, "schedule") })
	if _, err := s.gs.NewJob(def, task, opts...); err != nil {
		return fmt.Errorf("jobs: job %s: %w", j.Name, err)
	}
	return nil
}

// alignedStart is the latest multiple of every since the Unix epoch at or before
// now. Replicas started at different times thus fire at the same moments, and
// the slot lock lets one of them run.
func alignedStart(now time.Time, every time.Duration) time.Time {
	epoch := time.Unix(0, 0)
	return epoch.Add(now.Sub(epoch).Truncate(every))
}

// Start begins running jobs on their schedules.
func (s *Scheduler) Start() {
	s.gs.Start()
	for _, j := range s.gs.Jobs() {
		next, _ := j.NextRun()
		s.log.Info("job scheduled", "job", j.Name(), "next_run", next)
	}
}

// Names lists the jobs, sorted.
func (s *Scheduler) Names() []string {
	names := make([]string, 0, len(s.lockers))
	for n := range s.lockers {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// RunOnce runs the named job now, on this goroutine, unless a run of it is in
// progress anywhere (ErrBusy). It skips the slot check: someone asked for it.
// Without a shared Locker (embedded mode) it does not see runs in other
// processes; jobs are idempotent, so that is safe.
func (s *Scheduler) RunOnce(ctx context.Context, name string) error {
	l, ok := s.lockers[name]
	if !ok {
		return fmt.Errorf("%w %q (jobs: %s)", ErrUnknownJob, name, strings.Join(s.Names(), ", "))
	}
	lock, err := l.lockRun(ctx)
	if errors.Is(err, errSkipped) {
		return fmt.Errorf("%w: %s", ErrBusy, name)
	}
	if err != nil {
		return err
	}
	defer func() { _ = lock.Unlock(ctx) }()
	return s.run(ctx, l.job, "once")
}

// Shutdown stops scheduling, cancels the context of every run in progress and
// waits for them to return, or for ctx to be done. Calling it again waits again.
func (s *Scheduler) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.stop()
	s.gsOnce.Do(func() { s.gsErr = s.gs.ShutdownWithContext(ctx) })
	done := make(chan struct{})
	go func() {
		s.running.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		return fmt.Errorf("jobs: shutdown: runs still in progress: %w", ctx.Err())
	}
	if s.gsErr != nil {
		return fmt.Errorf("jobs: shutdown: %w", s.gsErr)
	}
	return nil
}

// begin registers a run with Shutdown, unless Shutdown has begun. Checking closed
// and adding to the WaitGroup under one lock keeps Add from racing with Wait.
func (s *Scheduler) begin() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.running.Add(1)
	return true
}

// gocronLogger sends gocron's logs to slog. Its Info lines are lifecycle chatter
// ("scheduler created") that our own run logs make redundant, so they go to Debug.
type gocronLogger struct{ l *slog.Logger }

func (g gocronLogger) Debug(msg string, args ...any) { g.l.Debug(msg, args...) }
func (g gocronLogger) Info(msg string, args ...any)  { g.l.Debug(msg, args...) }
func (g gocronLogger) Warn(msg string, args ...any)  { g.l.Warn(msg, args...) }
func (g gocronLogger) Error(msg string, args ...any) { g.l.Error(msg, args...) }
