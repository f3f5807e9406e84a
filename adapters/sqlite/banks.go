package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

var _ domain.BankStore = (*Store)(nil)

const bankColumns = "id, code, name, created_at, created_by"

const (
	insertBank = "INSERT INTO banks (" + bankColumns + ") VALUES (?, ?, ?, ?, ?)"
	bankByID   = "SELECT " + bankColumns + " FROM banks WHERE id = ?"
	listBanks  = "SELECT " + bankColumns + " FROM banks ORDER BY id"
)

func scanBank(r rowScanner) (domain.Bank, error) {
	var b domain.Bank
	var created int64
	if err := r.Scan(&b.ID, &b.Code, &b.Name, &created, &b.CreatedBy); err != nil {
		return domain.Bank{}, err
	}
	b.CreatedAt = fromMillis(created)
	return b, nil
}

// CreateBank inserts b; UNIQUE code (and the primary key) make a taken code or id
// ErrConflict.
func (s *Store) CreateBank(ctx context.Context, b domain.Bank) error {
	_, err := s.write.ExecContext(ctx, insertBank, b.ID, b.Code, b.Name, millis(b.CreatedAt), b.CreatedBy)
	if isUniqueViolation(err) {
		return domain.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("sqlite: create bank: %w", err)
	}
	s.walGrew()
	return nil
}

// GetBank returns the bank with id, or ErrNotFound.
func (s *Store) GetBank(ctx context.Context, id string) (domain.Bank, error) {
	b, err := scanBank(s.read.QueryRowContext(ctx, bankByID, id))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Bank{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Bank{}, fmt.Errorf("sqlite: get bank: %w", err)
	}
	return b, nil
}

// ListBanks returns every bank in id order (there are a handful).
func (s *Store) ListBanks(ctx context.Context) ([]domain.Bank, error) {
	rows, err := s.read.QueryContext(ctx, listBanks)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list banks: %w", err)
	}
	out, err := collect(rows, scanBank)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list banks: %w", err)
	}
	return out, nil
}
