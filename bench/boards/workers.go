package boards

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/oklog/ulid/v2"
	"github.com/valyala/fasthttp"

	"github.com/huzhou-lvdaitong/carbon-account/bench"
	"github.com/huzhou-lvdaitong/carbon-account/bench/measure"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// The query of read and http-read.
const (
	queryLimit      = 50
	queryNeighbours = 2
)

func (r *run) seed(p Phase, i int) *rand.Rand {
	return rand.New(rand.NewPCG(r.opt.Seed^uint64(len(p))<<32, uint64(time.Now().UnixNano())+uint64(i)))
}

// measure runs a direct phase on boards.
func (r *run) measure(ctx context.Context, a Adapter, p Phase, boards domain.Leaderboard) error {
	workers := make([]measure.Worker, r.opt.Concurrency)
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
	workers := make([]measure.Worker, r.opt.Concurrency)
	var clients []*fasthttp.HostClient
	for i := range workers {
		rng := r.seed(p, i)
		w := &httpWorker{HTTPCaller: measure.NewHTTPCaller(addr), rng: rng}
		clients = append(clients, w.Client)
		switch p {
		case PhaseHTTPRead:
			w.Req.Header.SetMethod(fasthttp.MethodGet)
			w.Req.SetRequestURI("http://" + addr + "/v1/leaderboards?period=all&limit=" + strconv.Itoa(queryLimit) +
				"&neighbours=" + strconv.Itoa(queryNeighbours))
			w.Want = fasthttp.StatusOK
			workers[i] = &httpReadWorker{httpWorker: w, pop: r.pop}
		case PhaseHTTPUpdate:
			w.Req.Header.SetMethod(fasthttp.MethodPost)
			w.Req.SetRequestURI("http://" + addr + "/v1/actions")
			w.Req.Header.SetContentType("application/json")
			w.Want = fasthttp.StatusCreated
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

// record runs the workers in a closed loop (measure.ClosedLoop) for the
// warm-up, then the measured duration, and adds the phase's row to the report.
func (r *run) record(ctx context.Context, a Adapter, p Phase, workers []measure.Worker) error {
	adapter := a.Name
	serverCPU := func() time.Duration {
		if a.ServerCPU == nil {
			return 0
		}
		d, _ := a.ServerCPU(context.WithoutCancel(ctx))
		return d
	}
	fmt.Fprintf(r.opt.Progress, "%s: %s, %d callers, %s + %s warm-up ...\n", adapter, p, len(workers), r.opt.Duration, r.opt.Warmup)
	var cpu, srv [2]time.Duration
	var gc [2]int64
	done := measure.ClosedLoop(ctx, workers, r.opt.Warmup, r.opt.Duration, 100_000,
		func(edge int) { cpu[edge], gc[edge], srv[edge] = measure.ProcessCPU(), gcCycles(), serverCPU() })
	if err := ctx.Err(); err != nil {
		return err
	}
	row := Row{Adapter: adapter, Phase: p, Failed: done.Failed, FailSample: done.Sample}
	row.OK = int64(len(done.Lat))
	row.Throughput = float64(row.OK) / r.opt.Duration.Seconds()
	row.P50, row.P99, row.Max = done.Latency()
	if n := row.OK + measure.Sum(row.Failed); n > 0 {
		row.CPUPerOp = (cpu[1] - cpu[0]) / time.Duration(n)
		row.ServerCPUPerOp = (srv[1] - srv[0]) / time.Duration(n)
	}
	row.GCCycles = gc[1] - gc[0]
	r.rep.Rows = append(r.rep.Rows, row)
	fmt.Fprintf(r.opt.Progress, "%s: %-11s %9.0f/s  p50 %-9s p99 %-9s failed %d\n", adapter, p, row.Throughput,
		measure.Dur(row.P50), measure.Dur(row.P99), measure.Sum(row.Failed))
	return nil
}

// readWorker queries the top of "all" with a random member's standing.
type readWorker struct {
	b   domain.Leaderboard
	pop *population
	rng *rand.Rand
	q   domain.BoardQuery
}

func (w *readWorker) Next() {
	w.q = domain.BoardQuery{Board: domain.BoardID{Instance: string(domain.PeriodAll)}, Limit: queryLimit,
		CitizenID: w.pop.id(w.rng.IntN(w.pop.n)), Neighbours: queryNeighbours}
}

func (w *readWorker) Do(ctx context.Context) measure.Outcome {
	page, err := w.b.Query(ctx, w.q)
	if err != nil {
		return measure.OutcomeOf(err)
	}
	return checkPage(page, int64(w.pop.n))
}

// checkPage is a cheap sanity check of a page of the loaded board, on which
// every member is ranked.
func checkPage(page domain.BoardPage, members int64) measure.Outcome {
	switch {
	case page.Me == nil || page.Me.Rank < 1:
		return measure.Outcome{Key: "member not ranked", Detail: fmt.Sprintf("%+v", page.Me)}
	case len(page.Top) != int(min(queryLimit, members)):
		return measure.Outcome{Key: "short top", Detail: fmt.Sprintf("%d rows of %d ranked", len(page.Top), page.Ranked)}
	case page.Ranked != members:
		return measure.Outcome{Key: "ranked count", Detail: fmt.Sprintf("%d ranked, %d members", page.Ranked, members)}
	}
	return measure.Outcome{OK: true}
}

// updateWorker credits a random member on "all" with a new ledger entry.
type updateWorker struct {
	b      domain.Leaderboard
	pop    *population
	rng    *rand.Rand
	credit [1]domain.BoardCredit
}

var allOnly = []domain.BoardInstance{{ID: string(domain.PeriodAll)}}

func (w *updateWorker) Next() {
	now := time.Now()
	var id ulid.ULID
	_ = id.SetTime(ulid.Timestamp(now))
	binary.BigEndian.PutUint16(id[6:], uint16(w.rng.Uint32()))
	binary.BigEndian.PutUint64(id[8:], w.rng.Uint64())
	w.credit[0] = domain.BoardCredit{EntryID: id.String(), CitizenID: w.pop.id(w.rng.IntN(w.pop.n)),
		CO2eGrams: int64(1+w.rng.IntN(50)) * scoreUnit, At: now, Instances: allOnly}
}

func (w *updateWorker) Do(ctx context.Context) measure.Outcome {
	unknown, err := w.b.Apply(ctx, w.credit[:])
	if err != nil {
		return measure.OutcomeOf(err)
	}
	if len(unknown) > 0 {
		return measure.Outcome{Key: "member unknown", Detail: fmt.Sprint(unknown)}
	}
	return measure.Outcome{OK: true}
}

// httpWorker sends requests on its own keep-alive connection.
type httpWorker struct {
	*measure.HTTPCaller
	rng *rand.Rand
}

// httpReadWorker asks for the board as a random member of the token sample.
type httpReadWorker struct {
	*httpWorker
	pop *population
}

func (w *httpReadWorker) Next() {
	w.Req.Header.Set("Authorization", w.pop.bearers[w.rng.IntN(len(w.pop.bearers))])
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

func (w *httpUpdateWorker) Next() {
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
	w.Req.SetBodyRaw(b)
	w.Req.Header.Set("Authorization", c.bearer)
	w.Req.Header.SetBytesV("Idempotency-Key", w.ref)
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
