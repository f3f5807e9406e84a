package sqlite

import (
	"context"
	"fmt"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

var _ domain.CarbonLedger = (*Store)(nil)

// The scans of domain.CarbonLedger seek to afterID in a primary key index and walk
// it in order, so a page costs the same wherever it starts: the per-minute
// catch-up reads only the last minutes of the ledger, and a rebuild's thousandth
// page is no slower than its first. TestScanQueriesUseIndexes checks the plans.
//
// They run on the read pool: a rebuild reads every entry while actions are being
// recorded, and must not queue behind (or hold up) the single writer. Each page is
// one statement, so one snapshot; pages of a scan may see different snapshots,
// which the callers allow for (entries are append-only, and the rebuild compares
// citizens' versions after swapping).
//
// They are not prepared at Open like the per-request statements: a page is a
// thousand rows, next to which parsing the statement costs nothing.
//
// scanCarbonEntries filters out the entries without CO2e as it walks the primary
// key. A partial index on id WHERE co2e_g <> 0 would let it skip them without
// reading their rows, but almost every entry is a carbon credit, and the
// catch-up's range holds a few minutes of entries: BenchmarkScanCarbonEntries
// read a tail of which half had no CO2e no faster with such an index, while
// every recorded action would pay for one more index insert.
const (
	scanCarbonEntries = "SELECT " + ledgerColumns + " FROM ledger_entries WHERE id > ?1 AND co2e_g <> 0 ORDER BY id LIMIT ?2"
	scanCitizens      = "SELECT " + citizenColumns + " FROM citizens WHERE id > ?1 ORDER BY id LIMIT ?2"
)

// ScanCarbonEntries returns up to limit ledger entries with a non-zero CO2e and an
// ID above afterID, in ID order.
func (s *Store) ScanCarbonEntries(ctx context.Context, afterID string, limit int) ([]domain.LedgerEntry, error) {
	if limit <= 0 {
		return nil, nil // SQLite would read LIMIT -1 as "no limit"
	}
	rows, err := s.read.QueryContext(ctx, scanCarbonEntries, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: scan carbon entries: %w", err)
	}
	out, err := collect(rows, scanLedgerEntry)
	if err != nil {
		return nil, fmt.Errorf("sqlite: scan carbon entries: %w", err)
	}
	return out, nil
}

// ScanCitizens returns up to limit citizens, erased ones included, with an ID
// above afterID, in ID order.
func (s *Store) ScanCitizens(ctx context.Context, afterID string, limit int) ([]domain.Citizen, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := s.read.QueryContext(ctx, scanCitizens, afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: scan citizens: %w", err)
	}
	out, err := collect(rows, scanCitizen)
	if err != nil {
		return nil, fmt.Errorf("sqlite: scan citizens: %w", err)
	}
	return out, nil
}
