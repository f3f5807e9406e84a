package measure

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Worker makes one call at a time: Next prepares it (untimed), Do makes it
// (timed).
type Worker interface {
	Next()
	Do(ctx context.Context) Outcome
}

// Outcome is how one call ended.
type Outcome struct {
	OK     bool
	Key    string // what went wrong, e.g. "unprocessable daily_cap_reached" or "HTTP 500 internal"
	Detail string // a message, kept for the first of each key
}

// OutcomeOf is the outcome of a call that returned err: success, a domain
// error by kind and code, or "error".
func OutcomeOf(err error) Outcome {
	if err == nil {
		return Outcome{OK: true}
	}
	var de *domain.Error
	if errors.As(err, &de) {
		return Outcome{Key: string(de.Kind) + " " + de.Code, Detail: err.Error()}
	}
	return Outcome{Key: "error", Detail: err.Error()}
}

// Calls are what closed-loop callers did.
type Calls struct {
	Lat      []time.Duration   // of the successful calls completed in the window, in no particular order
	Failed   map[string]int64  // the other calls completed in the window, by Outcome.Key
	Sample   map[string]string // the Outcome.Detail of the first of each key
	Attempts int64             // every call made, warm-up and the edges of the window included
}

// Add adds o to c. A key c has failed with before keeps c's sample.
func (c *Calls) Add(o Calls) {
	if c.Failed == nil {
		c.Failed, c.Sample = map[string]int64{}, map[string]string{}
	}
	c.Lat = append(c.Lat, o.Lat...)
	for k, v := range o.Failed {
		c.Failed[k] += v
		if _, ok := c.Sample[k]; !ok {
			c.Sample[k] = o.Sample[k]
		}
	}
	c.Attempts += o.Attempts
}

// Latency sorts c.Lat and returns its nearest-rank p50 and p99 and its
// maximum (0 without successful calls).
func (c *Calls) Latency() (p50, p99, maxLat time.Duration) {
	slices.Sort(c.Lat)
	if len(c.Lat) > 0 {
		maxLat = c.Lat[len(c.Lat)-1]
	}
	return Percentile(c.Lat, 0.50), Percentile(c.Lat, 0.99), maxLat
}

// ClosedLoop runs each worker in a goroutine of its own, one call after the
// other, for warmup unmeasured and then dur measured, or until ctx ends. Only
// calls that complete inside the measured window count, so the rate is
// unbiased by calls in flight at either edge; a worker stops at the first call
// that would start after the window. perSecond, the calls per second expected
// of all the workers together, sizes the latency slices up front. at, if not
// nil, is called when the window opens (edge 0) and when it closes (edge 1),
// from a goroutine of its own, to read counters over exactly the window;
// ClosedLoop returns after both calls. The caller checks ctx.Err() afterwards.
func ClosedLoop(ctx context.Context, workers []Worker, warmup, dur time.Duration, perSecond float64, at func(edge int)) Calls {
	from := time.Now().Add(warmup)
	until := from.Add(dur)
	watch := make(chan struct{})
	go func() {
		defer close(watch)
		if at == nil {
			return
		}
		time.Sleep(time.Until(from))
		at(0)
		time.Sleep(time.Until(until))
		at(1)
	}()

	// The calls get a context that is never cancelled, as the HTTP handlers'
	// (Fiber's UserContext is context.Background()): a cancellable one makes
	// the SQLite driver start a goroutine per statement to watch it.
	callCtx := context.WithoutCancel(ctx)
	results := make([]Calls, len(workers))
	capHint := max(256, int(dur.Seconds()*perSecond)/len(workers))
	var wg sync.WaitGroup
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := Calls{Lat: make([]time.Duration, 0, capHint), Failed: map[string]int64{}, Sample: map[string]string{}}
			for ctx.Err() == nil {
				w.Next()
				t0 := time.Now()
				if !t0.Before(until) {
					break
				}
				out := w.Do(callCtx)
				t1 := time.Now()
				res.Attempts++
				if t1.Before(from) || t1.After(until) {
					continue
				}
				if out.OK {
					res.Lat = append(res.Lat, t1.Sub(t0))
					continue
				}
				res.Failed[out.Key]++
				if _, ok := res.Sample[out.Key]; !ok {
					res.Sample[out.Key] = out.Detail
				}
			}
			results[i] = res
		}()
	}
	wg.Wait()
	<-watch
	var all Calls
	for _, res := range results {
		all.Add(res)
	}
	return all
}
