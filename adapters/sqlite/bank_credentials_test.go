package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
)

// Every bank credential query is served by an index: token requests look the
// credential up by client id, and the bank API by id on every request.
func TestBankCredentialQueriesUseIndexes(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "carbon.db"))
	t.Cleanup(func() { _ = s.Close() })
	for _, q := range []string{
		"SELECT " + bankCredentialColumns + " FROM bank_credentials WHERE id = ?",
		"SELECT " + bankCredentialColumns + " FROM bank_credentials WHERE client_id = ?",
		"SELECT " + bankCredentialColumns + " FROM bank_credentials WHERE bank_id = ? ORDER BY id",
		"UPDATE bank_credentials SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
	} {
		plan := strings.Join(queryPlan(t, s.read, q, 1, "x"), " | ")
		if !strings.Contains(plan, "USING") || strings.Contains(plan, "TEMP B-TREE") {
			t.Errorf("%s\nplan: %s", q, plan)
		}
	}
}

// Migrations are applied by file name, each once, whatever else is recorded: a
// database that got 005 before 004 existed (a build with bank credentials but
// not benefits) still gets 004 on the next open.
func TestMigrationsApplyAfterAGap(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "carbon.db")
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (version TEXT NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`); err != nil {
		t.Fatal(err)
	}
	skipped := ""
	for _, name := range names {
		version := strings.TrimPrefix(name, "migrations/")
		if strings.HasPrefix(version, "004_") {
			skipped = version
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, string(body)); err != nil {
			t.Fatalf("%s: %v", version, err)
		}
		if _, err := db.ExecContext(ctx, "INSERT INTO schema_migrations VALUES (?, 0)", version); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if skipped == "" {
		t.Skip("no 004 migration to leave out")
	}
	s := openTemp(t, path)
	t.Cleanup(func() { _ = s.Close() })
	var n int
	if err := s.read.QueryRowContext(ctx, "SELECT COUNT(*) FROM schema_migrations WHERE version = ?", skipped).Scan(&n); err != nil || n != 1 {
		t.Fatalf("%s applied %d times after the gap (%v)", skipped, n, err)
	}
	if _, err := s.ListBankCredentials(ctx, "x"); err != nil {
		t.Fatalf("bank credentials after the gap: %v", err)
	}
}
