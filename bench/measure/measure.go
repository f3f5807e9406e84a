// Package measure holds what the benchmarks under bench/ share: where they ran
// (Machine), the process's CPU time, the closed loop of callers that counts
// only the calls completing inside a measured window (ClosedLoop) and its HTTP
// callers, exact nearest-rank percentiles, the -phases flag, and how their
// reports print durations and verdicts.
package measure

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Machine describes where a benchmark ran.
type Machine struct {
	OS, Arch, CPUModel, GoVersion string
	NumCPU, GOMAXPROCS            int
}

// ThisMachine describes the machine this process runs on.
func ThisMachine() Machine {
	return Machine{
		OS: runtime.GOOS, Arch: runtime.GOARCH, CPUModel: cpuModel(), GoVersion: runtime.Version(),
		NumCPU: runtime.NumCPU(), GOMAXPROCS: runtime.GOMAXPROCS(0),
	}
}

// String is the machine as the reports print it, e.g.
// "linux/amd64, 2 CPUs (AMD EPYC), GOMAXPROCS 2, go1.26.8".
func (m Machine) String() string {
	model := m.CPUModel
	if model == "" {
		model = "model unknown"
	}
	return fmt.Sprintf("%s/%s, %d CPUs (%s), GOMAXPROCS %d, %s", m.OS, m.Arch, m.NumCPU, model, m.GOMAXPROCS, m.GoVersion)
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// ParsePhases reads a comma-separated list of phases, each one of all, into
// the order of all.
func ParsePhases[P ~string](s string, all []P) ([]P, error) {
	var out []P
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if !slices.Contains(all, P(p)) {
			return nil, fmt.Errorf("unknown phase %q (want %s)", p, orList(all))
		}
		if !slices.Contains(out, P(p)) {
			out = append(out, P(p))
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no phase selected")
	}
	// Always in the canonical order, so the ratios read the same way.
	slices.SortFunc(out, func(a, b P) int { return slices.Index(all, a) - slices.Index(all, b) })
	return out, nil
}

// orList is "a, b or c".
func orList[P ~string](all []P) string {
	names := make([]string, len(all))
	for i, p := range all {
		names[i] = string(p)
	}
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// Percentile is the nearest-rank percentile of sorted values.
func Percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.999999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Sum adds up the counts of m.
func Sum(m map[string]int64) int64 {
	var n int64
	for _, v := range m {
		n += v
	}
	return n
}

// Dur prints a duration with 3 significant digits in a fixed unit.
func Dur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

// Verdict is how the reports judge a figure against its target.
func Verdict(met bool) string {
	if met {
		return "met"
	}
	return "MISSED"
}
