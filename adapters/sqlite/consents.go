package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

var _ domain.ConsentStore = (*Store)(nil)

const consentColumns = "id, citizen_id, bank_id, scope, code_hash, code_expires_at, created_at, exchanged_at, revoked_at"

const (
	insertConsent = "INSERT INTO consents (" + consentColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
	// Both listings walk the (citizen_id, id) index backwards.
	listConsentsFirst  = "SELECT " + consentColumns + " FROM consents WHERE citizen_id = ?1 ORDER BY id DESC LIMIT ?3"
	listConsentsBefore = "SELECT " + consentColumns + " FROM consents WHERE citizen_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3"
	revokeConsent      = "UPDATE consents SET revoked_at = coalesce(revoked_at, ?) WHERE id = ? AND citizen_id = ?"
	consentByCode      = "SELECT " + consentColumns + " FROM consents WHERE code_hash = ? AND bank_id = ?"
	// exchangeConsent is the guard that makes a code one-time: it changes a row
	// only while the consent is neither exchanged nor revoked nor expired.
	exchangeConsent = "UPDATE consents SET exchanged_at = ? WHERE id = ? AND exchanged_at IS NULL AND revoked_at IS NULL AND code_expires_at > ?"
	insertExchange  = "INSERT INTO consent_exchanges (id, consent_id, bank_id, credential_id, at) VALUES (?, ?, ?, ?, ?)"
	exchangeByID    = "SELECT id, consent_id, bank_id, credential_id, at FROM consent_exchanges WHERE consent_id = ?"
	citizenRef      = "SELECT ref FROM bank_citizen_refs WHERE bank_id = ? AND citizen_id = ?"
	insertRef       = "INSERT INTO bank_citizen_refs (bank_id, citizen_id, ref) VALUES (?, ?, ?) ON CONFLICT (bank_id, citizen_id) DO NOTHING"
)

func scanConsent(r rowScanner) (domain.Consent, error) {
	var c domain.Consent
	var scope string
	var expires, created int64
	var exchanged, revoked sql.NullInt64
	if err := r.Scan(&c.ID, &c.CitizenID, &c.BankID, &scope, &c.CodeHash, &expires, &created, &exchanged, &revoked); err != nil {
		return domain.Consent{}, err
	}
	c.Scope = domain.ConsentScope(scope)
	c.CodeExpiresAt = fromMillis(expires)
	c.CreatedAt = fromMillis(created)
	c.ExchangedAt = fromNullMillis(exchanged)
	c.RevokedAt = fromNullMillis(revoked)
	return c, nil
}

// CreateConsent inserts c; the primary key and the UNIQUE code_hash make a taken
// id or code ErrConflict.
func (s *Store) CreateConsent(ctx context.Context, c domain.Consent) error {
	_, err := s.write.ExecContext(ctx, insertConsent, c.ID, c.CitizenID, c.BankID, string(c.Scope), c.CodeHash,
		millis(c.CodeExpiresAt), millis(c.CreatedAt), nullMillis(c.ExchangedAt), nullMillis(c.RevokedAt))
	if isUniqueViolation(err) {
		return domain.ErrConflict
	}
	if err != nil {
		return fmt.Errorf("sqlite: create consent: %w", err)
	}
	s.walGrew()
	return nil
}

// ListConsents returns the citizen's consents newest first, below beforeID if set.
func (s *Store) ListConsents(ctx context.Context, citizenID, beforeID string, limit int) ([]domain.Consent, error) {
	return citizenPage(ctx, s.read, "list consents", scanConsent, listConsentsFirst, listConsentsBefore, citizenID, beforeID, limit)
}

// RevokeConsent keeps the first revocation time (coalesce); the citizen_id in the
// WHERE makes another citizen's consent not found.
func (s *Store) RevokeConsent(ctx context.Context, citizenID, id string, at time.Time) error {
	return s.updateExisting(ctx, "revoke consent", revokeConsent, millis(at), id, citizenID)
}

// ExchangeConsentCode finds, checks and marks the consent and logs the exchange
// in one write transaction; the single writer connection serialises racing
// exchanges, and the guarded UPDATE would refuse a second one anyway.
func (s *Store) ExchangeConsentCode(ctx context.Context, codeHash string, x domain.ConsentExchange) (domain.Consent, error) {
	var out domain.Consent
	err := s.writeTx(ctx, "exchange consent code", func(tx *sql.Tx) error {
		c, err := scanConsent(tx.QueryRowContext(ctx, consentByCode, codeHash, x.BankID))
		if errors.Is(err, sql.ErrNoRows) {
			return domain.ErrNotFound
		}
		if err != nil {
			return fmt.Errorf("sqlite: exchange consent code: %w", err)
		}
		switch {
		case c.RevokedAt != nil:
			return domain.ErrConsentRevoked
		case c.ExchangedAt != nil:
			return domain.ErrConsentCodeUsed
		case !x.At.Before(c.CodeExpiresAt):
			return domain.ErrConsentCodeExpired
		}
		res, err := tx.ExecContext(ctx, exchangeConsent, millis(x.At), c.ID, millis(x.At))
		if err != nil {
			return fmt.Errorf("sqlite: exchange consent code: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("sqlite: exchange consent code: %w", err)
		} else if n != 1 {
			return domain.ErrConsentCodeUsed // cannot happen with one writer; never exchange twice
		}
		if _, err := tx.ExecContext(ctx, insertExchange, x.ID, c.ID, x.BankID, x.CredentialID, millis(x.At)); err != nil {
			if isUniqueViolation(err) {
				return domain.ErrConsentCodeUsed
			}
			return fmt.Errorf("sqlite: exchange consent code: log: %w", err)
		}
		at := fromMillis(millis(x.At))
		c.ExchangedAt = &at
		out = c
		return nil
	})
	if err != nil {
		return domain.Consent{}, err
	}
	return out, nil
}

// GetConsentExchange is served by the UNIQUE consent_id index.
func (s *Store) GetConsentExchange(ctx context.Context, consentID string) (domain.ConsentExchange, error) {
	var x domain.ConsentExchange
	var when int64
	err := s.read.QueryRowContext(ctx, exchangeByID, consentID).Scan(&x.ID, &x.ConsentID, &x.BankID, &x.CredentialID, &when)
	if errors.Is(err, sql.ErrNoRows) {
		return domain.ConsentExchange{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.ConsentExchange{}, fmt.Errorf("sqlite: get consent exchange: %w", err)
	}
	x.At = fromMillis(when)
	return x, nil
}

// BankCitizenRef inserts candidate unless the pair has a reference, then reads
// the pair's reference, in one write transaction.
func (s *Store) BankCitizenRef(ctx context.Context, bankID, citizenID, candidate string) (string, error) {
	var ref string
	err := s.writeTx(ctx, "bank citizen ref", func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, insertRef, bankID, citizenID, candidate); err != nil {
			return fmt.Errorf("sqlite: bank citizen ref: %w", err)
		}
		if err := tx.QueryRowContext(ctx, citizenRef, bankID, citizenID).Scan(&ref); err != nil {
			return fmt.Errorf("sqlite: bank citizen ref: %w", err)
		}
		return nil
	})
	return ref, err
}
