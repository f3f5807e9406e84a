package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// queryOne reads the single row of q through scan. It is the shared tail of the
// store's get-by-key methods: no row is domain.ErrNotFound, which callers match
// with errors.Is, so it stays unwrapped; any other failure is wrapped as
// "sqlite: <op>: ..." like the rest of the adapter.
func queryOne[T any](ctx context.Context, db *sql.DB, op string, scan func(rowScanner) (T, error), q string, args ...any) (T, error) {
	v, err := scan(db.QueryRowContext(ctx, q, args...))
	if errors.Is(err, sql.ErrNoRows) {
		var zero T
		return zero, domain.ErrNotFound
	}
	if err != nil {
		var zero T
		return zero, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return v, nil
}

// queryAll runs q and scans every row through scan, wrapping a failure of either
// step as "sqlite: <op>: ...". Like collect, it returns nil for no rows.
func queryAll[T any](ctx context.Context, db *sql.DB, op string, scan func(rowScanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	out, err := collect(rows, scan)
	if err != nil {
		return nil, fmt.Errorf("sqlite: %s: %w", op, err)
	}
	return out, nil
}

// updateExisting runs the UPDATE q on the writer for a method whose "no such row"
// is domain.ErrNotFound (the revocations). It relies on SQLite counting every row
// the WHERE matched as affected, even one whose value did not change, so zero
// rows means none matched, not that the update was a no-op.
func (s *Store) updateExisting(ctx context.Context, op, q string, args ...any) error {
	res, err := s.write.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
	if n == 0 {
		return domain.ErrNotFound
	}
	s.walGrew()
	return nil
}

// citizenPage reads a newest-first page of a citizen's rows below the cursor
// beforeID ("" for the first page). first and before are the two forms of the
// listing, taking ?1 citizen, ?2 cursor and ?3 limit: the first page has a query
// of its own so that both seek directly in an index on (citizen_id, id).
func citizenPage[T any](ctx context.Context, db *sql.DB, op string, scan func(rowScanner) (T, error),
	first, before, citizenID, beforeID string, limit int) ([]T, error) {
	if limit <= 0 {
		return nil, nil // SQLite would read LIMIT -1 as "no limit"
	}
	q := first
	if beforeID != "" {
		q = before
	}
	return queryAll(ctx, db, op, scan, q, citizenID, beforeID, limit)
}
