package domain

import (
	"time"
	_ "time/tzdata" // the distroless image has no zoneinfo; days must still be Shanghai days
)

// Shanghai is the zone of every day, week and month in the product (Asia/Shanghai).
var Shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err) // embedded tzdata makes this unreachable
	}
	return loc
}()

// DayOf returns the Asia/Shanghai calendar day of t as YYYY-MM-DD.
func DayOf(t time.Time) string { return t.In(Shanghai).Format(time.DateOnly) }
