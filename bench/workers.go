package bench

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/huzhou-lvdaitong/carbon-account/bench/measure"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// newWorker returns a worker that records one action of phase p per call.
func (e *env) newWorker(p Phase, tag string, seed uint64) (measure.Worker, error) {
	switch p {
	case PhaseDirect:
		return e.newDirectWorker(tag, seed), nil
	case PhaseService:
		return &serviceWorker{e: e, gen: e.newGen(tag, seed)}, nil
	case PhaseHTTP:
		return e.newHTTPWorker(tag, seed), nil
	}
	return nil, fmt.Errorf("bench: unknown phase %q", p)
}

// directWorker calls the store's RecordAction with exactly the draft and credit
// rules ActionService.Record would pass: next runs the service against a store
// that only captures the call (drafter), do replays that call on the real store.
type directWorker struct {
	e       *env
	gen     *gen
	drafter *domain.ActionService
	capture *captureStore
	err     error // drafting failed: do reports it without calling the store
}

func (e *env) newDirectWorker(tag string, seed uint64) *directWorker {
	rules := e.sys.Actions.Rules
	rules.PerMinute = 0 // the rate limit is not a store operation
	c := &captureStore{}
	return &directWorker{
		e: e, gen: e.newGen(tag, seed), capture: c,
		drafter: &domain.ActionService{Actions: c, Catalog: e.sys.Catalog, Limiter: nil, Rules: rules, Now: domain.Now},
	}
}

func (w *directWorker) Next() {
	c, k, ref, occurred := w.gen.next()
	_, err := w.drafter.Record(context.Background(), w.gen.input(c, k, ref, occurred))
	w.err = nil
	if !errors.Is(err, errCaptured) {
		w.err = fmt.Errorf("drafting: %w", err)
	}
}

func (w *directWorker) Do(ctx context.Context) measure.Outcome {
	if w.err != nil {
		return measure.OutcomeOf(w.err)
	}
	c := w.capture
	_, err := w.e.counter.RecordAction(ctx, c.action, c.entryID, c.decide)
	return measure.OutcomeOf(err)
}

var errCaptured = errors.New("bench: captured")

// captureStore is the ActionStore of a drafter: it has no actions, and keeps the
// RecordAction call it receives instead of recording.
type captureStore struct {
	action  domain.Action
	entryID string
	decide  func(domain.DayUsage) (domain.Credit, error)
}

func (c *captureStore) RecordAction(_ context.Context, a domain.Action, newEntryID string, decide func(domain.DayUsage) (domain.Credit, error)) (domain.Action, error) {
	c.action, c.entryID, c.decide = a, newEntryID, decide
	return domain.Action{}, errCaptured
}

func (c *captureStore) FindActionByIdempotencyKey(context.Context, string, string) (domain.Action, error) {
	return domain.Action{}, domain.ErrNotFound
}

func (c *captureStore) GetAction(context.Context, string) (domain.Action, error) {
	return domain.Action{}, domain.ErrNotFound
}

func (c *captureStore) ListActions(context.Context, string, string, int) ([]domain.Action, error) {
	return nil, nil
}

func (c *captureStore) ListLedgerEntries(context.Context, string, string, int) ([]domain.LedgerEntry, error) {
	return nil, nil
}

func (c *captureStore) AnonymiseActions(context.Context, string) error { return nil }

func (c *captureStore) CompleteInterruptedActions(context.Context, time.Time) (int, int, error) {
	return 0, 0, nil
}

func (c *captureStore) CheckBalances(context.Context, string, int) ([]domain.BalanceCheck, error) {
	return nil, nil
}

// serviceWorker calls ActionService.Record: everything POST /v1/actions does
// except HTTP, JSON and the access token.
type serviceWorker struct {
	e   *env
	gen *gen
	in  domain.RecordActionInput
}

func (w *serviceWorker) Next() {
	c, k, ref, occurred := w.gen.next()
	w.in = w.gen.input(c, k, ref, occurred)
}

func (w *serviceWorker) Do(ctx context.Context) measure.Outcome {
	_, err := w.e.sys.Actions.Record(ctx, w.in)
	return measure.OutcomeOf(err)
}

// httpWorker sends POST /v1/actions on its own keep-alive connection.
type httpWorker struct {
	*measure.HTTPCaller
	gen  *gen
	body []byte
}

func (e *env) newHTTPWorker(tag string, seed uint64) *httpWorker {
	w := &httpWorker{HTTPCaller: measure.NewHTTPCaller(e.addr), gen: e.newGen(tag, seed)}
	w.Want = fasthttp.StatusCreated
	w.Req.Header.SetMethod(fasthttp.MethodPost)
	w.Req.SetRequestURI("http://" + e.addr + "/v1/actions")
	w.Req.Header.SetContentType("application/json")
	return w
}

func (w *httpWorker) Next() {
	c, k, ref, occurred := w.gen.next()
	b := append(w.body[:0], `{"type":"`...)
	b = append(b, k.Type...)
	b = append(b, `","quantity":`...)
	b = append(b, k.Quantity...)
	b = append(b, `,"occurred_at":"`...)
	b = occurred.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","evidence":{"source":"`...)
	b = append(b, k.Source...)
	b = append(b, `","reference":"`...)
	b = append(b, ref...)
	b = append(b, `"}}`...)
	w.body = b
	w.Req.SetBodyRaw(b)
	w.Req.Header.Set("Authorization", c.bearer)
	w.Req.Header.Set("Idempotency-Key", ref)
}
