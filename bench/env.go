package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/api/token"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Kind is one kind of action the benchmark sends, picked at random per action.
type Kind struct {
	Type     string
	Quantity string // as sent in JSON
	Source   string // evidence source
}

// Kinds are seeded types whose caps the benchmark does not reach: per citizen
// and day each allows 33 or more actions of this size (waste.glass 1.5 kg of
// 50 kg is the tightest), while a 10 s phase at 10 000 actions/s over 10 000
// citizens sends each citizen about 10 actions of all kinds together.
var Kinds = []Kind{
	{"waste.paper", "0.5", "smart_bin"},
	{"waste.cardboard", "0.8", "recycling_station"},
	{"waste.glass", "1.5", "smart_bin"},
	{"waste.mixed_recyclables", "1.2", "smart_bin"},
	{"travel.metro_km", "2.5", "transit_card"},
	{"travel.cycling", "1.2", "shared_bike"},
	{"travel.walking", "300", "step_counter"},
}

type citizen struct {
	id     string
	bearer string // "Bearer <access token>"
}

// env is the state shared by all phases of one run.
type env struct {
	sys      System
	counter  *CountingStore
	kinds    []Kind
	citizens []citizen
	nonce    string // makes evidence references and keys unique across runs on one data dir
	progress io.Writer

	app    *fiber.App
	addr   string
	served chan error
}

// newEnv wraps the store in a counting decorator, creates the citizens and
// serves the app on a loopback port.
func newEnv(ctx context.Context, sys System, citizens int, progress io.Writer) (*env, error) {
	if sys.Store == nil || sys.Actions == nil || sys.Catalog == nil || sys.Tokens == nil || sys.NewApp == nil {
		return nil, errors.New("bench: incomplete System")
	}
	e := &env{sys: sys, kinds: Kinds, nonce: domain.RandomToken(6), progress: progress}
	now := domain.Now()
	for _, k := range e.kinds {
		if _, v, ok := sys.Catalog.InForce(k.Type, now); !ok || !v.Enabled {
			return nil, fmt.Errorf("bench: activity type %s is not in force and enabled (were the seeds loaded?)", k.Type)
		}
	}
	e.counter = NewCountingStore(sys.Actions.Actions)
	sys.Actions.Actions = e.counter
	e.sys = sys

	fmt.Fprintf(progress, "creating %d citizens ...\n", citizens)
	t0 := time.Now()
	if err := e.createCitizens(ctx, citizens); err != nil {
		return nil, err
	}
	fmt.Fprintf(progress, "created %d citizens in %s\n", citizens, time.Since(t0).Round(time.Millisecond))

	e.app = sys.NewApp()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("bench: listen: %w", err)
	}
	e.addr = ln.Addr().String()
	e.served = make(chan error, 1)
	go func() { e.served <- e.app.Listener(ln) }()
	return e, nil
}

// commits is System.Commits, or 0.
func (e *env) commits() int64 {
	if e.sys.Commits == nil {
		return 0
	}
	return e.sys.Commits()
}

func (e *env) close() {
	if e.app != nil {
		_ = e.app.ShutdownWithTimeout(5 * time.Second)
		<-e.served
	}
}

