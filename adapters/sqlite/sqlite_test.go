package sqlite

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/storetest"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func openTemp(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) domain.Store {
		s := openTemp(t, filepath.Join(t.TempDir(), "carbon.db"))
		t.Cleanup(func() {
			if err := s.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		s.pruneBatch = 3 // so the suite's prune tests span several batches
		return s
	})
}

func TestReopenKeepsDataAndSkipsAppliedMigrations(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "carbon.db")
	now := time.Now()

	s := openTemp(t, path)
	draft := domain.Citizen{ID: domain.NewID(now), Identity: domain.Identity{Provider: domain.ProviderDev, Subject: "+8613800138000"},
		Nickname: "绿友", CreatedAt: now, UpdatedAt: now}
	if _, created, err := s.FindOrCreateCitizen(ctx, draft); err != nil || !created {
		t.Fatalf("FindOrCreateCitizen: created=%v err=%v", created, err)
	}
	before := countMigrations(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	for range 2 {
		s = openTemp(t, path)
		got, err := s.GetCitizen(ctx, draft.ID)
		if err != nil {
			t.Fatalf("GetCitizen after reopen: %v", err)
		}
		if got.Nickname != draft.Nickname || got.Identity != draft.Identity {
			t.Errorf("citizen after reopen = %+v, want %+v", got, draft)
		}
		if n := countMigrations(t, s); n != before {
			t.Errorf("schema_migrations has %d rows after reopen, want %d", n, before)
		}
		// Running the migrations again on an up-to-date file changes nothing.
		if err := migrate(ctx, s.write); err != nil {
			t.Fatalf("migrate again: %v", err)
		}
		if n := countMigrations(t, s); n != before {
			t.Errorf("schema_migrations has %d rows after re-migrating, want %d", n, before)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
	}
}

func TestOpenConfiguresConnections(t *testing.T) {
	s := openTemp(t, filepath.Join(t.TempDir(), "carbon.db"))
	defer s.Close()
	for _, db := range []struct {
		name string
		q    func(string) string
	}{
		{"write", func(p string) string { return pragma(t, s.write.QueryRow("PRAGMA "+p).Scan) }},
		{"read", func(p string) string { return pragma(t, s.read.QueryRow("PRAGMA "+p).Scan) }},
	} {
		for p, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "synchronous": "1", "busy_timeout": "5000"} {
			if got := db.q(p); got != want {
				t.Errorf("%s pool: PRAGMA %s = %s, want %s", db.name, p, got, want)
			}
		}
	}
	if _, err := s.read.Exec("DELETE FROM citizens"); err == nil {
		t.Errorf("read pool accepted a write; it must be query_only")
	}
}

func pragma(t *testing.T, scan func(...any) error) string {
	t.Helper()
	var v string
	if err := scan(&v); err != nil {
		t.Fatalf("pragma: %v", err)
	}
	return v
}

func countMigrations(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.read.QueryRow("SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		t.Fatalf("count migrations: %v", err)
	}
	return n
}

// TestTwoStoresOnOneFileNeverReportBusy stands in for two processes sharing the
// file: their writers contend for the SQLite write lock, which busy_timeout and
// BEGIN IMMEDIATE must absorb without SQLITE_BUSY reaching callers or guards
// letting two racers through.
func TestTwoStoresOnOneFileNeverReportBusy(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "carbon.db")
	a, b := openTemp(t, path), openTemp(t, path)
	defer a.Close()
	defer b.Close()
	stores := []*Store{a, b}
	now := time.Now()

	const tokens, racers = 20, 8
	for i := range tokens {
		sess := domain.Session{ID: domain.NewID(now), SubjectID: "subject", Role: domain.RoleCitizen, CreatedAt: now}
		tok := domain.RefreshToken{Hash: fmt.Sprintf("hash-%d", i), SessionID: sess.ID, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := stores[i%2].CreateSession(ctx, sess, tok); err != nil {
			t.Fatalf("CreateSession: %v", err)
		}
	}
	var wg sync.WaitGroup
	wins := make([]atomic.Int32, tokens)
	created := make([]atomic.Int32, tokens)
	for r := range racers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[r%2]
			for i := range tokens {
				switch err := s.SpendRefreshToken(ctx, fmt.Sprintf("hash-%d", i), now); {
				case err == nil:
					wins[i].Add(1)
				case !errors.Is(err, domain.ErrConflict):
					t.Errorf("SpendRefreshToken: %v", err)
				}
				draft := domain.Citizen{ID: domain.NewID(now), Identity: domain.Identity{Provider: domain.ProviderDev, Subject: fmt.Sprint(i)}, CreatedAt: now, UpdatedAt: now}
				_, ok, err := s.FindOrCreateCitizen(ctx, draft)
				if err != nil {
					t.Errorf("FindOrCreateCitizen: %v", err)
				} else if ok {
					created[i].Add(1)
				}
				if _, err := s.GetRefreshToken(ctx, fmt.Sprintf("hash-%d", i)); err != nil {
					t.Errorf("GetRefreshToken: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	for i := range tokens {
		if w, c := wins[i].Load(), created[i].Load(); w != 1 || c != 1 {
			t.Errorf("token %d: %d spends succeeded, %d citizens created; want 1 and 1", i, w, c)
		}
	}
}
