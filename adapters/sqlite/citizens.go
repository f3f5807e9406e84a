package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// citizenColumns is the column list scanCitizen expects, in order.
const citizenColumns = `id, identity_provider, identity_subject, phone, nickname, district,
	leaderboard_opt_out, balance, co2e_grams_total, points_earned_total,
	created_at, updated_at, erased_at, version`

func scanCitizen(r rowScanner) (domain.Citizen, error) {
	var c domain.Citizen
	var created, updated int64
	var erased sql.NullInt64
	err := r.Scan(&c.ID, &c.Identity.Provider, &c.Identity.Subject, &c.Phone, &c.Nickname, &c.District,
		&c.LeaderboardOptOut, &c.Balance, &c.CO2eGramsTotal, &c.PointsEarnedTotal,
		&created, &updated, &erased, &c.Version)
	if err != nil {
		return domain.Citizen{}, err
	}
	c.CreatedAt = fromMillis(created)
	c.UpdatedAt = fromMillis(updated)
	c.ErasedAt = fromNullMillis(erased)
	return c, nil
}

// FindOrCreateCitizen looks the identity up on a reader first, since almost every
// sign-in is by a returning citizen and needs no write lock. Otherwise it inserts
// with ON CONFLICT DO NOTHING and reads back in the same transaction; whether the
// insert added a row is what decides created, so racing callers agree exactly.
func (s *Store) FindOrCreateCitizen(ctx context.Context, draft domain.Citizen) (domain.Citizen, bool, error) {
	c, err := scanCitizen(s.read.QueryRowContext(ctx,
		"SELECT "+citizenColumns+" FROM citizens WHERE identity_provider = ? AND identity_subject = ?",
		draft.Identity.Provider, draft.Identity.Subject))
	if err == nil {
		return c, false, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return domain.Citizen{}, false, fmt.Errorf("sqlite: find citizen: %w", err)
	}

	var created bool
	err = s.writeTx(ctx, "create citizen", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO citizens (`+citizenColumns+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (identity_provider, identity_subject) DO NOTHING`,
			draft.ID, draft.Identity.Provider, draft.Identity.Subject, draft.Phone, draft.Nickname, draft.District,
			draft.LeaderboardOptOut, draft.Balance, draft.CO2eGramsTotal, draft.PointsEarnedTotal,
			millis(draft.CreatedAt), millis(draft.UpdatedAt), nullMillis(draft.ErasedAt), draft.Version)
		if isUniqueViolation(err) {
			return domain.ErrConflict // the draft's id is taken by another identity
		}
		if err != nil {
			return fmt.Errorf("sqlite: create citizen: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return fmt.Errorf("sqlite: create citizen: %w", err)
		}
		created = n == 1
		c, err = scanCitizen(tx.QueryRowContext(ctx,
			"SELECT "+citizenColumns+" FROM citizens WHERE identity_provider = ? AND identity_subject = ?",
			draft.Identity.Provider, draft.Identity.Subject))
		if err != nil {
			return fmt.Errorf("sqlite: create citizen: read back: %w", err)
		}
		return nil
	})
	if err != nil {
		return domain.Citizen{}, false, err
	}
	return c, created, nil
}

// GetCitizen returns the citizen with id, erased or not.
func (s *Store) GetCitizen(ctx context.Context, id string) (domain.Citizen, error) {
	c, err := scanCitizen(s.read.QueryRowContext(ctx, "SELECT "+citizenColumns+" FROM citizens WHERE id = ?", id))
	if errors.Is(err, sql.ErrNoRows) {
		return domain.Citizen{}, domain.ErrNotFound
	}
	if err != nil {
		return domain.Citizen{}, fmt.Errorf("sqlite: get citizen: %w", err)
	}
	return c, nil
}

// SaveCitizenProfile is a guarded update: it only matches the row if the version
// is still the one the caller read. The account totals are not in the SET list,
// so a profile save can never undo a ledger posting; RETURNING gives back the row
// as stored, totals included.
func (s *Store) SaveCitizenProfile(ctx context.Context, c domain.Citizen) (domain.Citizen, error) {
	var saved domain.Citizen
	err := s.writeTx(ctx, "save citizen profile", func(tx *sql.Tx) error {
		var err error
		saved, err = scanCitizen(tx.QueryRowContext(ctx, `UPDATE citizens SET
				identity_provider = ?, identity_subject = ?, phone = ?, nickname = ?, district = ?,
				leaderboard_opt_out = ?, updated_at = ?, erased_at = ?, version = version + 1
			WHERE id = ? AND version = ?
			RETURNING `+citizenColumns,
			c.Identity.Provider, c.Identity.Subject, c.Phone, c.Nickname, c.District,
			c.LeaderboardOptOut, millis(c.UpdatedAt), nullMillis(c.ErasedAt),
			c.ID, c.Version))
		switch {
		case err == nil:
			return nil
		case isUniqueViolation(err):
			return domain.ErrConflict // the new identity belongs to another citizen
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("sqlite: save citizen profile: %w", err)
		}
		// Nothing matched: tell a missing citizen from a moved version. Still in
		// the write transaction, so the answer cannot change underneath us.
		return missingOrConflict(ctx, tx, "SELECT 1 FROM citizens WHERE id = ?", c.ID)
	})
	if err != nil {
		return domain.Citizen{}, err
	}
	return saved, nil
}

// missingOrConflict runs an existence query after a guarded update matched no row:
// ErrNotFound if the row is absent, ErrConflict if it exists (the guard failed).
func missingOrConflict(ctx context.Context, tx *sql.Tx, query string, args ...any) error {
	var one int
	err := tx.QueryRowContext(ctx, query, args...).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return domain.ErrNotFound
	case err != nil:
		return fmt.Errorf("sqlite: check existence: %w", err)
	default:
		return domain.ErrConflict
	}
}
