package boards

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/valyala/fasthttp"

	"github.com/huzhou-lvdaitong/carbon-account/bench"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// The query of read and http-read.
const (
	queryLimit      = 50
	queryNeighbours = 2
)

// worker makes one call at a time: next prepares it (untimed), do makes it (timed).
type worker interface {
	next()
	do(ctx context.Context) outcome
}

type outcome struct {
	ok     bool
	key    string // what went wrong, e.g. "HTTP 500 internal"
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

func (r *run) seed(p Phase, i int) *rand.Rand {
	return rand.New(rand.NewPCG(r.opt.Seed^uint64(len(p))<<32, uint64(time.Now().UnixNano())+uint64(i)))
}

// measure runs a direct phase on boards.
func (r *run) measure(ctx context.Context, a Adapter, p Phase, boards domain.Leaderboard) error {
	workers := make([]worker, r.opt.Concurrency)
	for i := range workers {
		rng := r.seed(p, i)
		switch p {
		case PhaseRead:
			workers[i] = &readWorker{b: boards, pop: r.pop, rng: rng}
		case PhaseUpdate:
			workers[i] = &updateWorker{b: boards, pop: r.pop, rng: rng}
		}
	}
	return r.record(ctx, a, p, workers)
}

// measureHTTP runs an HTTP phase against the app served at addr.
func (r *run) measureHTTP(ctx context.Context, a Adapter, p Phase, addr string) error {
	workers := make([]worker, r.opt.Concurrency)
	var clients []*fasthttp.HostClient
	for i := range workers {
		rng := r.seed(p, i)
		w := newHTTPWorker(addr, rng)
		clients = append(clients, w.client)
		switch p {
		case PhaseHTTPRead:
			w.req.Header.SetMethod(fasthttp.MethodGet)
			w.req.SetRequestURI("http://" + addr + "/v1/leaderboards?period=all&limit=" + strconv.Itoa(queryLimit) +
				"&neighbours=" + strconv.Itoa(queryNeighbours))
			w.want = fasthttp.StatusOK
			workers[i] = &httpReadWorker{httpWorker: w, pop: r.pop}
		case PhaseHTTPUpdate:
			w.req.Header.SetMethod(fasthttp.MethodPost)
			w.req.SetRequestURI("http://" + addr + "/v1/actions")
			w.req.Header.SetContentType("application/json")
			w.want = fasthttp.StatusCreated
			workers[i] = &httpUpdateWorker{httpWorker: w, real: r.real, tag: fmt.Sprintf("%s-%s-%d-", r.nonce, a.Name, i)}
		}
	}
	defer func() {
		for _, c := range clients {
			c.CloseIdleConnections()
		}
	}()
	return r.record(ctx, a, p, workers)
}

// record runs the workers in a closed loop for the warm-up, then the measured
// duration, and adds the phase's row to the report. Only calls that complete
// inside the measured window count.
func (r *run) record(ctx context.Context, a Adapter, p Phase, workers []worker) error {
	adapter := a.Name
	serverCPU := func() time.Duration {
		if a.ServerCPU == nil {
			return 0
		}
		d, _ := a.ServerCPU(context.WithoutCancel(ctx))
		return d
	}
	fmt.Fprintf(r.opt.Progress, "%s: %s, %d callers, %s + %s warm-up ...\n", adapter, p, len(workers), r.opt.Duration, r.opt.Warmup)
	from := time.Now().Add(r.opt.Warmup)
	until := from.Add(r.opt.Duration)
	var cpu0, cpu1, srv0, srv1 time.Duration
	var gc0, gc1 int64
	watch := make(chan struct{})
	go func() {
		defer close(watch)
		time.Sleep(time.Until(from))
		cpu0, gc0, srv0 = processCPU(), gcCycles(), serverCPU()
		time.Sleep(time.Until(until))
		cpu1, gc1, srv1 = processCPU(), gcCycles(), serverCPU()
	}()

	// A context that is never cancelled, as the HTTP handlers' (and so that the
	// SQLite driver does not watch each statement's context).
	callCtx := context.WithoutCancel(ctx)
	type result struct {
		lat    []time.Duration
		failed map[string]int64
		sample map[string]string
	}
	results := make([]result, len(workers))
	capHint := max(256, int(r.opt.Duration.Seconds()*100_000)/len(workers))
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := result{lat: make([]time.Duration, 0, capHint), failed: map[string]int64{}, sample: map[string]string{}}
			for ctx.Err() == nil {
				w.next()
				t0 := time.Now()
				if !t0.Before(until) {
					break
				}
				out := w.do(callCtx)
				t1 := time.Now()
				if t1.Before(from) || t1.After(until) {
					continue
				}
				if out.ok {
					res.lat = append(res.lat, t1.Sub(t0))
					continue
				}
				res.failed[out.key]++
				if _, ok := res.sample[out.key]; !ok {
					res.sample[out.key] = out.detail
				}
			}
			results[i] = res
		}()
	}
	wg.Wait()
	<-watch
	if err := ctx.Err(); err != nil {
		return err
	}
	row := Row{Adapter: adapter, Phase: p, Failed: map[string]int64{}, FailSample: map[string]string{}}
	var lat []time.Duration
	for _, res := range results {
		lat = append(lat, res.lat...)
		for k, v := range res.failed {
			row.Failed[k] += v
			if _, ok := row.FailSample[k]; !ok {
				row.FailSample[k] = res.sample[k]
			}
		}
	}
	slices.Sort(lat)
	row.OK = int64(len(lat))
	row.Throughput = float64(row.OK) / r.opt.Duration.Seconds()
	row.P50, row.P99 = percentile(lat, 0.50), percentile(lat, 0.99)
	if len(lat) > 0 {
		row.Max = lat[len(lat)-1]
	}
	if done := row.OK + sum(row.Failed); done > 0 {
		row.CPUPerOp = (cpu1 - cpu0) / time.Duration(done)
		row.ServerCPUPerOp = (srv1 - srv0) / time.Duration(done)
	}
	row.GCCycles = gc1 - gc0
	r.rep.Rows = append(r.rep.Rows, row)
	fmt.Fprintf(r.opt.Progress, "%s: %-11s %9.0f/s  p50 %-9s p99 %-9s failed %d\n", adapter, p, row.Throughput,
		fmtDur(row.P50), fmtDur(row.P99), sum(row.Failed))
	return nil
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// readWorker queries the top of "all" with a random member's standing.
type readWorker struct {
	b   domain.Leaderboard
	pop *population
	rng *rand.Rand
	q   domain.BoardQuery
}

