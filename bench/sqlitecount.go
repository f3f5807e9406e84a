package bench

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	sqlitedrv "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/sqlite"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
	"github.com/huzhou-lvdaitong/carbon-account/seeds"
)

// SQLiteCounts is what recording actions through ActionService costs in calls
// to the SQLite adapter and, inside it, in work SQLite does, per action.
type SQLiteCounts struct {
	Actions int
	Callers int        // concurrent callers
	Calls   CallCounts // ActionStore calls per action
	// Commits and Rollbacks are write transactions per action (SQLite's commit
	// and rollback hooks on the writer connection).
	Commits, Rollbacks float64
	// Rows are rows written per action, by operation and table ("INSERT
	// actions"), from SQLite's pre-update hook.
	Rows map[string]float64
}

// String is a one-line summary, e.g. "1.00 commits; rows: INSERT actions 1.00, ...".
func (c SQLiteCounts) String() string {
	keys := make([]string, 0, len(c.Rows))
	var total float64
	for k, v := range c.Rows {
		keys = append(keys, k)
		total += v
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %.2f", k, c.Rows[k])
	}
	return fmt.Sprintf("%.3f commits (write transactions), %.3f rollbacks, %.2f rows written (%s)",
		c.Commits, c.Rollbacks, total, strings.Join(parts, ", "))
}

// sqliteHooks counts commits, rollbacks and row writes on the connections of
// database files whose name is sqliteCountFile. On the writer connections of
// other files (the adapter opens its writer with _txlock=immediate) it counts
// commits only, one cheap callback per transaction; other connections get no
// hooks and pay nothing.
var sqliteHooks struct {
	once               sync.Once
	mu                 sync.Mutex
	commits, rollbacks int64
	rows               map[string]int64
	writerCommits      atomic.Int64 // on every other file's writer connection
}

const sqliteCountFile = "bench-roundtrips.db"

// InstallSQLiteHooks makes the SQLite driver count, from now on, the commits of
// every writer connection opened afterwards (see SQLiteWriterCommits). Call it
// before opening the store.
func InstallSQLiteHooks() { installSQLiteHooks() }

// SQLiteWriterCommits is how many write transactions the writer connections
// opened after InstallSQLiteHooks have committed (the round-trips file aside).
func SQLiteWriterCommits() int64 { return sqliteHooks.writerCommits.Load() }

func installSQLiteHooks() {
	sqliteHooks.once.Do(func() {
		sqliteHooks.rows = map[string]int64{}
		sqlitedrv.RegisterConnectionHook(func(conn sqlitedrv.ExecQuerierContext, dsn string) error {
			path, query, _ := strings.Cut(dsn, "?")
			h, ok := conn.(sqlitedrv.HookRegisterer)
			if !ok {
				return fmt.Errorf("bench: the sqlite driver does not expose hooks")
			}
			if filepath.Base(path) != sqliteCountFile {
				if strings.Contains(query, "_txlock=immediate") {
					h.RegisterCommitHook(func() int32 {
						sqliteHooks.writerCommits.Add(1)
						return 0
					})
				}
				return nil
			}
			h.RegisterCommitHook(func() int32 {
				sqliteHooks.mu.Lock()
				sqliteHooks.commits++
				sqliteHooks.mu.Unlock()
				return 0 // let the commit happen
			})
			h.RegisterRollbackHook(func() {
				sqliteHooks.mu.Lock()
				sqliteHooks.rollbacks++
				sqliteHooks.mu.Unlock()
			})
			h.RegisterPreUpdateHook(func(d sqlitedrv.SQLitePreUpdateData) {
				op := map[int32]string{sqlite3.SQLITE_INSERT: "INSERT", sqlite3.SQLITE_UPDATE: "UPDATE", sqlite3.SQLITE_DELETE: "DELETE"}[d.Op]
				sqliteHooks.mu.Lock()
				sqliteHooks.rows[op+" "+d.TableName]++
				sqliteHooks.mu.Unlock()
			})
			return nil
		})
	})
}

func resetSQLiteHooks() {
	sqliteHooks.mu.Lock()
	defer sqliteHooks.mu.Unlock()
	sqliteHooks.commits, sqliteHooks.rollbacks = 0, 0
	clear(sqliteHooks.rows)
}

