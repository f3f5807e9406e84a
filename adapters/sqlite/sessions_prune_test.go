package sqlite

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// PruneSessions runs every hour over tables that only grow between runs, so
// each of its statements must be served by an index, never a table scan.
func TestPruneQueriesUseIndexes(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "carbon.db"))
	t.Cleanup(func() { _ = s.Close() })
	queries := []string{
		endedSessions,
		"SELECT rowid FROM refresh_tokens WHERE expires_at < ?1 LIMIT ?2",
		"DELETE FROM refresh_tokens WHERE session_id IN (?1, ?2)",
		"DELETE FROM sessions WHERE id IN (?1, ?2)",
	}
	for _, q := range queries {
		plan := queryPlan(t, s.read, q, 1, 2)
		for _, step := range plan {
			if strings.HasPrefix(step, "SCAN ") {
				t.Errorf("%q scans a table: %v", q, plan)
			}
		}
	}
}

// Migration 002 must fill last_token_expires_at for sessions created before it,
// or PruneSessions would never see that they ended.
func TestMigration002BackfillsLastTokenExpiry(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "carbon.db")

	// A database as release 001 left it.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	schema, err := migrations.ReadFile("migrations/001_init.sql")
	if err != nil {
		t.Fatal(err)
	}
	old := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	day := int64(24 * time.Hour / time.Millisecond)
	for _, stmt := range []string{
		string(schema),
		`CREATE TABLE schema_migrations (version TEXT NOT NULL PRIMARY KEY, applied_at INTEGER NOT NULL) STRICT`,
		`INSERT INTO schema_migrations VALUES ('001_init.sql', 0)`,
		`INSERT INTO sessions (id, subject_id, role, created_at) VALUES ('ended', 'c1', 'citizen', ?1), ('live', 'c2', 'citizen', ?1)`,
		`INSERT INTO refresh_tokens (hash, session_id, issued_at, expires_at) VALUES
			('e1', 'ended', ?1, ?1 + 30 * ?2), ('e2', 'ended', ?1, ?1 + 40 * ?2),
			('l1', 'live', ?1, ?1 + 30 * ?2), ('l2', 'live', ?1, ?1 + 400 * ?2)`,
	} {
		if _, err := db.ExecContext(ctx, stmt, old, day); err != nil {
			t.Fatalf("%.60s: %v", stmt, err)
		}
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := openTemp(t, path)
	t.Cleanup(func() { _ = s.Close() })
	for id, want := range map[string]int64{"ended": old + 40*day, "live": old + 400*day} {
		var got sql.NullInt64
		if err := s.read.QueryRow("SELECT last_token_expires_at FROM sessions WHERE id = ?", id).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if !got.Valid || got.Int64 != want {
			t.Errorf("session %s: last_token_expires_at = %v, want %d", id, got, want)
		}
	}
	tokens, sessions, err := s.PruneSessions(ctx, fromMillis(old+100*day))
	if err != nil {
		t.Fatal(err)
	}
	if tokens != 3 || sessions != 1 {
		t.Errorf("PruneSessions = %d tokens, %d sessions; want 3, 1", tokens, sessions)
	}
}
