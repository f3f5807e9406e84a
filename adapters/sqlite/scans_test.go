package sqlite

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A rebuild pages through a million ledger entries and the catch-up reads the
// last minutes of the ledger every minute: both must seek to afterID in an index
// that already holds the rows in id order, never scan a table or sort.
func TestScanQueriesUseIndexes(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "carbon.db"))
	t.Cleanup(func() { _ = s.Close() })
	for q, want := range map[string]string{
		scanCarbonEntries: "SEARCH ledger_entries USING INDEX sqlite_autoindex_ledger_entries_1 (id>?)",
		scanCitizens:      "SEARCH citizens USING INDEX sqlite_autoindex_citizens_1 (id>?)",
	} {
		plan := queryPlan(t, s.read, q, "01JD0000000000000000000000", 1000)
		if len(plan) != 1 || plan[0] != want {
			t.Errorf("%.60q: plan %v, want [%s]", q, plan, want)
		}
		for _, step := range plan {
			if strings.HasPrefix(step, "SCAN ") || strings.Contains(step, "TEMP B-TREE") {
				t.Errorf("%.60q scans a table or sorts: %v", q, plan)
			}
		}
	}
}

// The scans read on the read pool: a rebuild reading for seconds must neither
// wait for the single writer connection nor hold it.
func TestScansDoNotNeedTheWriter(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t, filepath.Join(t.TempDir(), "carbon.db"))
	t.Cleanup(func() { _ = s.Close() })
	tx, err := s.write.BeginTx(ctx, nil) // holds the writer's only connection
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if _, err := s.ScanCarbonEntries(ctx, "", 10); err != nil {
		t.Errorf("ScanCarbonEntries while the writer is busy: %v", err)
	}
	if _, err := s.ScanCitizens(ctx, "", 10); err != nil {
		t.Errorf("ScanCitizens while the writer is busy: %v", err)
	}
}
