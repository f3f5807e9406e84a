// Package sqlite is the embedded document store: domain.Store on a single SQLite
// file through the pure-Go modernc.org/sqlite driver, so the service runs on a
// plain machine with no database server.
//
// Concurrency model: all writes go through one pool holding exactly one
// connection, so writers in this process queue in Go instead of fighting over the
// SQLite write lock (which would surface SQLITE_BUSY). Reads use a separate pool
// of several query-only connections; in WAL mode readers never block the writer
// and see every committed write. busy_timeout covers the remaining cases (another
// process on the same file, WAL recovery, checkpoints).
//
// Recording actions, the hot write path, is group-committed (recorder.go):
// concurrent RecordAction calls share a transaction and a commit. Checkpoints run
// in the background on a connection of their own (checkpoint.go), so the writer
// only appends to the WAL.
//
// Times are stored as INTEGER unix milliseconds UTC, so they come back truncated
// to the millisecond and in UTC.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"runtime"
	"strings"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Store implements domain.Store on one SQLite file.
type Store struct {
	write      *sql.DB     // exactly one connection: the only writer
	read       *sql.DB     // query_only connections for reads
	stmts      *statements // prepared once, at Open
	rec        *recorder   // runs RecordAction batches (group commit)
	ckpt       *checkpointer
	pruneBatch int // rows per PruneSessions transaction
}

var _ domain.Store = (*Store)(nil)

// busyTimeoutMillis is how long a connection waits for a lock held by another
// connection (or process) before SQLite gives up with SQLITE_BUSY.
const busyTimeoutMillis = 5000

// Open opens (creating if needed) the database file at path and applies pending
// migrations. The parent directory must exist.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		// The driver splits the DSN at '?', so such a path would be misread.
		return nil, fmt.Errorf("sqlite: open: invalid database path %q", path)
	}
	pragmas := []string{
		fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis),
		"foreign_keys(ON)",
		// In WAL mode synchronous=NORMAL cannot corrupt the database: a power loss
		// may only roll back the last transactions committed before it (they were
		// in the WAL but not yet fsynced). We accept that for far fewer fsyncs; the
		// ledger's own reconciliation covers that window.
		"synchronous(NORMAL)",
		// Statement journals (kept for each statement of a multi-statement
		// transaction, such as a RecordAction batch) stay in memory instead of
		// spilling to a temporary file with a write per page.
		"temp_store(MEMORY)",
		// Read the first GiB of the file through a memory map: a page the cache
		// does not hold costs a page-table lookup instead of a read() syscall and a
		// copy, which matters once the indexes outgrow the cache. Writes still go
		// through the WAL.
		"mmap_size(1073741824)",
	}

	// journal_mode=WAL is persistent in the file; setting it on the writer (which
	// is opened first) is enough, and readers must not try to change it.
	write, err := openPool(path, append(pragmas, "journal_mode(WAL)", fmt.Sprintf("wal_autocheckpoint(%d)", writerCheckpointPages)),
		url.Values{"_txlock": {"immediate"}})
	if err != nil {
		return nil, err
	}
	// One writer connection: see the package comment. Keep it open for good so
	// the pool never has to reconnect (and re-run the pragmas) under load.
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)

	if err := migrate(ctx, write); err != nil {
		write.Close()
		return nil, err
	}

	read, err := openPool(path, append(pragmas, "query_only(1)"), nil)
	if err != nil {
		write.Close()
		return nil, err
	}
	n := min(max(runtime.GOMAXPROCS(0), 2), 8)
	read.SetMaxOpenConns(n)
	read.SetMaxIdleConns(n)
	read.SetConnMaxLifetime(0)
	read.SetConnMaxIdleTime(0)

	stmts, err := prepareStatements(ctx, write, read)
	if err != nil {
		read.Close()
		write.Close()
		return nil, err
	}

	ckpt, err := openPool(path, pragmas, nil)
	if err != nil {
		read.Close()
		stmts.close()
		write.Close()
		return nil, err
	}

	s := &Store{write: write, read: read, stmts: stmts, pruneBatch: defaultPruneBatch}
	s.startCheckpointer(ckpt)
	s.startRecorder()
	if err := s.Ping(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// openPool opens a pool whose every connection runs pragmas on connect: pragmas
// are per connection, so they go in the DSN rather than in a one-off Exec.
func openPool(path string, pragmas []string, extra url.Values) (*sql.DB, error) {
	q := url.Values{"_pragma": pragmas}
	for k, v := range extra {
		q[k] = v
	}
	db, err := sql.Open("sqlite", path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return db, nil
}

// Ping runs a trivial query on a reader connection.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.read.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close stops the recorder (after its running batch) and the background
// checkpointer, then closes the pools. The writer goes last: the last connection
// to close checkpoints the WAL back into the database file.
func (s *Store) Close() error {
	s.stopRecorder()
	return errors.Join(s.stopCheckpointer(), s.stmts.close(), s.read.Close(), s.write.Close())
}

// writeTx runs f in a write transaction (BEGIN IMMEDIATE, via _txlock) on the
// writer connection, committing if f returns nil. If f returns an error or panics
// (ClaimBenefit runs the caller's decide in f), the transaction is rolled back:
// left open, it would hold the only writer connection for good.
func (s *Store) writeTx(ctx context.Context, what string, f func(tx *sql.Tx) error) error {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: %s: begin: %w", what, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := f(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: %s: commit: %w", what, err)
	}
	s.walGrew()
	return nil
}

// isUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY constraint
// failure (the connection has extended result codes on).
func isUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// isCheckViolation reports whether err is a CHECK constraint failure.
func isCheckViolation(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_CHECK
}

// isForeignKeyViolation reports whether err is a FOREIGN KEY constraint failure.
func isForeignKeyViolation(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// rowScanner is satisfied by *sql.Row and *sql.Rows.
type rowScanner interface {
	Scan(dest ...any) error
}

// millis converts a time to the stored representation.
func millis(t time.Time) int64 { return t.UnixMilli() }

// fromMillis converts a stored time back, in UTC.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// nullMillis stores a nil time as NULL.
func nullMillis(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMilli(), Valid: true}
}

// fromNullMillis is the inverse of nullMillis.
func fromNullMillis(n sql.NullInt64) *time.Time {
	if !n.Valid {
		return nil
	}
	t := fromMillis(n.Int64)
	return &t
}