// createCitizens finds or creates citizens with dev identities +86139xxxxxxxx
// through the store, in parallel.
func (e *env) createCitizens(ctx context.Context, n int) error {
	e.citizens = make([]citizen, n)
	var next atomic.Int64
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				now := domain.Now()
				phone := fmt.Sprintf("+86139%08d", i)
				c, _, err := e.sys.Store.FindOrCreateCitizen(ctx, domain.Citizen{
					ID: domain.NewID(now), Identity: domain.Identity{Provider: domain.ProviderDev, Subject: phone},
					Phone: phone, Nickname: "绿友BENCH", CreatedAt: now, UpdatedAt: now,
				})
				if err != nil {
					errs <- fmt.Errorf("bench: create citizen %d: %w", i, err)
					return
				}
				if c.Erased() {
					errs <- fmt.Errorf("bench: citizen %s (%s) was erased; use a fresh -dir", c.ID, phone)
					return
				}
				e.citizens[i].id = c.ID
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

// mintTokens gives every citizen a fresh access token, as sign-in would.
func (e *env) mintTokens() error {
	for i := range e.citizens {
		tok, err := e.sys.Tokens.Mint(token.Principal{SubjectID: e.citizens[i].id, Role: domain.RoleCitizen})
		if err != nil {
			return fmt.Errorf("bench: mint token: %w", err)
		}
		e.citizens[i].bearer = "Bearer " + tok
	}
	return nil
}

// gen makes one worker's actions: a random citizen, a random kind, a unique
// evidence reference (also used as the idempotency key).
type gen struct {
	e   *env
	rng *rand.Rand
	tag string
	n   int
	buf []byte
	// past, if set, spreads occurred_at over the last past instead of one minute ago.
	past time.Duration
}

func (e *env) newGen(tag string, seed uint64) *gen {
	return &gen{e: e, rng: rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano()))), tag: e.nonce + "-" + tag}
}

func (g *gen) next() (c *citizen, k *Kind, ref string, occurred time.Time) {
	c = &g.e.citizens[g.rng.IntN(len(g.e.citizens))]
	k = &g.e.kinds[g.rng.IntN(len(g.e.kinds))]
	g.n++
	g.buf = strconv.AppendInt(append(g.buf[:0], g.tag...), int64(g.n), 10)
	ref = string(g.buf)
	occurred = domain.Now().Add(-time.Minute)
	if g.past > 0 {
		occurred = occurred.Add(-time.Duration(g.rng.Int64N(int64(g.past))))
	}
	return c, k, ref, occurred
}

func (g *gen) input(c *citizen, k *Kind, ref string, occurred time.Time) domain.RecordActionInput {
	return domain.RecordActionInput{
		CitizenID: c.id, IdempotencyKey: ref, TypeCode: k.Type, Quantity: k.Quantity, OccurredAt: occurred,
		Evidence: &domain.Evidence{Source: k.Source, Reference: ref},
	}
}

// prefill records n actions through the direct path, with occurred_at spread
// over the last 29 days (within the 30 days an action may be recorded), so the
// store holds what weeks of use leave: n actions and ledger entries, and daily
// usage rows over many days.
func (e *env) prefill(ctx context.Context, n, concurrency int) error {
	fmt.Fprintf(e.progress, "prefilling %d actions with %d callers ...\n", n, concurrency)
	t0 := time.Now()
	var done atomic.Int64
	var failed atomic.Int64
	var firstErr error
	var once sync.Once
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				d := done.Load()
				el := time.Since(t0)
				fmt.Fprintf(e.progress, "  %d/%d (%.0f/s, %s)\n", d, n, float64(d)/el.Seconds(), el.Round(time.Second))
			}
		}
	}()
	var wg sync.WaitGroup
	for i := range concurrency {
		share := n / concurrency
		if i < n%concurrency {
			share++
		}
		w := e.newDirectWorker(fmt.Sprintf("p%d-", i), uint64(9000+i))
		w.gen.past = 29 * 24 * time.Hour
		wg.Add(1)
		go func() {
			defer wg.Done()
			callCtx := context.WithoutCancel(ctx) // as in measure.ClosedLoop
			for j := 0; j < share && ctx.Err() == nil; j++ {
				w.Next()
				if out := w.Do(callCtx); !out.OK {
					failed.Add(1)
					once.Do(func() { firstErr = fmt.Errorf("%s: %s", out.Key, out.Detail) })
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	close(stop)
	if err := ctx.Err(); err != nil {
		return err
	}
	el := time.Since(t0)
	fmt.Fprintf(e.progress, "prefilled %d actions in %s (%.0f/s), %d failed\n", n, el.Round(time.Millisecond), float64(n)/el.Seconds(), failed.Load())
	if f := failed.Load(); f > int64(n)/100 {
		return fmt.Errorf("bench: prefill: %d of %d actions failed, first: %v", f, n, firstErr)
	}
	return nil
}
