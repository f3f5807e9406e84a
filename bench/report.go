package bench

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/bench/measure"
)

// Targets of the issue that asked for this benchmark.
const (
	TargetHTTPRate       = 2000 // actions/s over HTTP on 2 cores
	TargetHTTPOfDirect   = 0.50 // HTTP throughput at least this share of direct
	TargetRound2OfRound1 = 0.80 // less than 20% slower with the prefilled ledger
)

// Print writes the report as text.
func (r *Report) Print(w io.Writer) {
	o := r.Options
	fmt.Fprintf(w, "carbon-account bench: recording actions (POST /v1/actions) on %s\n", r.Adapter)
	fmt.Fprintf(w, "run: %s, %s\n", r.Started.UTC().Format(time.RFC3339), r.Finished.Sub(r.Started).Round(time.Second))
	fmt.Fprintf(w, "machine: %s\n", r.Machine)
	fmt.Fprintf(w, "load: %d citizens, %d concurrent callers, %s measured per phase in %d slices interleaved with the other phases' (warm-up %s)\n",
		o.Citizens, o.Concurrency, o.Duration, o.Slices, o.Warmup)
	kinds := make([]string, len(r.Kinds))
	for i, k := range r.Kinds {
		kinds[i] = k.Type + " " + k.Quantity
	}
	fmt.Fprintf(w, "actions: random citizen, random kind of %s; unique evidence and Idempotency-Key each\n", strings.Join(kinds, ", "))
	for _, n := range o.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintln(w, "phases: direct = ActionStore.RecordAction with the service's draft and rules; service = ActionService.Record, no HTTP;")
	fmt.Fprintln(w, "        http = POST /v1/actions over loopback, fasthttp keep-alive client IN THE SAME PROCESS: client and server share the CPUs")
	fmt.Fprintln(w, "latency: per successful call, from the caller's side; with a closed loop of N callers, p50 ~ N / throughput (queueing)")
	if r.Prefill > 0 {
		fmt.Fprintf(w, "prefill before round 2: %d actions with ledger entries in %s (%.0f/s, direct path, occurred_at over the last 29 days)\n",
			r.Prefill, r.PrefillTime.Round(time.Millisecond), float64(r.Prefill)/r.PrefillTime.Seconds())
	}
	fmt.Fprintln(w)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "round\tledger entries\tphase\tactions/s\tslices min–max\tp50\tp99\tmax\tCPU/action\t÷ direct\tround 2 ÷ 1\tnot recorded\t")
	for _, row := range r.Rows {
		ofDirect, ofRound1 := "", ""
		if d := r.Row(row.Round, PhaseDirect); d != nil && row.Phase != PhaseDirect && d.Throughput > 0 {
			ofDirect = fmt.Sprintf("%.2f", row.Throughput/d.Throughput)
		}
		if r1 := r.Row(1, row.Phase); row.Round == 2 && r1 != nil && r1.Throughput > 0 {
			ofRound1 = fmt.Sprintf("%.2f", row.Throughput/r1.Throughput)
		}
		lo, hi := 0.0, 0.0
		if len(row.SliceRates) > 0 {
			lo, hi = slices.Min(row.SliceRates), slices.Max(row.SliceRates)
		}
		fmt.Fprintf(tw, "%d\t%d\t%s\t%.0f\t%.0f–%.0f\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t\n", row.Round, row.LedgerEntries, row.Phase, row.Throughput,
			lo, hi, measure.Dur(row.P50), measure.Dur(row.P99), measure.Dur(row.Max), measure.Dur(row.CPUPerAction), ofDirect, ofRound1, measure.Sum(row.Failed))
	}
	tw.Flush()
	fmt.Fprintln(w, "(ledger entries: added by this run when the round started; slices: actions/s of the slowest and fastest slice;")
	fmt.Fprintln(w, " ÷ direct: throughput over the same round's direct row; CPU/action: process CPU time, user+system, per call in the window)")

	fmt.Fprint(w, "Go runtime in the windows (process-wide): ")
	for i, row := range r.Rows {
		if i > 0 {
			fmt.Fprint(w, "; ")
		}
		fmt.Fprintf(w, "r%d %s %d GCs, GC CPU %s/action, live heap %d MiB", row.Round, row.Phase, row.GCCycles, measure.Dur(row.GCCPUPerAction), row.HeapLive>>20)
	}
	fmt.Fprintln(w)

	for _, row := range r.Rows {
		for _, k := range slices.Sorted(maps.Keys(row.Failed)) {
			fmt.Fprintf(w, "not recorded in round %d %s: %d × %s, e.g. %.200s\n", row.Round, row.Phase, row.Failed[k], k, row.FailSample[k])
		}
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "store round trips per action (calls into the ActionStore, counted by a decorator around the adapter):")
	seen := map[Phase]bool{}
	for _, row := range r.Rows {
		if !seen[row.Phase] {
			seen[row.Phase] = true
			fmt.Fprintf(w, "  %-8s %s\n", row.Phase, row.Calls)
		}
	}
	if len(r.Rows) > 0 && r.Rows[0].CommitsPerAction >= 0 {
		fmt.Fprint(w, "  store write transactions (commits) per action, counted with SQLite's commit hook on the benchmark's own store:\n   ")
		for _, row := range r.Rows {
			fmt.Fprintf(w, " r%d %s %.3f", row.Round, row.Phase, row.CommitsPerAction)
			if row.CommitsPerAction > 0 {
				fmt.Fprintf(w, " (%.1f actions each);", 1/row.CommitsPerAction)
			}
		}
		fmt.Fprintln(w)
	}
	for _, c := range r.SQLite {
		fmt.Fprintf(w, "  inside the SQLite adapter, per action, %d actions through ActionService from %d concurrent caller(s), measured\n"+
			"  with SQLite's commit and pre-update hooks on a separate file:\n    %s\n", c.Actions, c.Callers, c)
	}
	if len(r.SQLite) > 0 {
		fmt.Fprintln(w, "    (in-process: a store call is a function call into SQLite on this machine, not a network round trip)")
	}
	if r.Consistent+r.Inconsistent > 0 {
		fmt.Fprintf(w, "ledger check afterwards: %d citizens' balances equal their ledger sums, %d do not\n", r.Consistent, r.Inconsistent)
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "targets:")
	for round := 1; round <= 2; round++ {
		h, d := r.Row(round, PhaseHTTP), r.Row(round, PhaseDirect)
		if h == nil {
			continue
		}
		fmt.Fprintf(w, "  round %d: http %.0f actions/s (target ≥ %d): %s\n", round, h.Throughput, TargetHTTPRate, measure.Verdict(h.Throughput >= TargetHTTPRate))
		if d != nil && d.Throughput > 0 {
			fmt.Fprintf(w, "  round %d: http ÷ direct %.2f (target ≥ %.2f): %s\n", round, h.Throughput/d.Throughput, TargetHTTPOfDirect,
				measure.Verdict(h.Throughput/d.Throughput >= TargetHTTPOfDirect))
		}
	}
	for _, p := range r.Options.Phases {
		r1, r2 := r.Row(1, p), r.Row(2, p)
		if r1 != nil && r2 != nil && r1.Throughput > 0 {
			fmt.Fprintf(w, "  %s round 2 ÷ round 1 %.2f (target ≥ %.2f): %s\n", p, r2.Throughput/r1.Throughput, TargetRound2OfRound1,
				measure.Verdict(r2.Throughput/r1.Throughput >= TargetRound2OfRound1))
		}
	}
}
