package bench

import (
	"runtime/metrics"
	"time"
)

// runtimeStats are the Go runtime's counters the report shows next to the CPU
// time, to tell garbage collection apart from work.
type runtimeStats struct {
	gcCPU    time.Duration // CPU time spent by the GC (an estimate by the runtime)
	gcCycles int64
	heapLive uint64
}

var runtimeMetrics = []string{"/cpu/classes/gc/total:cpu-seconds", "/gc/cycles/total:gc-cycles", "/gc/heap/live:bytes"}

func readRuntimeStats() runtimeStats {
	samples := make([]metrics.Sample, len(runtimeMetrics))
	for i, name := range runtimeMetrics {
		samples[i].Name = name
	}
	metrics.Read(samples)
	var s runtimeStats
	if v := samples[0].Value; v.Kind() == metrics.KindFloat64 {
		s.gcCPU = time.Duration(v.Float64() * float64(time.Second))
	}
	if v := samples[1].Value; v.Kind() == metrics.KindUint64 {
		s.gcCycles = int64(v.Uint64())
	}
	if v := samples[2].Value; v.Kind() == metrics.KindUint64 {
		s.heapLive = v.Uint64()
	}
	return s
}
