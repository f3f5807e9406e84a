package domain

import (
	"fmt"
	"time"
)

// PeriodSpan is the period instance of a period that contains a given time.
type PeriodSpan struct {
	Period Period
	ID     string    // "day:2026-11-27", "week:2026-W48", "month:2026-11", "all"
	Start  time.Time // zero for all time
	End    time.Time // exclusive; zero for all time
}

// SpanOf returns the instance of p that contains t, in Asia/Shanghai.
func SpanOf(p Period, t time.Time) PeriodSpan {
	local := t.In(Shanghai)
	y, m, d := local.Date()
	switch p {
	case PeriodDay:
		start := time.Date(y, m, d, 0, 0, 0, 0, Shanghai)
		return PeriodSpan{p, "day:" + start.Format(time.DateOnly), start.UTC(), start.AddDate(0, 0, 1).UTC()}
	case PeriodWeek:
		// ISO weeks start on Monday; Go's Weekday has Sunday = 0.
		back := (int(local.Weekday()) + 6) % 7
		start := time.Date(y, m, d-back, 0, 0, 0, 0, Shanghai)
		year, week := start.ISOWeek()
		return PeriodSpan{p, fmt.Sprintf("week:%04d-W%02d", year, week), start.UTC(), start.AddDate(0, 0, 7).UTC()}
	case PeriodMonth:
		start := time.Date(y, m, 1, 0, 0, 0, 0, Shanghai)
		return PeriodSpan{p, "month:" + start.Format("2006-01"), start.UTC(), start.AddDate(0, 1, 0).UTC()}
	default:
		return PeriodSpan{Period: PeriodAll, ID: string(PeriodAll)}
	}
}

// ValidPeriod reports whether p is one of Periods.
func ValidPeriod(p Period) bool {
	for _, q := range Periods {
		if p == q {
			return true
		}
	}
	return false
}

// instance is the span as a board instance that may be forgotten retention after
// it ends.
func (s PeriodSpan) instance(retention time.Duration) BoardInstance {
	if s.End.IsZero() {
		return BoardInstance{ID: s.ID}
	}
	return BoardInstance{ID: s.ID, Expires: s.End.Add(retention)}
}

// boardInstances returns the instances a credit made at `at` counts in that have
// not expired by now.
func boardInstances(at, now time.Time, retention time.Duration) []BoardInstance {
	out := make([]BoardInstance, 0, len(Periods))
	for _, p := range Periods {
		in := SpanOf(p, at).instance(retention)
		if in.Expires.IsZero() || in.Expires.After(now) {
			out = append(out, in)
		}
	}
	return out
}
