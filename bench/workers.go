package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// worker records actions one at a time: next prepares the next one (untimed),
// do records it (timed).
type worker interface {
	next()
	do(ctx context.Context) outcome
}

type outcome struct {
	ok     bool
	key    string // what went wrong, e.g. "422 daily_cap_reached"
	detail string // a message, kept for the first of each key
}

func outcomeOf(err error) outcome {
	if err == nil {
		return outcome{ok: true}
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return outcome{key: string(de.Kind) + " " + de.Code, detail: err.Error()}
	}
	return outcome{key: "error", detail: err.Error()}
}

func (e *env) newWorker(p Phase, tag string, seed uint64) (worker, error) {
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

func (w *directWorker) next() {
	c, k, ref, occurred := w.gen.next()
	_, err := w.drafter.Record(context.Background(), w.gen.input(c, k, ref, occurred))
	w.err = nil
	if !errors.Is(err, errCaptured) {
		w.err = fmt.Errorf("drafting: %w", err)
	}
}

func (w *directWorker) do(ctx context.Context) outcome {
	if w.err != nil {
		return outcomeOf(w.err)
	}
	c := w.capture
	_, err := w.e.counter.RecordAction(ctx, c.action, c.entryID, c.decide)
	return outcomeOf(err)
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

func (w *serviceWorker) next() {
	c, k, ref, occurred := w.gen.next()
	w.in = w.gen.input(c, k, ref, occurred)
}

func (w *serviceWorker) do(ctx context.Context) outcome {
	_, err := w.e.sys.Actions.Record(ctx, w.in)
	return outcomeOf(err)
}

// httpWorker sends POST /v1/actions on its own keep-alive connection.
type httpWorker struct {
	e      *env
	gen    *gen
	client *fasthttp.HostClient
	req    *fasthttp.Request
	resp   *fasthttp.Response
	body   []byte
}

func (e *env) newHTTPWorker(tag string, seed uint64) *httpWorker {
	w := &httpWorker{
		e: e, gen: e.newGen(tag, seed),
		// One client per worker, with one connection: the server sees
		// Concurrency keep-alive connections, each with one request at a time.
		client: &fasthttp.HostClient{
			Addr: e.addr, MaxConns: 1, MaxConnWaitTimeout: time.Minute,
			ReadTimeout: time.Minute, WriteTimeout: time.Minute, NoDefaultUserAgentHeader: true,
		},
		req: fasthttp.AcquireRequest(), resp: fasthttp.AcquireResponse(),
	}
	w.req.Header.SetMethod(fasthttp.MethodPost)
	w.req.SetRequestURI("http://" + e.addr + "/v1/actions")
	w.req.Header.SetContentType("application/json")
	return w
}

func (w *httpWorker) next() {
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
	w.req.SetBodyRaw(b)
	w.req.Header.Set("Authorization", c.bearer)
	w.req.Header.Set("Idempotency-Key", ref)
}

func (w *httpWorker) do(context.Context) outcome {
	if err := w.client.Do(w.req, w.resp); err != nil {
		return outcome{key: "transport error", detail: err.Error()}
	}
	status := w.resp.StatusCode()
	if status == fasthttp.StatusCreated {
		return outcome{ok: true}
	}
	body := w.resp.Body()
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(body, &p)
	return outcome{key: "HTTP " + strconv.Itoa(status) + " " + p.Code, detail: string(bytes.Clone(body))}
}
