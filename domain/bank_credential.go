package domain

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Scopes of the bank API: what a bank credential's access tokens may do. A
// credential holds a subset of BankScopes; a token holds a subset of its
// credential's scopes.
const (
	ScopeConsentsExchange = "consents:exchange" // read a consenting citizen's carbon profile
	ScopeRedemptionsWrite = "redemptions:write" // redeem vouchers and reverse redemptions
	ScopeRedemptionsRead  = "redemptions:read"  // list redemptions (settlement)
)

// BankScopes lists every bank scope in canonical order; it is also the default set
// of a new credential.
var BankScopes = []string{ScopeConsentsExchange, ScopeRedemptionsWrite, ScopeRedemptionsRead}

// IsBankScope reports whether s is one of BankScopes.
func IsBankScope(s string) bool { return slices.Contains(BankScopes, s) }

// BankCredential lets one bank's systems obtain access tokens with the OAuth2
// client-credentials grant. The secret is shown once when the credential is
// issued and stored only as a slow hash; revoking a credential stops its tokens at
// once (the bank API checks the credential on every request).
type BankCredential struct {
	ID         string
	BankID     string
	ClientID   string // public identifier, "bank_" + random; unique
	SecretHash string // bcrypt of the secret
	Scopes     []string
	CreatedAt  time.Time
	CreatedBy  string // operator ID
	RevokedAt  *time.Time
}

// Revoked reports whether the credential was revoked.
func (c BankCredential) Revoked() bool { return c.RevokedAt != nil }

// HasScope reports whether the credential holds scope.
func (c BankCredential) HasScope(scope string) bool { return slices.Contains(c.Scopes, scope) }

// BankCredentialStore keeps bank credentials.
type BankCredentialStore interface {
	// CreateBankCredential stores c; ErrConflict if its ID or ClientID is taken.
	CreateBankCredential(ctx context.Context, c BankCredential) error
	// GetBankCredentialByClientID returns ErrNotFound if no credential has clientID.
	GetBankCredentialByClientID(ctx context.Context, clientID string) (BankCredential, error)
	// GetBankCredential returns ErrNotFound if there is no credential with id.
	GetBankCredential(ctx context.Context, id string) (BankCredential, error)
	// ListBankCredentials returns every credential of the bank, revoked ones
	// included, in ID order (empty, not an error, for an unknown bank).
	ListBankCredentials(ctx context.Context, bankID string) ([]BankCredential, error)
	// RevokeBankCredential sets RevokedAt to at unless it is already set (the first
	// revocation time is kept; revoking again is not an error). ErrNotFound if
	// there is no credential with id.
	RevokeBankCredential(ctx context.Context, id string, at time.Time) error
}

// scopeTokenOK reports whether s is a scope-token of RFC 6749 §3.3: one or more of
// %x21 / %x23-5B / %x5D-7E (printable ASCII without space, '"' and '\').
func scopeTokenOK(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		b := s[i]
		if b < 0x21 || b > 0x7e || b == '"' || b == '\\' {
			return false
		}
	}
	return true
}

// ParseScope reads an OAuth2 scope parameter: scope-tokens separated by single
// spaces. It returns the bank scopes named, without duplicates, in canonical
// order; nil for an empty parameter. A malformed parameter or a scope that is not
// a bank scope is an invalid_scope error.
func ParseScope(param string) ([]string, error) {
	if param == "" {
		return nil, nil
	}
	named := map[string]bool{}
	for _, tok := range strings.Split(param, " ") {
		if !scopeTokenOK(tok) {
			return nil, Errorf(KindInvalid, OAuthInvalidScope, "scope must be scope names separated by single spaces")
		}
		if !IsBankScope(tok) {
			return nil, Errorf(KindInvalid, OAuthInvalidScope, "unknown scope %q; scopes are %s", tok, FormatScope(BankScopes))
		}
		named[tok] = true
	}
	return canonicalScopes(named), nil
}

// FormatScope writes scopes as an OAuth2 scope parameter (space-separated).
func FormatScope(scopes []string) string { return strings.Join(scopes, " ") }

// canonicalScopes returns the bank scopes in set, in BankScopes order.
func canonicalScopes(set map[string]bool) []string {
	out := make([]string, 0, len(set))
	for _, s := range BankScopes {
		if set[s] {
			out = append(out, s)
		}
	}
	return out
}

// Error codes of the client-credentials grant: they are the OAuth2 error codes of
// RFC 6749 §5.2 (and slow_down, registered by RFC 8628), so the HTTP layer can
// answer with them unchanged.
const (
	OAuthInvalidRequest = "invalid_request"
	OAuthInvalidClient  = "invalid_client"
	OAuthInvalidScope   = "invalid_scope"
	OAuthSlowDown       = "slow_down"
)
