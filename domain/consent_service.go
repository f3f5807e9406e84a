package domain

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"time"
)

// ConsentService lets citizens grant partner banks one-time access to their
// carbon profile, and banks exchange the code the citizen gave them for it.
//
// The bank learns only what the consent allows: a per-bank pseudonymous citizen
// reference (never the internal id or the phone number), the level, the lifetime
// CO2e and the balance. Every way a code can fail at the bank — unknown, another
// bank's, expired, already used, revoked, or its citizen erased — is the same
// 404 consent_code_invalid, so a bank cannot tell a revoked consent from a typo
// nor probe other banks' codes.
type ConsentService struct {
	Consents ConsentStore
	Banks    BankStore
	Citizens CitizenStore
	Levels   []Level // lowest first, as for LevelFor
	Now      func() time.Time
	// CodeTTL is how long a consent code may be exchanged; 0 means
	// DefaultConsentCodeTTL.
	CodeTTL time.Duration
	// Limiter counts each bank's exchanges, successful or not, so that a bank —
	// or whoever holds a stolen bank token — cannot guess codes: at most
	// ConsentExchangesPerMinute per bank. nil means no limit.
	Limiter RateLimiter
}

const (
	// DefaultConsentCodeTTL: long enough to read the code out at a bank counter or
	// type it into a bank's app, short enough that a leaked code is soon useless.
	DefaultConsentCodeTTL = 10 * time.Minute
	// ConsentCodeLength characters of the voucher alphabet: 50 bits, unguessable
	// within the TTL, yet short enough to read out.
	ConsentCodeLength = 10
	// citizenRefBytes of randomness in a pseudonymous citizen reference (128 bits).
	citizenRefBytes = 16
	// CitizenRefPrefix starts every pseudonymous citizen reference.
	CitizenRefPrefix = "cr_"
	// ConsentExchangesPerMinute one bank may attempt, successful or not: ample for
	// codes read out at counters, while keeping guessing (50-bit codes) hopeless.
	ConsentExchangesPerMinute = 60
	// codeHashAttempts bounds retries when a new code's hash is taken (50 bits:
	// practically never).
	codeHashAttempts = 3
)

var (
	errConsentNotFound    = Errorf(KindNotFound, "consent_not_found", "no consent with this id")
	errConsentCodeInvalid = Errorf(KindNotFound, "consent_code_invalid",
		"the consent code is unknown, expired, already used or withdrawn; ask the citizen for a new one")
	errTooManyExchanges = Errorf(KindRateLimited, "too_many_exchanges",
		"too many consent code exchanges by this bank; try again later")
)

// ConsentView is a consent as its citizen sees it: without the code, with the
// bank's name and the status at the time it was read.
type ConsentView struct {
	Consent
	BankName string
	Status   ConsentStatus
}

// NewConsentInput is what a citizen provides to grant a consent.
type NewConsentInput struct {
	BankID string
	Scope  string
}

// CarbonProfile is what a bank receives for a consent code.
type CarbonProfile struct {
	CitizenRef     string // per-bank pseudonym, stable across exchanges
	Scope          ConsentScope
	Level          Level
	CO2eGramsTotal int64
	Balance        int64
	ExchangedAt    time.Time
}

// NewConsentCode returns ConsentCodeLength random characters of the voucher
// alphabet.
func NewConsentCode() string {
	var raw [ConsentCodeLength]byte
	_, _ = rand.Read(raw[:]) // crypto/rand.Read never fails on supported platforms
	var b strings.Builder
	for _, r := range raw {
		b.WriteByte(voucherAlphabet[int(r)%len(voucherAlphabet)]) // 256 is a multiple of 32: no bias
	}
	return b.String()
}