func (w *readWorker) next() {
	w.q = domain.BoardQuery{Board: domain.BoardID{Instance: string(domain.PeriodAll)}, Limit: queryLimit,
		CitizenID: w.pop.id(w.rng.IntN(w.pop.n)), Neighbours: queryNeighbours}
}

func (w *readWorker) do(ctx context.Context) outcome {
	page, err := w.b.Query(ctx, w.q)
	if err != nil {
		return outcomeOf(err)
	}
	return checkPage(page, int64(w.pop.n))
}

// checkPage is a cheap sanity check of a page of the loaded board, on which
// every member is ranked.
func checkPage(page domain.BoardPage, members int64) outcome {
	switch {
	case page.Me == nil || page.Me.Rank < 1:
		return outcome{key: "member not ranked", detail: fmt.Sprintf("%+v", page.Me)}
	case len(page.Top) != int(min(queryLimit, members)):
		return outcome{key: "short top", detail: fmt.Sprintf("%d rows of %d ranked", len(page.Top), page.Ranked)}
	case page.Ranked != members:
		return outcome{key: "ranked count", detail: fmt.Sprintf("%d ranked, %d members", page.Ranked, members)}
	}
	return outcome{ok: true}
}

// updateWorker credits a random member on "all" with a new ledger entry.
type updateWorker struct {
	b      domain.Leaderboard
	pop    *population
	rng    *rand.Rand
	credit [1]domain.BoardCredit
}

var allOnly = []domain.BoardInstance{{ID: string(domain.PeriodAll)}}

func (w *updateWorker) next() {
	now := time.Now()
	var id ulid.ULID
	_ = id.SetTime(ulid.Timestamp(now))
	binary.BigEndian.PutUint16(id[6:], uint16(w.rng.Uint32()))
	binary.BigEndian.PutUint64(id[8:], w.rng.Uint64())
	w.credit[0] = domain.BoardCredit{EntryID: id.String(), CitizenID: w.pop.id(w.rng.IntN(w.pop.n)),
		CO2eGrams: int64(1+w.rng.IntN(50)) * scoreUnit, At: now, Instances: allOnly}
}

func (w *updateWorker) do(ctx context.Context) outcome {
	unknown, err := w.b.Apply(ctx, w.credit[:])
	if err != nil {
		return outcomeOf(err)
	}
	if len(unknown) > 0 {
		return outcome{key: "member unknown", detail: fmt.Sprint(unknown)}
	}
	return outcome{ok: true}
}

// httpWorker sends requests on its own keep-alive connection.
type httpWorker struct {
	client *fasthttp.HostClient
	req    *fasthttp.Request
	resp   *fasthttp.Response
	rng    *rand.Rand
	want   int
}

func newHTTPWorker(addr string, rng *rand.Rand) *httpWorker {
	return &httpWorker{
		// One client per worker, with one connection: the server sees
		// Concurrency keep-alive connections, each with one request at a time.
		client: &fasthttp.HostClient{
			Addr: addr, MaxConns: 1, MaxConnWaitTimeout: time.Minute,
			ReadTimeout: time.Minute, WriteTimeout: time.Minute, NoDefaultUserAgentHeader: true,
		},
		req: fasthttp.AcquireRequest(), resp: fasthttp.AcquireResponse(), rng: rng,
	}
}

func (w *httpWorker) do(context.Context) outcome {
	if err := w.client.Do(w.req, w.resp); err != nil {
		return outcome{key: "transport error", detail: err.Error()}
	}
	status := w.resp.StatusCode()
	if status == w.want {
		return outcome{ok: true}
	}
	body := w.resp.Body()
	var p struct {
		Code string `json:"code"`
	}
	_ = json.Unmarshal(body, &p)
	return outcome{key: "HTTP " + strconv.Itoa(status) + " " + p.Code, detail: string(bytes.Clone(body))}
}

