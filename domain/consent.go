package domain

import (
	"context"
	"time"
)

// ConsentScope is what a consent lets a bank read.
type ConsentScope string

// ScopeCarbonProfile lets the bank read the citizen's carbon profile once: level,
// lifetime CO2e and balance, under a per-bank pseudonymous reference.
const ScopeCarbonProfile ConsentScope = "carbon_profile"

// ConsentStatus is where a consent stands, derived from its times.
type ConsentStatus string

const (
	ConsentActive    ConsentStatus = "active"    // the code may still be exchanged
	ConsentExchanged ConsentStatus = "exchanged" // the bank exchanged the code
	ConsentRevoked   ConsentStatus = "revoked"   // the citizen withdrew it
	ConsentExpired   ConsentStatus = "expired"   // the code was never exchanged in time
)

// Consent is a citizen's permission for one bank to read their carbon profile,
// carried by a short one-time code the citizen gives the bank. Only the code's
// SHA-256 is stored: the code itself is shown once, when the consent is created.
type Consent struct {
	ID            string
	CitizenID     string
	BankID        string
	Scope         ConsentScope
	CodeHash      string // hex SHA-256 of the normalised code; unique
	CodeExpiresAt time.Time
	CreatedAt     time.Time
	ExchangedAt   *time.Time
	RevokedAt     *time.Time
}

// Status derives the consent's status at now: revoked wins over exchanged, which
// wins over expired.
func (c Consent) Status(now time.Time) ConsentStatus {
	switch {
	case c.RevokedAt != nil:
		return ConsentRevoked
	case c.ExchangedAt != nil:
		return ConsentExchanged
	case !now.Before(c.CodeExpiresAt):
		return ConsentExpired
	}
	return ConsentActive
}

// ConsentExchange is the log entry of one exchange of a consent code by a bank:
// which credential (which of the bank's systems) read the profile, and when.
type ConsentExchange struct {
	ID           string
	ConsentID    string
	BankID       string
	CredentialID string
	At           time.Time
}

// Errors ExchangeConsentCode returns for a consent of the bank that can no longer
// be exchanged (ErrNotFound covers no consent, or another bank's). The service
// shows all of them to the bank as one consent_code_invalid.
var (
	ErrConsentCodeExpired = Errorf(KindNotFound, "consent_code_expired", "the consent code expired")
	ErrConsentCodeUsed    = Errorf(KindNotFound, "consent_code_used", "the consent code was already exchanged")
	ErrConsentRevoked     = Errorf(KindNotFound, "consent_revoked", "the consent was revoked")
)

// ConsentStore keeps consents, their exchange log and the per-bank pseudonymous
// citizen references.
type ConsentStore interface {
	// CreateConsent stores c; ErrConflict if its ID or CodeHash is taken.
	CreateConsent(ctx context.Context, c Consent) error
	// ListConsents returns up to limit of the citizen's consents with ID below
	// beforeID ("" = newest), newest first.
	ListConsents(ctx context.Context, citizenID, beforeID string, limit int) ([]Consent, error)
	// RevokeConsent sets RevokedAt to at unless it is set (the first time is kept;
	// revoking again is not an error). ErrNotFound if the citizen has no consent
	// with id (another citizen's included).
	RevokeConsent(ctx context.Context, citizenID, id string, at time.Time) error
	// ExchangeConsentCode atomically finds the consent whose CodeHash is codeHash
	// and whose BankID is x.BankID and, if it is neither revoked nor exchanged and
	// x.At is before CodeExpiresAt, sets ExchangedAt to x.At and records x as its
	// exchange (ConsentID filled in). It returns the consent as stored after the
	// exchange. Of racing exchanges of one code exactly one succeeds.
	//
	// Returns ErrNotFound if there is no such consent (another bank's consent is
	// not found), else ErrConsentRevoked, ErrConsentCodeUsed or
	// ErrConsentCodeExpired, checked in this order; nothing is written then.
	ExchangeConsentCode(ctx context.Context, codeHash string, x ConsentExchange) (Consent, error)
	// GetConsentExchange returns the exchange logged for the consent, ErrNotFound
	// if it was never exchanged.
	GetConsentExchange(ctx context.Context, consentID string) (ConsentExchange, error)
	// BankCitizenRef returns the pseudonymous reference of the citizen for the
	// bank, storing candidate as that reference if the pair has none yet. Racing
	// calls for one pair all return the same reference.
	BankCitizenRef(ctx context.Context, bankID, citizenID, candidate string) (string, error)
}