// NormalizeConsentCode reads a code as a person may have typed it: case,
// spaces and hyphens do not matter, and the letters Crockford's base32 leaves out
// are read as the digits they look like (O as 0, I and L as 1). ok is false
// unless that leaves ConsentCodeLength characters of the voucher alphabet.
func NormalizeConsentCode(s string) (code string, ok bool) {
	if len(s) > 4*ConsentCodeLength {
		return "", false
	}
	var b strings.Builder
	for _, r := range strings.ToUpper(s) {
		switch {
		case r == ' ' || r == '-':
			continue
		case r == 'O':
			r = '0'
		case r == 'I' || r == 'L':
			r = '1'
		}
		if r > 0x7f || !strings.ContainsRune(voucherAlphabet, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != ConsentCodeLength {
		return "", false
	}
	return b.String(), true
}

// ConsentCodeHash is the stored form of a normalised code: hex SHA-256. The code
// space (50 bits) is too small for a plain hash to hide a code from someone who
// can read the database and try every code, but such a reader sees the profile
// itself; the hash keeps codes out of logs, backups and exports.
func ConsentCodeHash(code string) string {
	sum := sha256.Sum256([]byte(code))
	return hex.EncodeToString(sum[:])
}

func (s *ConsentService) codeTTL() time.Duration {
	if s.CodeTTL <= 0 {
		return DefaultConsentCodeTTL
	}
	return s.CodeTTL
}

// Grant creates a consent for the citizen and returns it with its code, which is
// stored only as a hash: this is the one time anybody sees it.
func (s *ConsentService) Grant(ctx context.Context, citizenID string, in NewConsentInput) (Consent, string, error) {
	var fields []FieldError
	switch {
	case in.Scope == "":
		fields = append(fields, FieldError{Field: "scope", Code: "required", Message: "must not be empty"})
	case ConsentScope(in.Scope) != ScopeCarbonProfile:
		fields = append(fields, FieldError{Field: "scope", Code: "unknown_scope", Message: "must be " + string(ScopeCarbonProfile)})
	}
	if in.BankID == "" {
		fields = append(fields, FieldError{Field: "bank_id", Code: "required", Message: "must not be empty"})
	} else if _, err := s.Banks.GetBank(ctx, in.BankID); errors.Is(err, ErrNotFound) {
		fields = append(fields, FieldError{Field: "bank_id", Code: "unknown_bank", Message: "must be the id of a partner bank"})
	} else if err != nil {
		return Consent{}, "", err
	}
	if len(fields) > 0 {
		return Consent{}, "", Invalid(fields...)
	}
	citizen, err := s.Citizens.GetCitizen(ctx, citizenID)
	if errors.Is(err, ErrNotFound) || (err == nil && citizen.Erased()) {
		return Consent{}, "", errAccountErased
	} else if err != nil {
		return Consent{}, "", err
	}
	now := s.Now()
	for attempt := 1; ; attempt++ {
		code := NewConsentCode()
		c := Consent{ID: NewID(now), CitizenID: citizenID, BankID: in.BankID, Scope: ScopeCarbonProfile,
			CodeHash: ConsentCodeHash(code), CodeExpiresAt: now.Add(s.codeTTL()), CreatedAt: now}
		err := s.Consents.CreateConsent(ctx, c)
		if errors.Is(err, ErrConflict) && attempt < codeHashAttempts {
			continue
		}
		if err != nil {
			return Consent{}, "", err
		}
		return c, code, nil
	}
}

// List returns up to limit of the citizen's consents with ID below beforeID,
// newest first, each with its bank's name and status.
func (s *ConsentService) List(ctx context.Context, citizenID, beforeID string, limit int) ([]ConsentView, error) {
	consents, err := s.Consents.ListConsents(ctx, citizenID, beforeID, limit)
	if err != nil {
		return nil, err
	}
	now := s.Now()
	names := map[string]string{}
	out := make([]ConsentView, 0, len(consents))
	for _, c := range consents {
		name, ok := names[c.BankID]
		if !ok {
			b, err := s.Banks.GetBank(ctx, c.BankID)
			if err != nil && !errors.Is(err, ErrNotFound) {
				return nil, err
			}
			name = b.Name
			names[c.BankID] = name
		}
		out = append(out, ConsentView{Consent: c, BankName: name, Status: c.Status(now)})
	}
	return out, nil
}

// Revoke withdraws one of the citizen's consents: its code can no longer be
// exchanged. Revoking twice is not an error; another citizen's consent is not
// found.
func (s *ConsentService) Revoke(ctx context.Context, citizenID, id string) error {
	err := s.Consents.RevokeConsent(ctx, citizenID, id, s.Now())
	if errors.Is(err, ErrNotFound) {
		return errConsentNotFound
	}
	return err
}

// Exchange gives the bank whose credential cred is the carbon profile a citizen
// consented to with code, once. Attempts, successful or not, are limited per bank
// (too_many_exchanges, before anything else is looked at). A malformed code is a
// validation error; every other failure is consent_code_invalid (see
// ConsentService).
func (s *ConsentService) Exchange(ctx context.Context, cred BankCredential, code string) (CarbonProfile, error) {
	if s.Limiter != nil {
		d, err := s.Limiter.Allow(ctx, "consent-exchange:"+cred.BankID, ConsentExchangesPerMinute, time.Minute)
		if err != nil {
			return CarbonProfile{}, err
		}
		if !d.Allowed {
			e := *errTooManyExchanges
			e.RetryAfter = d.RetryAfter
			return CarbonProfile{}, &e
		}
	}
	norm, ok := NormalizeConsentCode(code)
	if !ok {
		return CarbonProfile{}, Invalid(FieldError{Field: "code", Code: "invalid_format",
			Message: "must be the 10-character code the citizen was given"})
	}
	if _, err := s.Banks.GetBank(ctx, cred.BankID); errors.Is(err, ErrNotFound) {
		return CarbonProfile{}, errConsentCodeInvalid
	} else if err != nil {
		return CarbonProfile{}, err
	}
	now := s.Now()
	x := ConsentExchange{ID: NewID(now), BankID: cred.BankID, CredentialID: cred.ID, At: now}
	consent, err := s.Consents.ExchangeConsentCode(ctx, ConsentCodeHash(norm), x)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrConsentCodeExpired) ||
		errors.Is(err, ErrConsentCodeUsed) || errors.Is(err, ErrConsentRevoked) {
		return CarbonProfile{}, errConsentCodeInvalid
	} else if err != nil {
		return CarbonProfile{}, err
	}
	// The code is spent even if the citizen turns out to be erased: erasure
	// leaves nothing to share, and a spent code cannot be tried again.
	citizen, err := s.Citizens.GetCitizen(ctx, consent.CitizenID)
	if errors.Is(err, ErrNotFound) || (err == nil && citizen.Erased()) {
		return CarbonProfile{}, errConsentCodeInvalid
	} else if err != nil {
		return CarbonProfile{}, err
	}
	ref, err := s.Consents.BankCitizenRef(ctx, cred.BankID, citizen.ID, NewCitizenRef())
	if err != nil {
		return CarbonProfile{}, err
	}
	return CarbonProfile{
		CitizenRef: ref, Scope: consent.Scope, Level: LevelFor(s.Levels, citizen.CO2eGramsTotal),
		CO2eGramsTotal: citizen.CO2eGramsTotal, Balance: citizen.Balance, ExchangedAt: now,
	}, nil
}

// NewCitizenRef returns a fresh pseudonymous citizen reference: random, so it
// reveals nothing about the citizen and cannot be linked across banks.
func NewCitizenRef() string { return CitizenRefPrefix + RandomToken(citizenRefBytes) }
