package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

const (
	activityTypeColumns = "code, category, unit, name, name_en, created_at, created_by"
	versionColumns      = `type_code, version, effective_from, enabled, co2e_mg_per_unit, points_per_kg,
	points_per_unit, quantity_decimals, max_quantity, daily_max_quantity, daily_max_points,
	evidence_required, evidence_sources, evidence_review, methodology, confidence, note,
	created_at, created_by`
)

func scanActivityType(r rowScanner) (domain.ActivityType, error) {
	var t domain.ActivityType
	var created int64
	if err := r.Scan(&t.Code, &t.Category, &t.Unit, &t.Name, &t.NameEn, &created, &t.CreatedBy); err != nil {
		return domain.ActivityType{}, err
	}
	t.CreatedAt = fromMillis(created)
	return t, nil
}

func scanVersion(r rowScanner) (domain.CoefficientVersion, error) {
	var v domain.CoefficientVersion
	var from, created int64
	var sources string
	err := r.Scan(&v.TypeCode, &v.Version, &from, &v.Enabled, &v.CO2eMgPerUnit, &v.PointsPerKg,
		&v.PointsPerUnit, &v.QuantityDecimals, &v.MaxQuantity, &v.DailyMaxQuantity, &v.DailyMaxPoints,
		&v.Evidence.Required, &sources, &v.Evidence.Review, &v.Methodology, &v.Confidence, &v.Note,
		&created, &v.CreatedBy)
	if err != nil {
		return domain.CoefficientVersion{}, err
	}
	// "null" decodes to a nil slice and "[]" to an empty one, so Sources reads back
	// exactly as it was written.
	if err := json.Unmarshal([]byte(sources), &v.Evidence.Sources); err != nil {
		return domain.CoefficientVersion{}, fmt.Errorf("evidence_sources of %s v%d: %w", v.TypeCode, v.Version, err)
	}
	v.EffectiveFrom = fromMillis(from)
	v.CreatedAt = fromMillis(created)
	return v, nil
}

func insertVersion(ctx context.Context, tx *sql.Tx, v domain.CoefficientVersion) error {
	sources, err := json.Marshal(v.Evidence.Sources)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, "INSERT INTO coefficient_versions ("+versionColumns+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		v.TypeCode, v.Version, millis(v.EffectiveFrom), v.Enabled, v.CO2eMgPerUnit, v.PointsPerKg,
		v.PointsPerUnit, v.QuantityDecimals, int64(v.MaxQuantity), int64(v.DailyMaxQuantity), v.DailyMaxPoints,
		v.Evidence.Required, string(sources), v.Evidence.Review, v.Methodology, v.Confidence, v.Note,
		millis(v.CreatedAt), v.CreatedBy)
	return err
}

// CreateActivityType inserts the type and its first version in one transaction;
// the primary key on code makes a second creation of the same code ErrConflict.
func (s *Store) CreateActivityType(ctx context.Context, t domain.ActivityType, first domain.CoefficientVersion) error {
	if first.TypeCode != t.Code || first.Version != 1 {
		return fmt.Errorf("sqlite: create activity type %s: first version must be %s v1, got %s v%d",
			t.Code, t.Code, first.TypeCode, first.Version)
	}
	return s.writeTx(ctx, "create activity type", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "INSERT INTO activity_types ("+activityTypeColumns+") VALUES (?, ?, ?, ?, ?, ?, ?)",
			t.Code, string(t.Category), t.Unit, t.Name, t.NameEn, millis(t.CreatedAt), t.CreatedBy)
		if isUniqueViolation(err) {
			return domain.ErrConflict
		}
		if err != nil {
			return fmt.Errorf("sqlite: create activity type: %w", err)
		}
		if err := insertVersion(ctx, tx, first); err != nil {
			return fmt.Errorf("sqlite: create activity type: first version: %w", err)
		}
		return nil
	})
}

// latestVersion is NULL for a type without versions and no row for no type.
const latestVersion = `SELECT (SELECT MAX(version) FROM coefficient_versions WHERE type_code = ?1)
	FROM activity_types WHERE code = ?1`

// AddCoefficientVersion checks, inside the write transaction (so nobody can add a
// version in between), that the type exists and v.Version is its latest + 1.
func (s *Store) AddCoefficientVersion(ctx context.Context, v domain.CoefficientVersion) error {
	return s.writeTx(ctx, "add coefficient version", func(tx *sql.Tx) error {
		var latest sql.NullInt64
		err := tx.QueryRowContext(ctx, latestVersion, v.TypeCode).Scan(&latest)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return domain.ErrNotFound
		case err != nil:
			return fmt.Errorf("sqlite: add coefficient version: %w", err)
		case int64(v.Version) != latest.Int64+1:
			return domain.ErrConflict
		}
		err = insertVersion(ctx, tx, v)
		if isUniqueViolation(err) {
			return domain.ErrConflict // unreachable behind the check above; kept as a guard
		}
		if err != nil {
			return fmt.Errorf("sqlite: add coefficient version: %w", err)
		}
		return nil
	})
}

// ListActivityTypes returns every type ordered by code (the primary key's order).
func (s *Store) ListActivityTypes(ctx context.Context) ([]domain.ActivityType, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT "+activityTypeColumns+" FROM activity_types ORDER BY code")
	if err != nil {
		return nil, fmt.Errorf("sqlite: list activity types: %w", err)
	}
	out, err := collect(rows, scanActivityType)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list activity types: %w", err)
	}
	return out, nil
}

// ListCoefficientVersions returns every version ordered by type code, then version.
func (s *Store) ListCoefficientVersions(ctx context.Context) ([]domain.CoefficientVersion, error) {
	rows, err := s.read.QueryContext(ctx, "SELECT "+versionColumns+" FROM coefficient_versions ORDER BY type_code, version")
	if err != nil {
		return nil, fmt.Errorf("sqlite: list coefficient versions: %w", err)
	}
	out, err := collect(rows, scanVersion)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list coefficient versions: %w", err)
	}
	return out, nil
}

// collect scans every row with scan and closes rows.
func collect[T any](rows *sql.Rows, scan func(rowScanner) (T, error)) ([]T, error) {
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
