package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

var _ domain.BankCredentialStore = (*Store)(nil)

const bankCredentialColumns = "id, bank_id, client_id, secret_hash, scopes, created_at, created_by, revoked_at"

func scanBankCredential(r rowScanner) (domain.BankCredential, error) {
	var c domain.BankCredential
	var scopes string
	var created int64
	var revoked sql.NullInt64
	if err := r.Scan(&c.ID, &c.BankID, &c.ClientID, &c.SecretHash, &scopes, &created, &c.CreatedBy, &revoked); err != nil {
		return domain.BankCredential{}, err
	}
	c.Scopes = strings.Fields(scopes)
	c.CreatedAt = fromMillis(created)
	c.RevokedAt = fromNullMillis(revoked)
	return c, nil
}

// CreateBankCredential inserts c; the primary key and the UNIQUE client_id make
// a taken id or client id ErrConflict.
func (s *Store) CreateBankCredential(ctx context.Context, c domain.BankCredential) error {
	_, err := s.write.ExecContext(ctx, "INSERT INTO bank_credentials ("+bankCredentialColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		c.ID, c.BankID, c.ClientID, c.SecretHash, strings.Join(c.Scopes, " "), millis(c.CreatedAt), c.CreatedBy, nullMillis(c.RevokedAt))
	if isUniqueViolation(err) {
		return domain.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("sqlite: create bank credential: %w", err)
	}
	s.walGrew()
	return nil
}

// GetBankCredentialByClientID is served by the UNIQUE client_id index.
func (s *Store) GetBankCredentialByClientID(ctx context.Context, clientID string) (domain.BankCredential, error) {
	return s.getBankCredential(ctx, "client_id", clientID)
}

// GetBankCredential reads one credential by id.
func (s *Store) GetBankCredential(ctx context.Context, id string) (domain.BankCredential, error) {
	return s.getBankCredential(ctx, "id", id)
}

// getBankCredential looks up by a unique column; column is one of the two
// constants above, never caller input.
func (s *Store) getBankCredential(ctx context.Context, column, value string) (domain.BankCredential, error) {
	return queryOne(ctx, s.read, "get bank credential", scanBankCredential,
		"SELECT "+bankCredentialColumns+" FROM bank_credentials WHERE "+column+" = ?", value)
}

// ListBankCredentials is served by the (bank_id, id) index.
func (s *Store) ListBankCredentials(ctx context.Context, bankID string) ([]domain.BankCredential, error) {
	return queryAll(ctx, s.read, "list bank credentials", scanBankCredential,
		"SELECT "+bankCredentialColumns+" FROM bank_credentials WHERE bank_id = ? ORDER BY id", bankID)
}

// RevokeBankCredential keeps the first revocation time (COALESCE). SQLite counts
// every row the WHERE matched as affected, so zero rows means no such credential.
func (s *Store) RevokeBankCredential(ctx context.Context, id string, at time.Time) error {
	return s.updateExisting(ctx, "revoke bank credential",
		"UPDATE bank_credentials SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?", millis(at), id)
}
