package domain

import (
	"context"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"log/slog"
	"time"

	"github.com/oklog/ulid/v2"
)

// LeaderboardService keeps the boards in step with the ledger and answers
// citizens' leaderboard queries.
//
// Credits reach the boards two ways: at once, after an action is recorded
// (ActionCredited), and by catching up from the ledger every minute (CatchUp), for
// credits whose first delivery was lost (a crash between the store's commit and
// the board update, a Redis blip). The adapter applies each ledger entry at most
// once, so delivering it twice is harmless. Rebuild recomputes everything from the
// store; catch-up falls back to it when the boards are empty or too far behind.
type LeaderboardService struct {
	Boards    Leaderboard
	Citizens  CitizenStore
	Ledger    CarbonLedger
	Locker    Locker // serialises Rebuild and CatchUp across replicas
	Now       func() time.Time
	Retention time.Duration // how long after its end a period's boards stay readable
	// Overlap is how far behind the watermark catch-up reads again: time for
	// entries stamped before it but committed after it (group commit, a slow
	// request) to show up.
	Overlap time.Duration
	// RebuildWait is how long Rebuild waits for a catch-up in progress before it
	// gives up as busy (catch-up runs every minute, and a cron rebuild fires on
	// the same minute); zero gives up at once.
	RebuildWait time.Duration
	Log         *slog.Logger
}

// Defaults for LeaderboardService, used by the server unless configured.
const (
	DefaultBoardRetention   = 7 * 24 * time.Hour
	DefaultBoardOverlap     = 2 * time.Minute
	boardScanPage           = 1000
	maintenanceLockTTL      = 30 * time.Minute
	maintenanceLockKey      = "leaderboards:maintenance"
	boardUpdateTimeout      = 2 * time.Second
	DefaultBoardRebuildWait = 2 * time.Minute
	lockPollInterval        = 250 * time.Millisecond
)

// ErrBoardsBusy is returned by Rebuild and CatchUp while another replica (or
// call) maintains the boards.
var ErrBoardsBusy = errors.New("leaderboards: maintenance already running elsewhere")

// Query limits of View.
const (
	MaxBoardLimit      = 100
	MaxBoardNeighbours = 10
)

// LeaderboardQuery is a citizen's request for a board.
type LeaderboardQuery struct {
	Period     Period
	Date       string // a past Asia/Shanghai day (YYYY-MM-DD) whose period to show; "" for now
	District   string // "" for city-wide
	Limit      int
	Neighbours int
}

// LeaderboardView is a board as a citizen sees it.
type LeaderboardView struct {
	Span     PeriodSpan
	District string
	Page     BoardPage
}

// View returns the current period's board with the citizen's own standing.
func (s *LeaderboardService) View(ctx context.Context, citizenID string, q LeaderboardQuery) (LeaderboardView, error) {
	var fields []FieldError
	if !ValidPeriod(q.Period) {
		fields = append(fields, FieldError{Field: "period", Code: "unknown_period", Message: "must be one of day, week, month, all"})
	}
	if fe := validateDistrict("district", q.District, true); fe != nil {
		fields = append(fields, *fe)
	}
	if q.Limit < 1 || q.Limit > MaxBoardLimit {
		fields = append(fields, FieldError{Field: "limit", Code: "out_of_range", Message: "must be between 1 and 100"})
	}
	if q.Neighbours < 0 || q.Neighbours > MaxBoardNeighbours {
		fields = append(fields, FieldError{Field: "neighbours", Code: "out_of_range", Message: "must be between 0 and 10"})
	}
	now := s.Now()
	at := now
	if q.Date != "" {
		day, err := time.ParseInLocation(time.DateOnly, q.Date, Shanghai)
		switch {
		case err != nil:
			fields = append(fields, FieldError{Field: "date", Code: "invalid_date", Message: "must be a day as YYYY-MM-DD"})
		case day.After(now):
			fields = append(fields, FieldError{Field: "date", Code: "in_future", Message: "must not be after today"})
		default:
			at = day
		}
	}
	if len(fields) > 0 {
		return LeaderboardView{}, Invalid(fields...)
	}
	span := SpanOf(q.Period, at)
	if !span.End.IsZero() && !span.End.Add(s.Retention).After(now) {
		return LeaderboardView{}, Errorf(KindNotFound, "board_expired",
			"the %s board of %s is no longer kept: boards are kept %d days after their period ends", q.Period, q.Date, int(s.Retention.Hours()/24))
	}
	page, err := s.Boards.Query(ctx, BoardQuery{
		Board: BoardID{Instance: span.ID, District: q.District}, Limit: q.Limit,
		CitizenID: citizenID, Neighbours: q.Neighbours,
	})
	if err != nil {
		return LeaderboardView{}, err
	}
	return LeaderboardView{Span: span, District: q.District, Page: page}, nil
}

