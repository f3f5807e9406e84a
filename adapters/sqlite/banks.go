package sqlite

import (
	"context"
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
	return queryOne(ctx, s.read, "get bank", scanBank, bankByID, id)
}

// ListBanks returns every bank in id order (there are a handful).
func (s *Store) ListBanks(ctx context.Context) ([]domain.Bank, error) {
	return queryAll(ctx, s.read, "list banks", scanBank, listBanks)
}