// httpReadWorker asks for the board as a random member of the token sample.
type httpReadWorker struct {
	*httpWorker
	pop *population
}

func (w *httpReadWorker) next() {
	w.req.Header.Set("Authorization", w.pop.bearers[w.rng.IntN(len(w.pop.bearers))])
}

// httpUpdateWorker records an action for a random real citizen, of a random
// kind of bench.Kinds, with a unique evidence reference and Idempotency-Key.
type httpUpdateWorker struct {
	*httpWorker
	real []realCitizen
	tag  string
	n    int
	ref  []byte
	body []byte
}

func (w *httpUpdateWorker) next() {
	c := &w.real[w.rng.IntN(len(w.real))]
	k := &bench.Kinds[w.rng.IntN(len(bench.Kinds))]
	w.n++
	w.ref = strconv.AppendInt(append(w.ref[:0], w.tag...), int64(w.n), 10)
	b := append(w.body[:0], `{"type":"`...)
	b = append(b, k.Type...)
	b = append(b, `","quantity":`...)
	b = append(b, k.Quantity...)
	b = append(b, `,"occurred_at":"`...)
	b = domain.Now().Add(-time.Minute).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","evidence":{"source":"`...)
	b = append(b, k.Source...)
	b = append(b, `","reference":"`...)
	b = append(b, w.ref...)
	b = append(b, `"}}`...)
	w.body = b
	w.req.SetBodyRaw(b)
	w.req.Header.Set("Authorization", c.bearer)
	w.req.Header.SetBytesV("Idempotency-Key", w.ref)
}

// checkHTTP compares one GET /v1/leaderboards with a direct Query for the
// same member, while nothing else changes the board.
func (r *run) checkHTTP(ctx context.Context, addr string, boards domain.Leaderboard) string {
	p := r.pop
	k := len(p.sample) / 2
	id := p.id(p.sample[k])
	page, err := boards.Query(ctx, domain.BoardQuery{Board: domain.BoardID{Instance: string(domain.PeriodAll)},
		Limit: queryLimit, CitizenID: id, Neighbours: queryNeighbours})
	if err != nil {
		return "MISMATCH: direct query: " + err.Error()
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(fmt.Sprintf("http://%s/v1/leaderboards?period=all&limit=%d&neighbours=%d", addr, queryLimit, queryNeighbours))
	req.Header.Set("Authorization", p.bearers[k])
	if err := fasthttp.DoTimeout(req, resp, 30*time.Second); err != nil {
		return "MISMATCH: " + err.Error()
	}
	var body struct {
		Ranked int64 `json:"ranked"`
		Items  []struct {
			Rank     int64  `json:"rank"`
			CO2eG    int64  `json:"co2e_g"`
			Nickname string `json:"nickname"`
		} `json:"items"`
		Me struct {
			Rank  *int64            `json:"rank"`
			CO2eG int64             `json:"co2e_g"`
			Above []json.RawMessage `json:"above"`
			Below []json.RawMessage `json:"below"`
		} `json:"me"`
	}
	if resp.StatusCode() != fasthttp.StatusOK {
		return fmt.Sprintf("MISMATCH: HTTP %d %.200s", resp.StatusCode(), resp.Body())
	}
	if err := json.Unmarshal(resp.Body(), &body); err != nil {
		return "MISMATCH: " + err.Error()
	}
	var problems []string
	if page.Me == nil || body.Me.Rank == nil || *body.Me.Rank != page.Me.Rank || body.Me.CO2eG != page.Me.CO2eGrams {
		problems = append(problems, fmt.Sprintf("me: HTTP rank %v %d g, direct %+v", derefRank(body.Me.Rank), body.Me.CO2eG, page.Me))
	} else if len(body.Me.Above) != len(page.Me.Above) || len(body.Me.Below) != len(page.Me.Below) {
		problems = append(problems, "me: neighbours differ")
	}
	if body.Ranked != page.Ranked || len(body.Items) != len(page.Top) {
		problems = append(problems, fmt.Sprintf("HTTP ranked %d with %d items, direct %d with %d", body.Ranked, len(body.Items), page.Ranked, len(page.Top)))
	} else {
		for i, it := range body.Items {
			if it.Rank != page.Top[i].Rank || it.CO2eG != page.Top[i].CO2eGrams || it.Nickname != page.Top[i].Nickname {
				problems = append(problems, fmt.Sprintf("item %d: HTTP %+v, direct %+v", i, it, page.Top[i]))
				break
			}
		}
	}
	if len(problems) > 0 {
		return "MISMATCH: " + fmt.Sprint(problems)
	}
	rank := "unranked"
	if page.Me != nil {
		rank = "#" + strconv.FormatInt(page.Me.Rank, 10)
	}
	return fmt.Sprintf("agrees (member ranked %s of %d: same rank, score, top %d and neighbours)", rank, page.Ranked, len(page.Top))
}

func derefRank(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}
