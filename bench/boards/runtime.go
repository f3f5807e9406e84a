package boards

import (
	"os"
	"runtime/metrics"
	"strconv"
	"strings"
)

// rss is the process's resident set size in bytes (VmRSS), 0 where unknown.
func rss() uint64 { return procStatus("VmRSS:") }

// anonRSS is the anonymous part of the RSS (RssAnon): without file pages.
func anonRSS() uint64 { return procStatus("RssAnon:") }

// peakRSS is the process's peak resident set size in bytes (VmHWM).
func peakRSS() uint64 { return procStatus("VmHWM:") }

func procStatus(field string) uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				return 0
			}
			return kb << 10
		}
	}
	return 0
}

// loadAvg is the machine's 1, 5 and 15 minute load averages, "" where unknown.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func readMetric(name string) metrics.Value {
	s := []metrics.Sample{{Name: name}}
	metrics.Read(s)
	return s[0].Value
}

// heapLive is the live heap after the last GC, in bytes.
func heapLive() uint64 {
	if v := readMetric("/gc/heap/live:bytes"); v.Kind() == metrics.KindUint64 {
		return v.Uint64()
	}
	return 0
}

func gcCycles() int64 {
	if v := readMetric("/gc/cycles/total:gc-cycles"); v.Kind() == metrics.KindUint64 {
		return int64(v.Uint64())
	}
	return 0
}
