package sqlite

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// benchCitizens is how many citizens the benchmark spreads its actions over.
const benchCitizens = 10_000

// benchCitizenID is the id of the benchmark's k-th citizen: ULID-shaped (26
// characters), like real ids.
func benchCitizenID(k int) string { return fmt.Sprintf("01BENCH%019d", k) }

// BenchmarkRecordAction drives RecordAction directly from parallel goroutines over
// many citizens: on a store holding only the citizens (empty); after a bulk load of
// a million earn ledger entries of theirs (1M-ledger); and after a bulk load of a
// million actions with their entries and daily usage, about a hundred days of use
// by these citizens (1M-actions). Besides ns/op it reports CPU time per action
// (steadier than wall time on a shared machine) and the mean group-commit batch.
//
//	go test -run '^$' -bench RecordAction -benchtime 40000x ./adapters/sqlite/
//
// A bulk load takes 10-40 s; with CARBON_BENCH_CACHE=dir set, loaded databases are
// kept in dir and copied from there on later runs.
func BenchmarkRecordAction(b *testing.B) {
	const bulkRows = 1_000_000
	ctx := context.Background()
	var seq atomic.Int64
	run := func(b *testing.B, path string) {
		s, err := Open(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		b.ReportAllocs()
		b.SetParallelism(benchParallelism)
		b.ResetTimer()
		start, cpu0, io0, busy0 := time.Now(), cpuTime(b), procIO(), s.rec.busy.Load()
		b.RunParallel(func(pb *testing.PB) {
			rng := rand.New(rand.NewPCG(uint64(seq.Add(1)), uint64(time.Now().UnixNano())))
			for pb.Next() {
				a := benchAction(seq.Add(1), rng.IntN(benchCitizens))
				if _, err := s.RecordAction(ctx, a, domain.NewID(time.Now()), benchDecide); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.StopTimer()
		elapsed := time.Since(start)
		b.ReportMetric(float64(b.N)/elapsed.Seconds(), "actions/s")
		b.ReportMetric(float64(s.rec.busy.Load()-busy0)/float64(elapsed)*100, "recorder-busy-%")
		b.ReportMetric(float64(cpuTime(b)-cpu0)/float64(b.N), "cpu-ns/op")
		if io0 != nil {
			io1 := procIO()
			b.ReportMetric(float64(io1["wchar"]-io0["wchar"])/float64(b.N), "wchar-B/op")
		}
		b.ReportMetric(float64(s.rec.requests.Load())/float64(max(s.rec.batches.Load(), 1)), "actions/batch")
		var entries int64
		if err := s.read.QueryRow("SELECT count(*) FROM ledger_entries").Scan(&entries); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(entries), "ledger-entries")
	}
	empty := filepath.Join(b.TempDir(), "empty.db")
	newBenchDB(b, empty, 0, false)
	b.Run("empty", func(b *testing.B) { run(b, empty) })

	for _, v := range []struct {
		name    string
		actions bool
	}{{"1M-ledger", false}, {"1M-actions", true}} {
		if !benchSelected(v.name) {
			continue
		}
		path := filepath.Join(b.TempDir(), v.name+".db")
		cache := os.Getenv("CARBON_BENCH_CACHE")
		cached := filepath.Join(cache, v.name+".db")
		if _, err := os.Stat(cached); cache != "" && err == nil {
			copyFile(b, cached, path)
		} else {
			newBenchDB(b, path, bulkRows, v.actions)
			if cache != "" {
				copyFile(b, path, cached)
			}
		}
		b.Run(v.name, func(b *testing.B) { run(b, path) })
	}
}

// benchSelected reports whether -test.bench can match the sub-benchmark, so that
// a run of one does not load the other's million rows for nothing.
func benchSelected(name string) bool {
	pattern := flag.Lookup("test.bench").Value.String()
	_, sub, found := strings.Cut(pattern, "/")
	if !found {
		return true
	}
	ok, err := regexp.MatchString(sub, name)
	return err != nil || ok
}

// newBenchDB creates a store at path holding the benchmark's citizens and `rows`
// earlier ledger entries of theirs, each with its action if withActions.
func newBenchDB(b *testing.B, path string, rows int, withActions bool) {
	s, err := Open(context.Background(), path)
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	bulkLoad(b, path, benchCitizens, rows, withActions)
}

// copyFile copies a closed database (no WAL is left beside it).
func copyFile(b *testing.B, from, to string) {
	src, err := os.Open(from)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		b.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		b.Fatal(err)
	}
	syncFile(b, to)
}

// syncFile flushes a file to disk.
func syncFile(b *testing.B, path string) {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
}

// benchParallelism × GOMAXPROCS goroutines record at once, as concurrent HTTP
// requests do.
const benchParallelism = 8

// cpuTime is the CPU time (user + system) this process has used so far: on a
// shared machine it varies less than wall time.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// procIO reads the process's I/O counters (Linux); wchar counts the bytes passed to
// write calls (WAL appends and checkpoints). Nil where unavailable.
func procIO() map[string]int64 {
	data, err := os.ReadFile("/proc/self/io")
	if err != nil {
		return nil
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ": "); ok {
			out[k], _ = strconv.ParseInt(v, 10, 64)
		}
	}
	return out
}

// benchDecide credits what was asked, as the rules do below every cap.
func benchDecide(used domain.DayUsage) (domain.Credit, error) {
	return domain.Credit{Status: domain.ActionCredited, CreditedQuantity: domain.Units(1), CO2eGrams: 148, Points: 1}, nil
}

// benchAction is the n-th benchmark action: a metro ride by the given citizen,
// with evidence of its own. Citizens are picked at random: taking them in turn
// would put a batch's actions on neighbouring citizens, whose rows share pages
// while the tables are small, and flatter the small store.
func benchAction(n int64, citizen int) domain.Action {
	now := domain.Now()
	id := domain.NewID(now)
	ev := domain.Evidence{Source: "transit_card", Reference: fmt.Sprintf("ride-%d-%d", now.UnixNano(), n)}
	sum := sha256.Sum256([]byte(ev.Source + "\x00" + ev.Reference))
	a := domain.Action{
		ID: id, CitizenID: benchCitizenID(citizen), TypeCode: "travel.metro", RuleVersion: 1,
		Quantity: domain.Units(1), OccurredAt: now.Add(-time.Minute), RecordedAt: now,
		Evidence: ev, EvidenceKey: hex.EncodeToString(sum[:]), IdempotencyKey: "bench-" + id,
		RequestHash: hex.EncodeToString(sum[:]),
	}
	a.Day = domain.DayOf(a.OccurredAt)
	return a
}

// bulkLoad writes straight into the file, bypassing the store: `citizens` new
// citizens, then `rows` earn ledger entries spread round-robin over all benchmark
// citizens, a day apart per round going back from yesterday, with, if
// withActions, their actions and daily usage; and the account totals they add up
// to. It generates the rows inside SQLite (recursive CTEs) in one transaction
// without a journal, and builds the plain per-citizen indexes afterwards, so a
// million actions load in about half a minute. Test-only.
func bulkLoad(b *testing.B, path string, citizens, rows int, withActions bool) {
	b.Helper()
	start := time.Now()
	// No journal and no syncs: a failed load is simply thrown away. The cache
	// is large enough for the whole file, so no page is written twice.
	db, err := sql.Open("sqlite", path+"?_pragma=journal_mode(OFF)&_pragma=synchronous(OFF)&_pragma=cache_size(-4000000)")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	tx, err := db.Begin()
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck
	exec := func(query string, args ...any) {
		if _, err := tx.Exec(query, args...); err != nil {
			b.Fatalf("bulk load: %.80s: %v", query, err)
		}
	}
	now := time.Now().UnixMilli()
	exec(`WITH RECURSIVE k(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM k WHERE i + 1 < ?1)
		INSERT INTO citizens (id, identity_provider, identity_subject, nickname, created_at, updated_at)
		SELECT printf('01BENCH%019d', i), 'dev', printf('+86139%08d', i), 'bench', ?2, ?2 FROM k WHERE ?1 > 0`,
		citizens, now)
	if rows > 0 {
		// Plain indexes are dropped and rebuilt afterwards (a sort instead of a
		// million random inserts); the UNIQUE ones cannot be, and are loaded as is.
		var indexes []string
		list, err := tx.Query("SELECT sql FROM sqlite_schema WHERE type = 'index' AND name IN ('actions_citizen', 'ledger_entries_citizen')")
		if err != nil {
			b.Fatal(err)
		}
		for list.Next() {
			var ddl string
			if err := list.Scan(&ddl); err != nil {
				b.Fatal(err)
			}
			indexes = append(indexes, ddl)
		}
		if err := list.Close(); err != nil || len(indexes) != 2 {
			b.Fatalf("bulk load: read index definitions: %v (%d found)", err, len(indexes))
		}
		exec("DROP INDEX actions_citizen; DROP INDEX ledger_entries_citizen")

		// Ids '00…' sort below every ULID of today, as older rows' do.
		if withActions {
			exec(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1)
			INSERT INTO actions (`+actionColumns+`)
			SELECT printf('00%024d', i), printf('01BENCH%019d', i % ?2), 'travel.metro', 1, 1000,
				?3 - (i / ?2 + 1) * 86400000, ?3 - (i / ?2 + 1) * 86400000 + 60000,
				date(?3 / 1000 - (i / ?2 + 1) * 86400, 'unixepoch', '+8 hours'),
				'transit_card', printf('bulk-ride-%d', i), lower(hex(randomblob(32))), printf('bulk-%d', i),
				lower(hex(randomblob(32))), 'credited', 1000, 148, 1, NULL, NULL, NULL, NULL,
				printf('00%024d', i), 0
			FROM n`, rows, benchCitizens, now)
			// Each action's earn entry (balance_after is not reproduced: nothing
			// reads it here).
			exec(`INSERT INTO ledger_entries (` + ledgerColumns + `)
			SELECT id, citizen_id, 'earn', points, co2e_g, 0, 'action', id, recorded_at FROM actions WHERE id < '01'`)
			// Every (citizen, day) has exactly one action, so its usage rows are
			// that action's credit.
			exec(`INSERT INTO daily_usage (day, citizen_id, type_code, quantity, points)
			SELECT * FROM (
				SELECT day, citizen_id, type_code, credited_quantity, points FROM actions WHERE id < '01'
				UNION ALL
				SELECT day, citizen_id, '*', 0, points FROM actions WHERE id < '01')
			ORDER BY 1, 2, 3`)
		} else {
			exec(`WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1)
			INSERT INTO ledger_entries (`+ledgerColumns+`)
			SELECT printf('00%024d', i), printf('01BENCH%019d', i % ?2), 'earn', 1, 148, 0, 'action',
				printf('00%024d', i), ?3 - (i / ?2 + 1) * 86400000
			FROM n`, rows, benchCitizens, now)
		}
		for _, ddl := range indexes {
			exec(ddl)
		}
		// The account totals are the sums of the ledger, read through the index.
		exec(accountTotalsFromLedger)
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA journal_mode = WAL"); err != nil {
		b.Fatal(err)
	}
	if err := db.Close(); err != nil {
		b.Fatal(err)
	}
	syncFile(b, path) // now, or the benchmark's first checkpoint would pay for it
	if rows > 0 {
		b.Logf("bulk-loaded %d ledger entries (with actions: %v) in %s", rows, withActions, time.Since(start).Round(time.Millisecond))
	}
}

// accountTotalsFromLedger sets the benchmark citizens' totals to their ledger sums.
const accountTotalsFromLedger = `UPDATE citizens SET
	balance = (SELECT COALESCE(SUM(points), 0) FROM ledger_entries WHERE citizen_id = citizens.id),
	co2e_grams_total = (SELECT COALESCE(SUM(co2e_g), 0) FROM ledger_entries WHERE citizen_id = citizens.id),
	points_earned_total = (SELECT COALESCE(SUM(points), 0) FROM ledger_entries
		WHERE citizen_id = citizens.id AND kind = 'earn' AND points > 0)
	WHERE id LIKE '01BENCH%'`
