package domain

import (
	"context"
	"time"
)

// Leaderboards rank citizens by the grams of CO2e credited to them in a period.
//
// A board is one period instance ("day:2026-11-27", "week:2026-W48",
// "month:2026-11" or "all"), city-wide or for one district. A citizen's score on it
// is the sum of the CO2e of their ledger entries credited in that period (earn
// entries add, reverse entries subtract), and their reached time is the time of
// the latest of those entries. Boards order by score, highest first; equal scores
// order by reached time, earliest first (whoever got there first ranks higher),
// then by citizen ID, so the order is total and the same on every adapter and
// after every rebuild: score and reached time are a sum and a maximum, which do
// not depend on the order entries were applied in.
//
// Only citizens with a positive score who are not hidden (opted out, or erased)
// are ranked. A district board ranks the citizens whose district is that district
// now, with their whole score for the period: moving district moves the score.
//
// Boards hold derived data only. Everything on them can be rebuilt from the store
// (citizens and ledger), which LeaderboardService.Rebuild does.

// Period is the span a board sums over.
type Period string

const (
	PeriodDay   Period = "day"   // an Asia/Shanghai calendar day
	PeriodWeek  Period = "week"  // an ISO week (Monday to Sunday) in Asia/Shanghai
	PeriodMonth Period = "month" // an Asia/Shanghai calendar month
	PeriodAll   Period = "all"   // all time
)

// Periods lists every period, shortest first.
var Periods = []Period{PeriodDay, PeriodWeek, PeriodMonth, PeriodAll}

// BoardInstance is one period instance: its ID and when its boards may be
// forgotten (zero for all time).
type BoardInstance struct {
	ID      string
	Expires time.Time
}

// BoardID names one board: a period instance, city-wide (District "") or for one
// district.
type BoardID struct {
	Instance string
	District string
}

// BoardCredit is one change to a citizen's carbon reduced, from one ledger entry.
type BoardCredit struct {
	EntryID   string // the ledger entry: a credit is applied at most once per EntryID
	CitizenID string
	CO2eGrams int64     // signed: reversals are negative
	At        time.Time // when the entry was made: the reached time, and its dedup bucket
	// Instances are the boards' period instances the credit counts in, the ones
	// that have not expired yet. The service computes them; adapters don't know
	// about periods.
	Instances []BoardInstance
}

// BoardMember is what boards show and need to know of a citizen.
type BoardMember struct {
	CitizenID string
	Nickname  string // shown on boards; never a phone number
	District  string // "" when none: ranked city-wide only
	Hidden    bool   // opted out or erased: on no board, though scores are kept
	Version   int64  // the citizen's profile version: older updates are ignored
}

// BoardScore is a citizen's score on one period instance.
type BoardScore struct {
	CitizenID string
	CO2eGrams int64
	ReachedAt time.Time
}

// BoardRow is one ranked citizen.
type BoardRow struct {
	Rank      int64 // 1 is the top
	CitizenID string
	Nickname  string
	CO2eGrams int64
}

// BoardQuery asks for the top of a board and, optionally, one citizen's standing.
type BoardQuery struct {
	Board      BoardID
	Limit      int    // how many rows from the top
	CitizenID  string // whose standing to include; "" for none
	Neighbours int    // how many rows above and below that citizen
}

// BoardStanding is one citizen's place on a board.
type BoardStanding struct {
	Rank      int64 // 0 when not ranked: no positive score, hidden, or another district
	CO2eGrams int64 // their score in the board's period instance, ranked or not
	Above     []BoardRow
	Below     []BoardRow // both in rank order; empty when not ranked
}

// BoardPage answers a BoardQuery.
type BoardPage struct {
	Top    []BoardRow
	Ranked int64          // how many citizens the board ranks
	Me     *BoardStanding // nil when the query named no citizen
}

// BoardSnapshot is every board built from scratch, for Leaderboard.Replace.
type BoardSnapshot struct {
	Members   []BoardMember
	Instances []BoardInstance
	Scores    map[string][]BoardScore // by instance ID
	// Applied are the entries included in Scores that may still be delivered again
	// (recent ones): the new boards must refuse them as already applied.
	Applied []BoardCredit
	// Watermark: every entry made before it is included in Scores.
	Watermark time.Time
}

// BoardDedupWindow is how long an adapter remembers that a credit was applied.
// The service never applies a credit older than this; older ones are covered by
// rebuilding.
const BoardDedupWindow = 6 * time.Hour

// Leaderboard is the port the boards' adapters (Redis, in-process) implement.
// Every method is safe for concurrent use, and each call is atomic: a query never
// sees half of an Apply, SetMembers or Replace.
type Leaderboard interface {
	// Apply adds each credit to the boards of its instances, unless a credit with
	// the same EntryID was applied in the last BoardDedupWindow (counted from the
	// credit's At), so a credit delivered twice counts once. A credit for a
	// citizen without a member record is kept but not ranked (hidden) until
	// SetMembers names them; Apply returns those citizens' IDs.
	Apply(ctx context.Context, credits []BoardCredit) (unknown []string, err error)
	// SetMembers records nickname, district and visibility, moving the citizen's
	// scores between district boards and on or off boards as needed. A member
	// whose Version is lower than the one recorded is ignored.
	SetMembers(ctx context.Context, members []BoardMember) error
	// Query returns the top of a board and a citizen's standing. A board nobody
	// was credited on is empty, not an error.
	Query(ctx context.Context, q BoardQuery) (BoardPage, error)
	// Replace swaps in boards built from scratch, atomically: queries see either
	// the old boards or the new ones. Credits applied meanwhile to the old boards
	// are lost from the new ones; the caller catches up from snap.Watermark.
	Replace(ctx context.Context, snap *BoardSnapshot) error
	// Watermark returns the time before which every credit is on the boards (zero
	// if the boards were never built); SetWatermark moves it forward, never back.
	Watermark(ctx context.Context) (time.Time, error)
	SetWatermark(ctx context.Context, t time.Time) error
}

// CarbonLedger is what rebuilding and catching up read from the store.
type CarbonLedger interface {
	// ScanCarbonEntries returns up to limit ledger entries of all citizens with a
	// non-zero CO2eGrams and an ID above afterID, in ID order.
	ScanCarbonEntries(ctx context.Context, afterID string, limit int) ([]LedgerEntry, error)
	// ScanCitizens returns up to limit citizens (erased ones included) with an ID
	// above afterID, in ID order.
	ScanCitizens(ctx context.Context, afterID string, limit int) ([]Citizen, error)
}
