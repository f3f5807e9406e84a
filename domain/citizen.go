package domain

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Identity is how a citizen signs in: the identity provider and the subject it
// vouches for (a Firebase uid, or a phone number for dev login). Unique per citizen.
type Identity struct {
	Provider string // "firebase" or "dev"
	Subject  string
}

const (
	ProviderFirebase = "firebase"
	ProviderDev      = "dev"
	// providerErased replaces the identity of an erased citizen so that the unique
	// identity key stays unique without keeping personal data.
	providerErased = "erased"
)

// Citizen is a holder of a personal carbon account.
type Citizen struct {
	ID                string
	Identity          Identity
	Phone             string // E.164, empty when the provider gave none
	Nickname          string
	District          string // a District code, or "" when not chosen
	LeaderboardOptOut bool

	// Account totals, maintained by the ledger (carbon engine). Balance is spendable
	// points; the lifetime totals never go down when points are spent.
	Balance           int64
	CO2eGramsTotal    int64
	PointsEarnedTotal int64

	CreatedAt time.Time
	UpdatedAt time.Time
	ErasedAt  *time.Time // set when the citizen deleted their account
	// Version increments on every profile change; stores use it to refuse lost updates.
	Version int64
}

// Erased reports whether the citizen deleted their account.
func (c Citizen) Erased() bool { return c.ErasedAt != nil }

// ProfileUpdate holds the fields a citizen may change; nil means unchanged.
type ProfileUpdate struct {
	Nickname          *string
	District          *string // "" clears the district
	LeaderboardOptOut *bool
}

const maxNicknameRunes = 20

// validateNickname accepts 1 to 20 printable characters without leading or trailing
// space; nicknames appear on public leaderboards.
func validateNickname(field, s string) *FieldError { return validateText(field, s, maxNicknameRunes) }

// validateText accepts 1 to max printable characters without surrounding spaces.
func validateText(field, s string, max int) *FieldError {
	n := utf8.RuneCountInString(s)
	switch {
	case !utf8.ValidString(s):
		return &FieldError{Field: field, Code: "invalid_encoding", Message: "must be valid UTF-8"}
	case n == 0:
		return &FieldError{Field: field, Code: "required", Message: "must not be empty"}
	case n > max:
		return &FieldError{Field: field, Code: "too_long", Message: fmt.Sprintf("must be at most %d characters", max)}
	case strings.TrimSpace(s) != s:
		return &FieldError{Field: field, Code: "surrounding_space", Message: "must not start or end with spaces"}
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return &FieldError{Field: field, Code: "unprintable", Message: "must contain printable characters only"}
		}
	}
	return nil
}

func validateDistrict(field, code string, allowEmpty bool) *FieldError {
	if code == "" && allowEmpty {
		return nil
	}
	if !IsDistrictCode(code) {
		return &FieldError{Field: field, Code: "unknown_district", Message: "must be one of the codes listed by GET /v1/districts"}
	}
	return nil
}

// Apply validates u and applies it to c.
func (u ProfileUpdate) Apply(c *Citizen) error {
	var fields []FieldError
	if u.Nickname != nil {
		if fe := validateNickname("nickname", *u.Nickname); fe != nil {
			fields = append(fields, *fe)
		}
	}
	if u.District != nil {
		if fe := validateDistrict("district", *u.District, true); fe != nil {
			fields = append(fields, *fe)
		}
	}
	if len(fields) > 0 {
		return Invalid(fields...)
	}
	if u.Nickname != nil {
		c.Nickname = *u.Nickname
	}
	if u.District != nil {
		c.District = *u.District
	}
	if u.LeaderboardOptOut != nil {
		c.LeaderboardOptOut = *u.LeaderboardOptOut
	}
	return nil
}

// Erase removes everything that identifies the citizen, keeping the record (and, in
// later features, the ledger) in anonymised form.
func (c *Citizen) Erase(at time.Time) {
	c.Identity = Identity{Provider: providerErased, Subject: c.ID}
	c.Phone = ""
	c.Nickname = ""
	c.District = ""
	c.LeaderboardOptOut = true
	c.ErasedAt = &at
	c.UpdatedAt = at
}

// CitizenStore keeps citizens.
type CitizenStore interface {
	// FindOrCreateCitizen returns the citizen signed in with draft.Identity, creating
	// draft if there is none; created reports which. Safe under concurrency: racing
	// calls for one identity return the same citizen and exactly one reports created.
	FindOrCreateCitizen(ctx context.Context, draft Citizen) (c Citizen, created bool, err error)
	// GetCitizen returns ErrNotFound if there is no citizen with id. Erased citizens
	// are returned with ErasedAt set.
	GetCitizen(ctx context.Context, id string) (Citizen, error)
	// SaveCitizenProfile writes the profile and identity fields of c (identity, phone,
	// nickname, district, leaderboard_opt_out, updated_at, erased_at) if the stored
	// version equals c.Version, and stores c.Version+1. Account totals are never
	// written here. Returns ErrConflict if the version moved, ErrNotFound if absent.
	SaveCitizenProfile(ctx context.Context, c Citizen) (Citizen, error)
}
