package boards

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/bench"
	"github.com/huzhou-lvdaitong/carbon-account/bench/measure"
)

// Targets of the issue that asked for this benchmark.
const (
	TargetHTTPReadOfDirect = 0.40             // with Redis: HTTP read throughput ÷ direct read
	TargetInProcessOfRedis = 1.0              // direct read and update: in-process ÷ Redis
	TargetRebuild          = 60 * time.Second // rebuild of a million ledger entries
)

// Adapter names used by the command and the test; the ratios look them up.
const (
	InProcess = "in-process"
	Redis     = "redis"
)

var phaseWhat = map[Phase]string{
	PhaseRead:       fmt.Sprintf("Query top %d + a random member's standing ±%d", queryLimit, queryNeighbours),
	PhaseUpdate:     "Apply 1 credit (unique entry) to a random member, instance all",
	PhaseHTTPRead:   fmt.Sprintf("GET /v1/leaderboards?period=all&limit=%d&neighbours=%d", queryLimit, queryNeighbours),
	PhaseHTTPUpdate: "POST /v1/actions: recording in the store + board update",
}

// Print writes the report as markdown.
func (r *Report) Print(w io.Writer) {
	o := r.Options
	fmt.Fprintln(w, "# carbon-account bench-leaderboards")
	fmt.Fprintln(w)
	fmt.Fprintf(w, "- run: %s, %s\n", r.Started.UTC().Format(time.RFC3339), r.Finished.Sub(r.Started).Round(time.Second))
	fmt.Fprintf(w, "- machine: %s\n", r.Machine)
	if r.LoadStart != "" {
		fmt.Fprintf(w, "- machine load averages (1/5/15 min, shared with other work): %s at the start, %s at the end; "+
			"this process used %.0f CPU-seconds in %.0f s, peak RSS %d MiB\n", r.LoadStart, r.LoadEnd, r.CPU.Seconds(),
			r.Finished.Sub(r.Started).Seconds(), r.PeakRSS>>20)
	}
	fmt.Fprintf(w, "- board: %d members on instance \"all\" (city-wide), all visible, random districts (1 in 6 none); scores multiples of %d g "+
		"below %d kg (about %d members per score), reached times whole hours of the last %d days, so ties on score and on "+
		"score and time are common; %d of the members are real citizens in the store (http-update)\n",
		o.Members, scoreUnit, scoreSteps*scoreUnit/1000, max(1, o.Members/scoreSteps), boardDays, o.Citizens)
	fmt.Fprintf(w, "- load: %d concurrent closed-loop callers per phase, %s measured after a %s warm-up; calls completing in the window "+
		"count; latency per successful call from the caller's side, exact nearest-rank percentiles; with N callers p50 ≈ N ÷ throughput\n",
		o.Concurrency, o.Duration, o.Warmup)
	fmt.Fprintf(w, "- http: the real app (wired as `serve`) on a loopback port, one fasthttp keep-alive connection per caller, "+
		"client IN THE SAME PROCESS (client and server share the CPUs); http-read as one of %d members picked at random "+
		"(each with a minted access token); http-update as one of the %d real citizens, random kind of %s\n",
		o.TokenSample, o.Citizens, kinds())
	if r.Store != "" {
		fmt.Fprintf(w, "- store: %s\n", r.Store)
	}
	for _, a := range r.Adapters {
		fmt.Fprintf(w, "- adapter %s: %s\n", a.Name, a.Desc)
	}
	for _, s := range r.Skipped {
		fmt.Fprintf(w, "- SKIPPED: %s\n", s)
	}
	if f := r.Fill; f != nil {
		fmt.Fprintf(w, "- rebuild ledger: %d earn entries (cause_type action, 100–%d g each) for %d citizens, created_at at whole seconds "+
			"from %s to %s, written in %s by bulk SQL INSERTs in one transaction straight into the SQLite file: the fill BYPASSES the "+
			"service and the adapter (balances and totals are kept consistent); the rebuild also reads the entries http-update recorded\n",
			f.Entries, entryUnits*100, f.Citizens, f.From.UTC().Format(time.DateTime), f.To.UTC().Format(time.DateTime), f.Took.Round(time.Millisecond))
	}
	for _, n := range o.Notes {
		fmt.Fprintf(w, "- note: %s\n", n)
	}

	if len(r.Rows) > 0 {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "## Measured phases")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| adapter | phase | call | ops/s | p50 | p99 | max | CPU/op | server CPU/op | GCs | failed |")
		fmt.Fprintln(w, "|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|")
		for _, row := range r.Rows {
			fmt.Fprintf(w, "| %s | %s | %s | %.0f | %s | %s | %s | %s | %s | %d | %d |\n", row.Adapter, row.Phase, phaseWhat[row.Phase],
				row.Throughput, measure.Dur(row.P50), measure.Dur(row.P99), measure.Dur(row.Max), measure.Dur(row.CPUPerOp), measure.Dur(row.ServerCPUPerOp),
				row.GCCycles, measure.Sum(row.Failed))
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "CPU/op: this process's CPU time (user+system; HTTP: client and server) in the window ÷ calls completed in it; "+
			"server CPU/op: the Redis server's (INFO used_cpu_user + used_cpu_sys, same window; server-wide, so other clients of that Redis count too), on the same CPUs. GCs: garbage collections in the window.")
		for _, row := range r.Rows {
			for _, k := range slices.Sorted(maps.Keys(row.Failed)) {
				fmt.Fprintf(w, "\nFAILED in %s %s: %d × %s, e.g. %.300s\n", row.Adapter, row.Phase, row.Failed[k], k, row.FailSample[k])
			}
		}
	}

	loaded := false
	for _, a := range r.Adapters {
		loaded = loaded || a.Loaded
	}
	if loaded {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "## Load and memory")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| adapter | load: one Replace | members/s | process RSS before → after (anonymous) | live heap before → after | heap per member | server memory per member |")
		fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|")
		for _, a := range r.Adapters {
			if !a.Loaded {
				continue
			}
			server := "-"
			if a.ServerBefore >= 0 && a.ServerAfter >= 0 {
				server = fmt.Sprintf("%.0f B (used_memory %d → %d MiB)", float64(a.ServerAfter-a.ServerBefore)/float64(o.Members),
					a.ServerBefore>>20, a.ServerAfter>>20)
			}
			fmt.Fprintf(w, "| %s | %s | %.0f | %d → %d MiB (%d → %d MiB) | %d → %d MiB | %.0f B | %s |\n", a.Name, measure.Dur(a.Load),
				float64(o.Members)/a.Load.Seconds(), a.RSSBefore>>20, a.RSSAfter>>20, a.AnonBefore>>20, a.AnonAfter>>20,
				a.HeapBefore>>20, a.HeapAfter>>20,
				(float64(a.HeapAfter)-float64(a.HeapBefore))/float64(o.Members), server)
		}
		fmt.Fprintln(w)
		fmt.Fprintln(w, "Memory is read after the load with the snapshot dropped, a GC and freed memory returned to the OS; the benchmark keeps no "+
			"per-member data of its own (synthetic member IDs are computed from their index), so the heap growth is the boards'. "+
			"\"Before\" includes what the previous adapter left behind, if anything. RSS also counts the pages of the SQLite file "+
			"the store has read through its memory map (mmap_size 1 GiB); anonymous RSS (RssAnon) does not.")
		for _, a := range r.Adapters {
			if a.HTTPCheck != "" {
				fmt.Fprintf(w, "\nHTTP answer vs direct Query (%s): %s\n", a.Name, a.HTTPCheck)
			}
		}
	}

	rebuilt := false
	for _, a := range r.Adapters {
		rebuilt = rebuilt || a.Rebuilt || a.RebuildErr != nil
	}
	if rebuilt {
		fmt.Fprintln(w)
		fmt.Fprintln(w, "## Rebuild (LeaderboardService.Rebuild: scan citizens and ledger from SQLite, Replace, catch up)")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| adapter | rebuild | entries read | citizens | instances | scores | caught up | check against SQL |")
		fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|---|")
		for _, a := range r.Adapters {
			if !a.Rebuilt {
				if a.RebuildErr != nil {
					fmt.Fprintf(w, "| %s | FAILED after %s | | | | | | %v |\n", a.Name, measure.Dur(a.Rebuild), a.RebuildErr)
				}
				continue
			}
			check := "agrees"
			switch {
			case a.RebuildCheckErr != nil:
				check = "ERROR: " + a.RebuildCheckErr.Error()
			case len(a.RebuildCheck) > 0:
				check = "MISMATCH: " + strings.Join(a.RebuildCheck, "; ")
			}
			rep := a.RebuildOf
			fmt.Fprintf(w, "| %s | %s | %d | %d | %d | %d | %d | %s |\n", a.Name, measure.Dur(a.Rebuild), rep.Entries, rep.Citizens,
				rep.Instances, rep.Scores, rep.CaughtUp, check)
		}
		for _, a := range r.Adapters {
			if a.Rebuilt && a.RebuildCheckErr == nil {
				fmt.Fprintf(w, "\nchecked (%s): %s; expected from one SQL GROUP BY citizen_id over ledger_entries (a sum(co2e_g) and "+
					"max(created_at) per period instance) joined with the visible citizens, positive sums ranked by sum desc, "+
					"max(created_at) asc, citizen_id asc\n", a.Name, a.RebuildChecked)
				break
			}
		}
	}

	for _, a := range r.Adapters {
		if a.CleanupErr != nil {
			fmt.Fprintf(w, "\ncleanup of %s failed: %v\n", a.Name, a.CleanupErr)
		}
	}

	fmt.Fprintln(w)
	fmt.Fprintln(w, "## Ratios (all from this run)")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| ratio | value | target | verdict |")
	fmt.Fprintln(w, "|---|--:|---|---|")
	ratio := func(name string, a, b *Row, target float64, targeted bool, note string) {
		if a == nil || b == nil || b.Throughput <= 0 {
			return
		}
		v := a.Throughput / b.Throughput
		t, verdictText := note, ""
		if targeted {
			t = fmt.Sprintf("≥ %.2f", target)
			verdictText = measure.Verdict(v >= target)
		}
		fmt.Fprintf(w, "| %s | %.2f | %s | %s |\n", name, v, t, verdictText)
	}
	for _, a := range r.Adapters {
		ratio(a.Name+": http-read ÷ read", r.Row(a.Name, PhaseHTTPRead), r.Row(a.Name, PhaseRead), TargetHTTPReadOfDirect,
			a.Name == Redis, "(target ≥ 0.40 is for Redis)")
	}
	ratio("read: in-process ÷ redis", r.Row(InProcess, PhaseRead), r.Row(Redis, PhaseRead), TargetInProcessOfRedis, true, "")
	ratio("update: in-process ÷ redis", r.Row(InProcess, PhaseUpdate), r.Row(Redis, PhaseUpdate), TargetInProcessOfRedis, true, "")
	for _, a := range r.Adapters {
		ratio(a.Name+": http-update ÷ update", r.Row(a.Name, PhaseHTTPUpdate), r.Row(a.Name, PhaseUpdate), 0, false,
			"none: http-update includes recording the action in SQLite")
	}
	for _, a := range r.Adapters {
		if a.Rebuilt {
			fmt.Fprintf(w, "| %s: rebuild of %d entries | %.1f s | ≤ %.0f s | %s |\n", a.Name, a.RebuildOf.Entries, a.Rebuild.Seconds(),
				TargetRebuild.Seconds(), measure.Verdict(a.Rebuild <= TargetRebuild))
		}
	}
	for _, a := range r.Adapters {
		switch {
		case !a.Loaded:
		case a.Name == InProcess:
			fmt.Fprintf(w, "| in-process: process RSS after loading %d members (anonymous: %d MiB) | %d MiB | heap growth %.0f B per member | |\n",
				o.Members, a.AnonAfter>>20, a.RSSAfter>>20, (float64(a.HeapAfter)-float64(a.HeapBefore))/float64(o.Members))
		case a.ServerBefore >= 0 && a.ServerAfter >= 0:
			fmt.Fprintf(w, "| %s: server used_memory growth loading %d members | %d MiB | %.0f B per member | |\n", a.Name, o.Members,
				(a.ServerAfter-a.ServerBefore)>>20, float64(a.ServerAfter-a.ServerBefore)/float64(o.Members))
		}
	}
}

func kinds() string {
	out := make([]string, len(bench.Kinds))
	for i, k := range bench.Kinds {
		out[i] = k.Type + " " + k.Quantity
	}
	return strings.Join(out, ", ")
}
