package sqlite

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// scanPage is the page size the leaderboard service reads with.
const scanPage = 1000

// BenchmarkScanCarbonEntries reads a ledger of a million carbon entries (the bulk
// load of BenchmarkRecordAction's 1M-ledger, shared through CARBON_BENCH_CACHE)
// followed by a recent tail in which every other entry has no CO2e. The rebuild
// sub-benchmark reads the whole ledger page by page from the start, as a rebuild
// does; catch-up reads only the tail, from an afterID just below it, as the
// per-minute catch-up reads the last minutes.
//
//	go test -run '^$' -bench ScanCarbonEntries -benchtime 3x ./adapters/sqlite/
func BenchmarkScanCarbonEntries(b *testing.B) {
	const bulkRows, tailRows = 1_000_000, 10_000
	ctx := context.Background()
	path := filepath.Join(b.TempDir(), "1M-ledger.db")
	cache := os.Getenv("CARBON_BENCH_CACHE")
	cached := filepath.Join(cache, "1M-ledger.db")
	if _, err := os.Stat(cached); cache != "" && err == nil {
		copyFile(b, cached, path)
	} else {
		newBenchDB(b, path, bulkRows, false)
		if cache != "" {
			copyFile(b, path, cached)
		}
	}
	s, err := Open(ctx, path)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	// The tail: ids '01…' sort above the bulk's '00…', as today's entries sort
	// above older ones.
	if _, err := s.write.ExecContext(ctx, `WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?1)
		INSERT INTO ledger_entries (`+ledgerColumns+`)
		SELECT printf('01TAIL%020d', i), printf('01BENCH%019d', i % ?2), 'earn', 1, (i % 2) * 148, 0, 'action',
			printf('01TAIL%020d', i), ?3
		FROM n`, tailRows, benchCitizens, time.Now().UnixMilli()); err != nil {
		b.Fatal(err)
	}

	scan := func(b *testing.B, after string, want int) {
		b.ReportAllocs()
		start := time.Now()
		for b.Loop() {
			n := 0
			for cursor := after; ; {
				page, err := s.ScanCarbonEntries(ctx, cursor, scanPage)
				if err != nil {
					b.Fatal(err)
				}
				n += len(page)
				if len(page) < scanPage {
					break
				}
				cursor = page[len(page)-1].ID
			}
			if n != want {
				b.Fatalf("read %d entries, want %d", n, want)
			}
		}
		elapsed := time.Since(start)
		b.ReportMetric(float64(want)*float64(b.N)/elapsed.Seconds(), "entries/s")
	}
	b.Run("rebuild", func(b *testing.B) { scan(b, "", bulkRows+tailRows/2) })
	b.Run("catch-up", func(b *testing.B) { scan(b, fmt.Sprintf("01%024d", 0), tailRows/2) })
}