// MeasureSQLite records n actions through ActionService (the path every
// POST /v1/actions takes) on a fresh SQLite file in dir, once for each number of
// concurrent callers given, and counts the store calls and, with SQLite's hooks,
// the transactions and rows written per action. It uses its own database file so
// that the hooks never slow the benchmark.
func MeasureSQLite(ctx context.Context, dir string, n int, callers ...int) ([]SQLiteCounts, error) {
	installSQLiteHooks()
	store, err := sqlite.Open(ctx, filepath.Join(dir, sqliteCountFile))
	if err != nil {
		return nil, err
	}
	defer store.Close()
	counter, svc, citizens, err := serviceOn(ctx, store, 100)
	if err != nil {
		return nil, err
	}
	var out []SQLiteCounts
	for _, c := range callers {
		resetSQLiteHooks()
		before := counter.snapshot()
		if err := recordThrough(ctx, svc, citizens, n, c); err != nil {
			return nil, err
		}
		sqliteHooks.mu.Lock()
		counts := SQLiteCounts{
			Actions: n, Callers: c, Calls: counter.snapshot().minus(before).per(int64(n)),
			Commits: float64(sqliteHooks.commits) / float64(n), Rollbacks: float64(sqliteHooks.rollbacks) / float64(n),
			Rows: map[string]float64{},
		}
		for k, v := range sqliteHooks.rows {
			counts.Rows[k] = float64(v) / float64(n)
		}
		sqliteHooks.mu.Unlock()
		out = append(out, counts)
	}
	return out, nil
}

// serviceOn seeds store and returns an ActionService on it (no rate limit, no
// daily points cap) whose calls into the store are counted, and k citizens.
func serviceOn(ctx context.Context, store domain.Store, k int) (*CountingStore, *domain.ActionService, []string, error) {
	if _, err := seeds.Load(ctx, store, domain.Now()); err != nil {
		return nil, nil, nil, fmt.Errorf("bench: seed: %w", err)
	}
	catalog := &domain.Catalog{Store: store, Now: domain.Now}
	if err := catalog.Reload(ctx); err != nil {
		return nil, nil, nil, fmt.Errorf("bench: catalog: %w", err)
	}
	counter := NewCountingStore(store)
	rules := domain.DefaultActionRules
	rules.PerMinute, rules.DailyPoints = 0, 0
	svc := &domain.ActionService{Actions: counter, Catalog: catalog, Rules: rules, Now: domain.Now}
	ids := make([]string, k)
	for i := range ids {
		now := domain.Now()
		phone := fmt.Sprintf("+86138%08d", i)
		c, _, err := store.FindOrCreateCitizen(ctx, domain.Citizen{
			ID: domain.NewID(now), Identity: domain.Identity{Provider: domain.ProviderDev, Subject: phone},
			Phone: phone, Nickname: "绿友BENCH", CreatedAt: now, UpdatedAt: now,
		})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("bench: create citizen: %w", err)
		}
		ids[i] = c.ID
	}
	return counter, svc, ids, nil
}

// recordThrough records n actions of the benchmark's kinds, round robin over the
// citizens, from callers goroutines, and fails if any is not recorded.
func recordThrough(ctx context.Context, svc *domain.ActionService, citizens []string, n, callers int) error {
	nonce := domain.RandomToken(6)
	var next atomic.Int64
	errs := make(chan error, callers)
	var wg sync.WaitGroup
	for range max(callers, 1) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				k := Kinds[i%len(Kinds)]
				ref := fmt.Sprintf("%s-rt-%d", nonce, i)
				_, err := svc.Record(ctx, domain.RecordActionInput{
					CitizenID: citizens[i%len(citizens)], IdempotencyKey: ref, TypeCode: k.Type, Quantity: k.Quantity,
					OccurredAt: domain.Now().Add(-time.Minute), Evidence: &domain.Evidence{Source: k.Source, Reference: ref},
				})
				if err != nil {
					errs <- fmt.Errorf("bench: record action %d (%s): %w", i, k.Type, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}
