package measure

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func TestPercentileIsNearestRank(t *testing.T) {
	var v []time.Duration
	for i := 1; i <= 200; i++ {
		v = append(v, time.Duration(i))
	}
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{0.50, 100}, {0.99, 198}, {1, 200}, {0.001, 1}} {
		if got := Percentile(v, c.p); got != c.want {
			t.Errorf("Percentile(1..200, %v) = %d, want %d", c.p, got, c.want)
		}
	}
	if got := Percentile(nil, 0.5); got != 0 {
		t.Errorf("Percentile of nothing = %d", got)
	}
}

type phase string

func TestParsePhases(t *testing.T) {
	all := []phase{"load", "read", "update", "http-read"}
	got, err := ParsePhases("http-read, read,read,", all)
	if err != nil || !slices.Equal(got, []phase{"read", "http-read"}) {
		t.Errorf("ParsePhases = %v, %v", got, err)
	}
	for _, c := range []struct {
		s    string
		all  []phase
		want string
	}{
		{"write", all, `unknown phase "write" (want load, read, update or http-read)`},
		{"grpc", []phase{"direct", "service", "http"}, `unknown phase "grpc" (want direct, service or http)`},
		{"b", []phase{"a"}, `unknown phase "b" (want a)`},
		{" , ", all, "no phase selected"},
	} {
		if _, err := ParsePhases(c.s, c.all); err == nil || err.Error() != c.want {
			t.Errorf("ParsePhases(%q) error %v, want %s", c.s, err, c.want)
		}
	}
}

func TestDur(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{{0, "-"}, {-time.Second, "-"}, {4 * time.Microsecond, "4µs"}, {1215 * time.Microsecond, "1.22ms"},
		{230 * time.Millisecond, "230.0ms"}, {1590 * time.Millisecond, "1.59s"}} {
		if got := Dur(c.d); got != c.want {
			t.Errorf("Dur(%s) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestMachineString(t *testing.T) {
	m := Machine{OS: "linux", Arch: "amd64", GoVersion: "go1.26.8", NumCPU: 2, GOMAXPROCS: 2}
	if got, want := m.String(), "linux/amd64, 2 CPUs (model unknown), GOMAXPROCS 2, go1.26.8"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
	m.CPUModel = "AMD EPYC"
	if got, want := fmt.Sprintf("machine: %s", m), "machine: linux/amd64, 2 CPUs (AMD EPYC), GOMAXPROCS 2, go1.26.8"; got != want {
		t.Errorf("%%s = %q, want %q", got, want)
	}
}

func TestOutcomeOf(t *testing.T) {
	if got := OutcomeOf(nil); !got.OK {
		t.Errorf("OutcomeOf(nil) = %+v", got)
	}
	de := &domain.Error{Kind: domain.KindUnprocessable, Code: "daily_cap_reached", Message: "cap"}
	if got := OutcomeOf(fmt.Errorf("record: %w", de)); got.OK || got.Key != "unprocessable daily_cap_reached" {
		t.Errorf("OutcomeOf(domain error) = %+v", got)
	}
	if got := OutcomeOf(errors.New("boom")); got.OK || got.Key != "error" || got.Detail != "boom" {
		t.Errorf("OutcomeOf(error) = %+v", got)
	}
}

// stepWorker succeeds on every call but each third, which fails with a key
// of its own worker.
type stepWorker struct {
	id, n int
	delay time.Duration
}

func (w *stepWorker) Next() { w.n++ }

func (w *stepWorker) Do(context.Context) Outcome {
	time.Sleep(w.delay)
	if w.n%3 == 0 {
		return Outcome{Key: fmt.Sprintf("w%d", w.id%2), Detail: fmt.Sprintf("worker %d call %d", w.id, w.n)}
	}
	return Outcome{OK: true}
}

// ClosedLoop counts only the calls that complete in the window, all the calls
// as attempts, and reads the edges in order.
func TestClosedLoop(t *testing.T) {
	workers := []Worker{&stepWorker{id: 0, delay: time.Millisecond}, &stepWorker{id: 1, delay: time.Millisecond}, &stepWorker{id: 2, delay: time.Millisecond}}
	var edges [2]time.Time
	t0 := time.Now()
	got := ClosedLoop(context.Background(), workers, 30*time.Millisecond, 60*time.Millisecond, 1000,
		func(edge int) { edges[edge] = time.Now() })
	if took := time.Since(t0); took < 90*time.Millisecond {
		t.Errorf("returned after %s, before the window closed", took)
	}
	if edges[0].Sub(t0) < 30*time.Millisecond || edges[1].Sub(t0) < 90*time.Millisecond {
		t.Errorf("edges at %s and %s, want after the warm-up and after the window", edges[0].Sub(t0), edges[1].Sub(t0))
	}
	done := int64(len(got.Lat)) + Sum(got.Failed)
	if len(got.Lat) == 0 || done >= got.Attempts {
		t.Errorf("%d ok, %d done in the window, %d attempts: want some ok and attempts beyond the window", len(got.Lat), done, got.Attempts)
	}
	if len(got.Failed) != 2 || got.Sample["w0"] == "" || got.Sample["w1"] == "" {
		t.Errorf("failed %v, samples %v", got.Failed, got.Sample)
	}
	p50, p99, maxLat := got.Latency()
	if p50 < time.Millisecond || p99 < p50 || maxLat < p99 {
		t.Errorf("p50 %s p99 %s max %s", p50, p99, maxLat)
	}
}

// Calls.Add keeps the first sample of a key.
func TestCallsAdd(t *testing.T) {
	var c Calls
	c.Add(Calls{Lat: []time.Duration{1}, Failed: map[string]int64{"a": 1}, Sample: map[string]string{"a": "first"}, Attempts: 2})
	c.Add(Calls{Lat: []time.Duration{2}, Failed: map[string]int64{"a": 2, "b": 1}, Sample: map[string]string{"a": "second", "b": "b"}, Attempts: 3})
	if len(c.Lat) != 2 || c.Failed["a"] != 3 || c.Failed["b"] != 1 || c.Sample["a"] != "first" || c.Sample["b"] != "b" || c.Attempts != 5 {
		t.Errorf("%+v", c)
	}
}
