package domain

import (
	"context"
	"errors"
	"regexp"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// BankService manages partner banks and the credentials their systems sign in
// with (the OAuth2 client-credentials grant of the bank API).
type BankService struct {
	Banks       BankStore
	Credentials BankCredentialStore
	Limiter     RateLimiter
	Now         func() time.Time
	// SecretCost is the bcrypt cost of credential secrets; tests lower it,
	// production keeps the default (0).
	SecretCost int
	// TokenTTL is the lifetime of bank access tokens: 0 means MaxBankTokenTTL, and
	// longer is cut to it.
	TokenTTL time.Duration
	// TokenAttempts per TokenWindow are allowed for one client_id, and four times
	// as many from one client address; 0 means the defaults below.
	TokenAttempts int
	TokenWindow   time.Duration
}

const (
	// MaxBankTokenTTL bounds bank access tokens, which cannot be refreshed: a bank
	// asks for a new one with its credential.
	MaxBankTokenTTL = 10 * time.Minute
	// DefaultBankTokenAttempts per DefaultBankTokenWindow: a bank fetches a token
	// every few minutes per replica, so this leaves ample room, while keeping the
	// cost of the slow secret hash bounded.
	DefaultBankTokenAttempts = 30
	DefaultBankTokenWindow   = time.Minute
	// bankSecretBytes of randomness in a credential secret (256 bits).
	bankSecretBytes = 32
	// bankClientIDBytes of randomness in a client_id (128 bits), after "bank_".
	bankClientIDBytes = 16
	// BankClientIDPrefix starts every client_id.
	BankClientIDPrefix = "bank_"
)

var bankCodePattern = regexp.MustCompile(`^[a-z0-9_]{2,32}$`)

const maxBankNameRunes = 64

var (
	errUnknownBank           = Errorf(KindNotFound, "bank_not_found", "no bank with this id")
	errUnknownBankCredential = Errorf(KindNotFound, "bank_credential_not_found", "no credential with this id for this bank")
	errInvalidBankClient     = Errorf(KindUnauthorized, OAuthInvalidClient, "unknown client or wrong secret, or the credential was revoked")
	errRevokedBankCredential = Errorf(KindUnauthorized, "invalid_token", "the credential this token was issued to has been revoked")
)

// NewBankInput is what an operator provides to add a bank.
type NewBankInput struct {
	Code string
	Name string
}

// CreateBank adds a partner bank. Its code is permanent and unique.
func (s *BankService) CreateBank(ctx context.Context, in NewBankInput, operatorID string) (Bank, error) {
	var fields []FieldError
	if !bankCodePattern.MatchString(in.Code) {
		fields = append(fields, FieldError{Field: "code", Code: "invalid_format",
			Message: "must be 2-32 characters: lower-case letters, digits or '_'"})
	}
	if fe := validateText("name", in.Name, maxBankNameRunes); fe != nil {
		fields = append(fields, *fe)
	}
	if len(fields) > 0 {
		return Bank{}, Invalid(fields...)
	}
	now := s.Now()
	b := Bank{ID: NewID(now), Code: in.Code, Name: in.Name, CreatedAt: now, CreatedBy: operatorID}
	if err := s.Banks.CreateBank(ctx, b); errors.Is(err, ErrConflict) {
		return Bank{}, Errorf(KindConflict, "bank_code_taken", "a bank with code %q already exists", in.Code)
	} else if err != nil {
		return Bank{}, err
	}
	return b, nil
}

// GetBank returns a bank by id.
func (s *BankService) GetBank(ctx context.Context, id string) (Bank, error) {
	b, err := s.Banks.GetBank(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Bank{}, errUnknownBank
	}
	return b, err
}

// ListBanks returns every bank in ID (creation) order.
func (s *BankService) ListBanks(ctx context.Context) ([]Bank, error) {
	return s.Banks.ListBanks(ctx)
}

// IssueCredential creates a credential for the bank with the given scopes (all
// bank scopes when none are given) and returns it with its secret, which is
// stored only as a hash: this is the one time anybody sees it.
func (s *BankService) IssueCredential(ctx context.Context, bankID string, scopes []string, operatorID string) (BankCredential, string, error) {
	set := map[string]bool{}
	for _, sc := range scopes {
		if !IsBankScope(sc) {
			return BankCredential{}, "", Invalid(FieldError{Field: "scopes", Code: "unknown_scope",
				Message: "must name scopes among " + FormatScope(BankScopes)})
		}
		set[sc] = true
	}
	if len(set) == 0 {
		for _, sc := range BankScopes {
			set[sc] = true
		}
	}
	if _, err := s.GetBank(ctx, bankID); err != nil {
		return BankCredential{}, "", err
	}
	secret := RandomToken(bankSecretBytes)
	hash, err := bcrypt.GenerateFromPassword([]byte(secret), s.secretCost())
	if err != nil {
		return BankCredential{}, "", err
	}
	now := s.Now()
	cred := BankCredential{
		ID: NewID(now), BankID: bankID, ClientID: BankClientIDPrefix + RandomToken(bankClientIDBytes),
		SecretHash: string(hash), Scopes: canonicalScopes(set), CreatedAt: now, CreatedBy: operatorID,
	}
	if err := s.Credentials.CreateBankCredential(ctx, cred); err != nil {
		return BankCredential{}, "", err // a clash of 128 random bits is a bug, not a case to handle
	}
	return cred, secret, nil
}

// ListCredentials returns the bank's credentials, revoked ones included, oldest
// first.
func (s *BankService) ListCredentials(ctx context.Context, bankID string) ([]BankCredential, error) {
	if _, err := s.GetBank(ctx, bankID); err != nil {
		return nil, err
	}
	return s.Credentials.ListBankCredentials(ctx, bankID)
}

// RevokeCredential revokes one of the bank's credentials: token requests with it
// fail from now on, and so does every request with a token issued to it.
// Revoking a revoked credential is not an error (the first time is kept).
func (s *BankService) RevokeCredential(ctx context.Context, bankID, credentialID string) error {
	cred, err := s.Credentials.GetBankCredential(ctx, credentialID)
	if errors.Is(err, ErrNotFound) || (err == nil && cred.BankID != bankID) {
		return errUnknownBankCredential
	} else if err != nil {
		return err
	}
	if err := s.Credentials.RevokeBankCredential(ctx, credentialID, s.Now()); errors.Is(err, ErrNotFound) {
		return errUnknownBankCredential
	} else if err != nil {
		return err
	}
	return nil
}

// Authenticate checks a client-credentials token request: the client's secret,
// that the credential is not revoked, and that the requested scopes (nil: all of
// the credential's) are among the credential's. It returns the credential and the
// scopes to grant. An unknown client, a wrong secret and a revoked credential are
// the same invalid_client error and take the same time. Requests are rate limited
// per client_id and per client address (slow_down).
func (s *BankService) Authenticate(ctx context.Context, clientID, secret string, requested []string, clientAddr string) (BankCredential, []string, error) {
	if err := s.limitTokenRequests(ctx, "bank_token:client:"+clientID, s.tokenAttempts()); err != nil {
		return BankCredential{}, nil, err
	}
	if err := s.limitTokenRequests(ctx, "bank_token:addr:"+clientAddr, 4*s.tokenAttempts()); err != nil {
		return BankCredential{}, nil, err
	}
	cred, err := s.Credentials.GetBankCredentialByClientID(ctx, clientID)
	if errors.Is(err, ErrNotFound) {
		_ = bcrypt.CompareHashAndPassword(dummySecretHash(s.secretCost()), []byte(secret))
		return BankCredential{}, nil, errInvalidBankClient
	} else if err != nil {
		return BankCredential{}, nil, err
	}
	if bcrypt.CompareHashAndPassword([]byte(cred.SecretHash), []byte(secret)) != nil || cred.Revoked() {
		return BankCredential{}, nil, errInvalidBankClient
	}
	if requested == nil {
		return cred, cred.Scopes, nil
	}
	set := map[string]bool{}
	for _, sc := range requested {
		if !cred.HasScope(sc) {
			return BankCredential{}, nil, Errorf(KindInvalid, OAuthInvalidScope,
				"scope %q was not granted to this credential; it holds %q", sc, FormatScope(cred.Scopes))
		}
		set[sc] = true
	}
	return cred, canonicalScopes(set), nil
}

// ActiveCredential returns the credential a bank access token was issued to,
// refusing (401 invalid_token) a credential that was revoked, no longer exists or
// belongs to another bank than the token's. The bank API calls it on every
// request, so revoking a credential stops its tokens at once.
func (s *BankService) ActiveCredential(ctx context.Context, bankID, credentialID string) (BankCredential, error) {
	cred, err := s.Credentials.GetBankCredential(ctx, credentialID)
	if errors.Is(err, ErrNotFound) || (err == nil && (cred.BankID != bankID || cred.Revoked())) {
		return BankCredential{}, errRevokedBankCredential
	}
	return cred, err
}

// TokenLifetime is how long the bank access tokens this service grants live.
func (s *BankService) TokenLifetime() time.Duration {
	if s.TokenTTL <= 0 || s.TokenTTL > MaxBankTokenTTL {
		return MaxBankTokenTTL
	}
	return s.TokenTTL
}

func (s *BankService) secretCost() int {
	if s.SecretCost == 0 {
		return bcrypt.DefaultCost
	}
	return s.SecretCost
}

func (s *BankService) tokenAttempts() int {
	if s.TokenAttempts <= 0 {
		return DefaultBankTokenAttempts
	}
	return s.TokenAttempts
}

func (s *BankService) limitTokenRequests(ctx context.Context, key string, limit int) error {
	window := s.TokenWindow
	if window <= 0 {
		window = DefaultBankTokenWindow
	}
	d, err := s.Limiter.Allow(ctx, key, limit, window)
	if err != nil {
		return err
	}
	if !d.Allowed {
		return &Error{Kind: KindRateLimited, Code: OAuthSlowDown,
			Message: "too many token requests; try again later", RetryAfter: d.RetryAfter}
	}
	return nil
}

// dummySecretHashes holds, per bcrypt cost, a hash compared against when the
// client_id is unknown, so that an unknown client takes as long as a wrong secret
// and does not reveal which client_ids exist.
var dummySecretHashes sync.Map // int → []byte

func dummySecretHash(cost int) []byte {
	if h, ok := dummySecretHashes.Load(cost); ok {
		return h.([]byte)
	}
	h, _ := bcrypt.GenerateFromPassword([]byte("not-a-real-bank-secret"), cost)
	actual, _ := dummySecretHashes.LoadOrStore(cost, h)
	return actual.([]byte)
}
