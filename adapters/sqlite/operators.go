package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

const operatorColumns = "id, username, role, password_hash, created_at, created_by"

func scanOperator(r rowScanner) (domain.Operator, error) {
	var o domain.Operator
	var created int64
	if err := r.Scan(&o.ID, &o.Username, &o.Role, &o.PasswordHash, &created, &o.CreatedBy); err != nil {
		return domain.Operator{}, err
	}
	o.CreatedAt = fromMillis(created)
	return o, nil
}

// CreateOperator relies on the UNIQUE username constraint, so concurrent creations
// of one username (e.g. bootstrap admin on several replicas) cannot both succeed.
func (s *Store) CreateOperator(ctx context.Context, o domain.Operator) error {
	_, err := s.write.ExecContext(ctx, "INSERT INTO operators ("+operatorColumns+") VALUES (?, ?, ?, ?, ?, ?)",
		o.ID, o.Username, string(o.Role), o.PasswordHash, millis(o.CreatedAt), o.CreatedBy)
	if isUniqueViolation(err) {
		return domain.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("sqlite: create operator: %w", err)
	}
	return nil
}

// GetOperatorByUsername returns the operator named username.
func (s *Store) GetOperatorByUsername(ctx context.Context, username string) (domain.Operator, error) {
	return s.getOperator(ctx, "username", username)
}

// GetOperator returns the operator with id.
func (s *Store) GetOperator(ctx context.Context, id string) (domain.Operator, error) {
	return s.getOperator(ctx, "id", id)
}

// getOperator looks up by a unique column; column is one of two constants above,
// never caller input.
func (s *Store) getOperator(ctx context.Context, column, value string) (domain.Operator, error) {
	o, err := scanOperator(s.read.QueryRowContext(ctx,
		"SELECT "+operatorColumns+" FROM operators WHERE "+column+" = ?", value))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Operator{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Operator{}, fmt.Errorf("sqlite: get operator: %w", err)
	}
	return o, nil
}

// ListOperators pages by primary key (keyset pagination), so a page costs the
// same wherever it starts.
func (s *Store) ListOperators(ctx context.Context, afterID string, limit int) ([]domain.Operator, error) {
	if limit <= 0 {
		return nil, nil // SQLite would read LIMIT -1 as "no limit"
	}
	rows, err := s.read.QueryContext(ctx,
		"SELECT "+operatorColumns+" FROM operators WHERE id > ? ORDER BY id LIMIT ?", afterID, limit)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list operators: %w", err)
	}
	defer rows.Close()
	var out []domain.Operator
	for rows.Next() {
		o, err := scanOperator(rows)
		if err != nil {
			return nil, fmt.Errorf("sqlite: list operators: %w", err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list operators: %w", err)
	}
	return out, nil
}
