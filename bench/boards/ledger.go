package boards

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/oklog/ulid/v2"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", as the adapter uses

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// FillResult describes the ledger written for the rebuild.
type FillResult struct {
	Citizens, Entries int
	From, To          time.Time // the entries' created_at span
	Took              time.Duration
}

// The rebuild's ledger: entries of entryUnits × 100 g or less, so citizens'
// sums tie often, made at whole seconds, so their latest entries tie too.
const (
	entryUnits = 30
	entryDays  = boardDays
)

type fillEntry struct {
	id, cause ulid.ULID
	citizen   int32
	co2e      int32
	points    int32
}

// fillLedger writes citizens and entries valid ledger entries straight into the
// SQLite file at path, bypassing the service and the adapter (whose migrations
// created the tables): one transaction of multi-row INSERTs on a connection of
// its own. Entries are earn entries of cause type "action" with unique cause
// IDs, made at random whole seconds of the last entryDays days (up to ten
// minutes ago), for random citizens; balance_after is each citizen's running
// balance in ID (time) order, and the citizens' kept totals equal their ledger
// sums, as the balance check wants.
func fillLedger(ctx context.Context, path string, citizens, entries int, now time.Time, seed uint64) (FillResult, error) {
	t0 := time.Now()
	rng := rand.New(rand.NewPCG(seed, 3))
	res := FillResult{Citizens: citizens, Entries: entries}
	newest := now.Add(-10 * time.Minute).Truncate(time.Second)
	res.To = newest
	res.From = newest.Add(-entryDays * 24 * time.Hour)
	span := int64(entryDays * 24 * 60 * 60)

	ids := make([]string, citizens)
	created := make([]int64, citizens)
	for i := range ids {
		t := res.From.Add(-time.Duration(1+rng.IntN(365*24)) * time.Hour) // signed up before their first entry
		ids[i] = randomULID(rng, t).String()
		created[i] = t.UnixMilli()
	}
	es := make([]fillEntry, entries)
	for j := range es {
		at := newest.Add(-time.Duration(rng.Int64N(span)) * time.Second)
		co2e := int32(1+rng.IntN(entryUnits)) * 100
		es[j] = fillEntry{id: randomULID(rng, at), cause: randomULID(rng, at), citizen: int32(rng.IntN(citizens)),
			co2e: co2e, points: co2e / 50}
	}
	slices.SortFunc(es, func(a, b fillEntry) int { return a.id.Compare(b.id) })

	db, err := openSQL(path, true)
	if err != nil {
		return res, err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return res, fmt.Errorf("boards: fill: %w", err)
	}
	defer conn.Close()
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return res, fmt.Errorf("boards: fill: begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()

	balance := make([]int64, citizens)
	co2eTotal := make([]int64, citizens)
	const batch = 200
	ins := newBatchInsert(tx, "ledger_entries",
		"id, citizen_id, kind, points, co2e_g, balance_after, cause_type, cause_id, created_at", 9, batch)
	for _, e := range es {
		balance[e.citizen] += int64(e.points)
		co2eTotal[e.citizen] += int64(e.co2e)
		if err := ins.add(ctx, e.id.String(), ids[e.citizen], string(domain.LedgerEarn), int64(e.points), int64(e.co2e),
			balance[e.citizen], "action", e.cause.String(), int64(e.id.Time())); err != nil {
			return res, fmt.Errorf("boards: fill ledger_entries: %w", err)
		}
	}
	if err := ins.flush(ctx); err != nil {
		return res, fmt.Errorf("boards: fill ledger_entries: %w", err)
	}
	ins = newBatchInsert(tx, "citizens", "id, identity_provider, identity_subject, phone, nickname, district, "+
		"leaderboard_opt_out, balance, co2e_grams_total, points_earned_total, created_at, updated_at, erased_at, version", 14, batch/2)
	for i, id := range ids {
		if err := ins.add(ctx, id, domain.ProviderDev, "bench-boards-"+id, "", "", randomDistrict(rng),
			0, balance[i], co2eTotal[i], balance[i], created[i], created[i], nil, 1); err != nil {
			return res, fmt.Errorf("boards: fill citizens: %w", err)
		}
	}
	if err := ins.flush(ctx); err != nil {
		return res, fmt.Errorf("boards: fill citizens: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return res, fmt.Errorf("boards: fill: commit: %w", err)
	}
	res.Took = time.Since(t0)
	return res, nil
}

func randomULID(rng *rand.Rand, t time.Time) ulid.ULID {
	var u ulid.ULID
	_ = u.SetTime(ulid.Timestamp(t))
	binary.BigEndian.PutUint16(u[6:], uint16(rng.Uint32()))
	binary.BigEndian.PutUint64(u[8:], rng.Uint64())
	return u
}

// openSQL opens the store's file on connections of the benchmark's own, with a
// large page cache; writable ones take the write lock when they begin.
func openSQL(path string, write bool) (*sql.DB, error) {
	q := url.Values{"_pragma": {"busy_timeout(30000)", "cache_size(-262144)", "temp_store(MEMORY)"}}
	if write {
		q.Set("_txlock", "immediate")
	} else {
		q.Add("_pragma", "query_only(1)")
	}
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("boards: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// batchInsert inserts rows n at a time with one prepared multi-row INSERT.
type batchInsert struct {
	tx         *sql.Tx
	head       string
	cols, n    int
	stmt       *sql.Stmt
	args       []any
	rowsQueued int
}

func newBatchInsert(tx *sql.Tx, table, columns string, cols, n int) *batchInsert {
	return &batchInsert{tx: tx, head: "INSERT INTO " + table + " (" + columns + ") VALUES ", cols: cols, n: n}
}

func (b *batchInsert) statement(rows int) string {
	row := "(" + strings.Repeat("?, ", b.cols-1) + "?)"
	return b.head + strings.Repeat(row+", ", rows-1) + row
}

func (b *batchInsert) add(ctx context.Context, values ...any) error {
	b.args = append(b.args, values...)
	b.rowsQueued++
	if b.rowsQueued < b.n {
		return nil
	}
	if b.stmt == nil {
		s, err := b.tx.PrepareContext(ctx, b.statement(b.n))
		if err != nil {
			return err
		}
		b.stmt = s
	}
	if _, err := b.stmt.ExecContext(ctx, b.args...); err != nil {
		return err
	}
	b.args, b.rowsQueued = b.args[:0], 0
	return nil
}

func (b *batchInsert) flush(ctx context.Context) error {
	if b.stmt != nil {
		defer b.stmt.Close()
	}
	if b.rowsQueued == 0 {
		return nil
	}
	_, err := b.tx.ExecContext(ctx, b.statement(b.rowsQueued), b.args...)
	b.args, b.rowsQueued = b.args[:0], 0
	return err
}

// checkRebuild compares the boards of the period instances containing at (the
// rebuild's start) — "all" (top 100) and the current month, week and day (top
// 10 each) — with what one SQL GROUP BY over the ledger says they must be:
// citizens not hidden, with a positive sum of CO2e in the period, ordered by
// that sum (highest first), then by the time of their latest entry in the
// period (earliest first), then by ID; and compares the ranked counts.
func checkRebuild(ctx context.Context, path string, boards domain.Leaderboard, at time.Time) (checked string, problems []string, err error) {
	db, err := openSQL(path, false)
	if err != nil {
		return "", nil, err
	}
	defer db.Close()
	spans := make([]domain.PeriodSpan, 0, len(domain.Periods))
	for _, p := range slices.Backward(domain.Periods) {
		spans = append(spans, domain.SpanOf(p, at))
	}
	want, err := sqlBoards(ctx, db, spans)
	if err != nil {
		return "", nil, err
	}
	var names []string
	for k, span := range spans {
		top := 10
		if span.Period == domain.PeriodAll {
			top = 100
		}
		names = append(names, fmt.Sprintf("%q top %d and ranked count", span.ID, top))
		page, err := boards.Query(ctx, domain.BoardQuery{Board: domain.BoardID{Instance: span.ID}, Limit: top})
		if err != nil {
			return "", nil, fmt.Errorf("boards: check %s: %w", span.ID, err)
		}
		ranked := want[k]
		if page.Ranked != int64(len(ranked)) {
			problems = append(problems, fmt.Sprintf("%s: %d ranked, SQL says %d", span.ID, page.Ranked, len(ranked)))
		}
		wantTop := ranked[:min(top, len(ranked))]
		if len(page.Top) != len(wantTop) {
			problems = append(problems, fmt.Sprintf("%s: %d rows, SQL says %d", span.ID, len(page.Top), len(wantTop)))
		}
		for i := range min(len(page.Top), len(wantTop)) {
			g, w := page.Top[i], wantTop[i]
			if g.Rank != int64(i+1) || g.CitizenID != w.CitizenID || g.CO2eGrams != w.CO2eGrams {
				problems = append(problems, fmt.Sprintf("%s: row %d is #%d %s %d g, SQL says #%d %s %d g (reached %s)",
					span.ID, i, g.Rank, g.CitizenID, g.CO2eGrams, i+1, w.CitizenID, w.CO2eGrams, w.ReachedAt.UTC().Format(time.RFC3339Nano)))
				break
			}
		}
	}
	return strings.Join(names, "; "), problems, nil
}

// sqlBoards returns, for each span, every citizen it ranks in rank order, from
// one GROUP BY over the ledger with a sum and a max per span.
func sqlBoards(ctx context.Context, db *sql.DB, spans []domain.PeriodSpan) ([][]domain.BoardScore, error) {
	var cols []string
	var args []any
	for k, span := range spans {
		from, to := int64(math.MinInt64), int64(math.MaxInt64)
		if !span.Start.IsZero() {
			from, to = span.Start.UnixMilli(), span.End.UnixMilli()
		}
		in := fmt.Sprintf("created_at >= ?%d AND created_at < ?%d", 2*k+1, 2*k+2)
		cols = append(cols, fmt.Sprintf("SUM(CASE WHEN %s THEN co2e_g END), MAX(CASE WHEN %s THEN created_at END)", in, in))
		args = append(args, from, to)
	}
	// Grouped first, then joined: one citizen lookup per citizen, not per entry.
	rows, err := db.QueryContext(ctx, `
		SELECT g.* FROM (
			SELECT citizen_id, `+strings.Join(cols, ", ")+`
			FROM ledger_entries WHERE co2e_g <> 0 GROUP BY citizen_id) g
		JOIN citizens c ON c.id = g.citizen_id
		WHERE c.leaderboard_opt_out = 0 AND c.erased_at IS NULL`, args...)
	if err != nil {
		return nil, fmt.Errorf("boards: check: %w", err)
	}
	defer rows.Close()
	out := make([][]domain.BoardScore, len(spans))
	for rows.Next() {
		var id string
		vals := make([]sql.NullInt64, 2*len(spans))
		dest := []any{&id}
		for i := range vals {
			dest = append(dest, &vals[i])
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("boards: check: %w", err)
		}
		for k := range spans {
			if sum, at := vals[2*k], vals[2*k+1]; sum.Valid && sum.Int64 > 0 {
				out[k] = append(out[k], domain.BoardScore{CitizenID: id, CO2eGrams: sum.Int64, ReachedAt: time.UnixMilli(at.Int64)})
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("boards: check: %w", err)
	}
	for _, b := range out {
		slices.SortFunc(b, func(x, y domain.BoardScore) int {
			if c := cmp.Compare(y.CO2eGrams, x.CO2eGrams); c != 0 {
				return c
			}
			if c := x.ReachedAt.Compare(y.ReachedAt); c != 0 {
				return c
			}
			return strings.Compare(x.CitizenID, y.CitizenID)
		})
	}
	return out, nil
}