// ActionCredited puts a just-recorded action's credit on the boards. Failure is
// logged, not returned: the action is recorded, and catch-up delivers it later.
//
// Only credits from the last Overlap are delivered here (a replay of an older
// request is left alone): catch-up has delivered older ones already, and a
// rebuild marks as applied only the entries from the last two Overlaps, so an
// older delivery right after a rebuild would count twice.
func (s *LeaderboardService) ActionCredited(ctx context.Context, a Action) {
	if a.LedgerEntryID == "" || a.CO2eGrams == 0 || a.RecordedAt.Before(s.Now().Add(-s.Overlap)) {
		return
	}
	e := LedgerEntry{ID: a.LedgerEntryID, CitizenID: a.CitizenID, Kind: LedgerEarn, CO2eGrams: a.CO2eGrams,
		CauseType: "action", CauseID: a.ID, CreatedAt: a.RecordedAt}
	// The action is recorded whatever happens here: a client hanging up now must
	// not cut the update short, and a stuck Redis must not hold the answer long.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), boardUpdateTimeout)
	defer cancel()
	if err := s.credit(ctx, []LedgerEntry{e}, s.Now()); err != nil {
		s.Log.ErrorContext(ctx, "updating leaderboards; catch-up will retry", "entry_id", e.ID, "error", err)
	}
}

// MemberChanged tells the boards a citizen's nickname, district or visibility
// changed (or that they were erased).
func (s *LeaderboardService) MemberChanged(ctx context.Context, c Citizen) error {
	return s.Boards.SetMembers(ctx, []BoardMember{memberOf(c)})
}

// credit applies ledger entries and introduces the citizens the boards did not
// know yet. Entries too old to be deduplicated are left to rebuilding.
func (s *LeaderboardService) credit(ctx context.Context, entries []LedgerEntry, now time.Time) error {
	credits := make([]BoardCredit, 0, len(entries))
	for _, e := range entries {
		if c, ok := s.creditOf(e, now); ok {
			credits = append(credits, c)
		}
	}
	if len(credits) == 0 {
		return nil
	}
	unknown, err := s.Boards.Apply(ctx, credits)
	if err != nil {
		return err
	}
	return s.introduce(ctx, unknown)
}

func (s *LeaderboardService) introduce(ctx context.Context, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	members := make([]BoardMember, 0, len(ids))
	for _, id := range ids {
		c, err := s.Citizens.GetCitizen(ctx, id)
		if errors.Is(err, ErrNotFound) {
			continue // a ledger without a citizen; stays hidden
		}
		if err != nil {
			return err
		}
		members = append(members, memberOf(c))
	}
	return s.Boards.SetMembers(ctx, members)
}

// creditOf turns a ledger entry into a board credit, or reports that it has no
// place on any board (no CO2e, or too old to be applied exactly once).
func (s *LeaderboardService) creditOf(e LedgerEntry, now time.Time) (BoardCredit, bool) {
	if e.CO2eGrams == 0 || e.CreatedAt.Before(now.Add(-BoardDedupWindow)) {
		return BoardCredit{}, false
	}
	return BoardCredit{
		EntryID: e.ID, CitizenID: e.CitizenID, CO2eGrams: e.CO2eGrams, At: e.CreatedAt,
		Instances: boardInstances(creditTime(e), now, s.Retention),
	}, true
}

// creditTime is when an entry's CO2e counts for the periods: its own time, except
// for a reversal, which takes back the CO2e from the period the action was
// credited in. An action and its earn entry are stamped with the same instant,
// and action IDs are ULIDs carrying it, so a reversal caused by an action finds
// that period from the action's ID. (Rule for future reversal code: reverse an
// action's credit with CauseType "action" and CauseID the action's ID.)
func creditTime(e LedgerEntry) time.Time {
	if e.Kind == LedgerReverse && e.CauseType == "action" {
		if id, err := ulid.ParseStrict(e.CauseID); err == nil {
			return ulid.Time(id.Time()).UTC()
		}
	}
	return e.CreatedAt
}

// memberOf is what the boards show of c.
func memberOf(c Citizen) BoardMember {
	return BoardMember{
		CitizenID: c.ID, Nickname: DisplayName(c), District: c.District,
		Hidden: c.LeaderboardOptOut || c.Erased(), Version: c.Version,
	}
}

var nameCode = base32.NewEncoding("23456789ABCDEFGHJKLMNPQRSTUVWXYZ").WithPadding(base32.NoPadding)

// DisplayName is the citizen's nickname, or for citizens who chose none a stable
// name derived from a hash of their ID, which reveals neither the ID nor a phone.
func DisplayName(c Citizen) string {
	if c.Nickname != "" {
		return c.Nickname
	}
	sum := sha256.Sum256([]byte("nickname\x00" + c.ID))
	return "绿友" + nameCode.EncodeToString(sum[:3])[:4]
}

// lowestIDAt is the smallest ULID stamped at t: every ID made at or after t sorts
// above it.
func lowestIDAt(t time.Time) string {
	var id ulid.ULID
	_ = id.SetTime(ulid.Timestamp(t)) // only fails past the year 10889
	return id.String()
}
