package domain_test

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// fakeBanks keeps banks and credentials in memory, with the semantics the ports
// document.
type fakeBanks struct {
	mu    sync.Mutex
	banks map[string]domain.Bank
	creds map[string]domain.BankCredential
}

func newFakeBanks() *fakeBanks {
	return &fakeBanks{banks: map[string]domain.Bank{}, creds: map[string]domain.BankCredential{}}
}

func (f *fakeBanks) CreateBank(_ context.Context, b domain.Bank) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range f.banks {
		if o.Code == b.Code || o.ID == b.ID {
			return domain.ErrConflict
		}
	}
	f.banks[b.ID] = b
	return nil
}

func (f *fakeBanks) GetBank(_ context.Context, id string) (domain.Bank, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.banks[id]
	if !ok {
		return domain.Bank{}, domain.ErrNotFound
	}
	return b, nil
}

func (f *fakeBanks) ListBanks(context.Context) ([]domain.Bank, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []domain.Bank
	for _, b := range f.banks {
		out = append(out, b)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeBanks) CreateBankCredential(_ context.Context, c domain.BankCredential) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, o := range f.creds {
		if o.ID == c.ID || o.ClientID == c.ClientID {
			return domain.ErrConflict
		}
	}
	c.Scopes = slices.Clone(c.Scopes)
	f.creds[c.ID] = c
	return nil
}

func (f *fakeBanks) GetBankCredentialByClientID(_ context.Context, clientID string) (domain.BankCredential, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.creds {
		if c.ClientID == clientID {
			return c, nil
		}
	}
	return domain.BankCredential{}, domain.ErrNotFound
}

func (f *fakeBanks) GetBankCredential(_ context.Context, id string) (domain.BankCredential, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.creds[id]
	if !ok {
		return domain.BankCredential{}, domain.ErrNotFound
	}
	return c, nil
}

func (f *fakeBanks) ListBankCredentials(_ context.Context, bankID string) ([]domain.BankCredential, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []domain.BankCredential
	for _, c := range f.creds {
		if c.BankID == bankID {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (f *fakeBanks) RevokeBankCredential(_ context.Context, id string, at time.Time) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.creds[id]
	if !ok {
		return domain.ErrNotFound
	}
	if c.RevokedAt == nil {
		c.RevokedAt = &at
		f.creds[id] = c
	}
	return nil
}

// fakeLimiter counts attempts per key in one endless window.
type fakeLimiter struct {
	mu     sync.Mutex
	counts map[string]int
}

func (l *fakeLimiter) Allow(_ context.Context, key string, limit int, window time.Duration) (domain.RateDecision, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.counts == nil {
		l.counts = map[string]int{}
	}
	l.counts[key]++
	if l.counts[key] > limit {
		return domain.RateDecision{RetryAfter: window}, nil
	}
	return domain.RateDecision{Allowed: true, Remaining: limit - l.counts[key]}, nil
}

func newBankService() (*domain.BankService, *fakeBanks) {
	store := newFakeBanks()
	return &domain.BankService{Banks: store, Credentials: store, Limiter: &fakeLimiter{}, Now: domain.Now,
		SecretCost: bcrypt.MinCost}, store
}

func mustBank(t *testing.T, s *domain.BankService, code string) domain.Bank {
	t.Helper()
	b, err := s.CreateBank(t.Context(), domain.NewBankInput{Code: code, Name: "湖州银行"}, "01OPERATOR")
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := domain.ErrorCodeOf(err); got != code {
		t.Fatalf("error %v (code %q), want code %q", err, got, code)
	}
}

func TestCreateBankValidatesAndRefusesTakenCodes(t *testing.T) {
	s, _ := newBankService()
	b := mustBank(t, s, "huzhou_bank")
	if b.ID == "" || b.Code != "huzhou_bank" || b.Name != "湖州银行" || b.CreatedBy != "01OPERATOR" || b.CreatedAt.IsZero() {
		t.Fatalf("bank %+v", b)
	}
	got, err := s.GetBank(t.Context(), b.ID)
	if err != nil || got != b {
		t.Fatalf("GetBank: %+v, %v", got, err)
	}
	_, err = s.CreateBank(t.Context(), domain.NewBankInput{Code: "huzhou_bank", Name: "other"}, "op")
	wantCode(t, err, "bank_code_taken")
	if domain.ErrorKindOf(err) != domain.KindConflict {
		t.Fatalf("kind %s", domain.ErrorKindOf(err))
	}
	_, err = s.GetBank(t.Context(), "nope")
	wantCode(t, err, "bank_not_found")

	for _, tc := range []struct{ code, name, field, fieldCode string }{
		{"a", "n", "code", "invalid_format"},
		{strings.Repeat("a", 33), "n", "code", "invalid_format"},
		{"Huzhou", "n", "code", "invalid_format"},
		{"hu-zhou", "n", "code", "invalid_format"},
		{`{"$gt":""}`, "n", "code", "invalid_format"},
		{"ok", "", "name", "required"},
		{"ok", strings.Repeat("行", 65), "name", "too_long"},
		{"ok", " padded", "name", "surrounding_space"},
		{"ok", "bad\x00name", "name", "unprintable"},
	} {
		_, err := s.CreateBank(t.Context(), domain.NewBankInput{Code: tc.code, Name: tc.name}, "op")
		var de *domain.Error
		if !errors.As(err, &de) || de.Code != "validation_failed" || len(de.Fields) != 1 ||
			de.Fields[0].Field != tc.field || de.Fields[0].Code != tc.fieldCode {
			t.Errorf("CreateBank(%q, %q): %+v, want %s/%s", tc.code, tc.name, err, tc.field, tc.fieldCode)
		}
	}
	if _, err := s.CreateBank(t.Context(), domain.NewBankInput{Code: "ab", Name: strings.Repeat("行", 64)}, "op"); err != nil {
		t.Errorf("shortest code and longest name: %v", err)
	}
}

func TestIssueCredentialHashesTheSecretAndShowsItOnce(t *testing.T) {
	s, store := newBankService()
	b := mustBank(t, s, "huzhou_bank")
	cred, secret, err := s.IssueCredential(t.Context(), b.ID, nil, "01OPERATOR")
	if err != nil {
		t.Fatal(err)
	}
	if raw, err := base64.RawURLEncoding.DecodeString(secret); err != nil || len(raw) != 32 {
		t.Fatalf("secret %q is not 32 random bytes in base64url", secret)
	}
	if !strings.HasPrefix(cred.ClientID, "bank_") || len(cred.ClientID) < 20 {
		t.Fatalf("client id %q", cred.ClientID)
	}
	stored, err := store.GetBankCredential(t.Context(), cred.ID)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stored.SecretHash, secret) || bcrypt.CompareHashAndPassword([]byte(stored.SecretHash), []byte(secret)) != nil {
		t.Fatalf("stored hash %q is not a bcrypt hash of the secret", stored.SecretHash)
	}
	if !slices.Equal(cred.Scopes, domain.BankScopes) || stored.BankID != b.ID || stored.CreatedBy != "01OPERATOR" || stored.Revoked() {
		t.Fatalf("credential %+v", stored)
	}

	// Scopes come back deduplicated in canonical order.
	sub, _, err := s.IssueCredential(t.Context(), b.ID, []string{domain.ScopeRedemptionsRead, domain.ScopeConsentsExchange, domain.ScopeRedemptionsRead}, "op")
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{domain.ScopeConsentsExchange, domain.ScopeRedemptionsRead}; !slices.Equal(sub.Scopes, want) {
		t.Fatalf("scopes %v, want %v", sub.Scopes, want)
	}
	if sub.ClientID == cred.ClientID {
		t.Fatal("two credentials share a client id")
	}

	_, _, err = s.IssueCredential(t.Context(), b.ID, []string{"admin"}, "op")
	var de *domain.Error
	if !errors.As(err, &de) || de.Code != "validation_failed" || de.Fields[0].Field != "scopes" || de.Fields[0].Code != "unknown_scope" {
		t.Fatalf("unknown scope: %v", err)
	}
	_, _, err = s.IssueCredential(t.Context(), "nope", nil, "op")
	wantCode(t, err, "bank_not_found")
	_, err = s.ListCredentials(t.Context(), "nope")
	wantCode(t, err, "bank_not_found")
	list, err := s.ListCredentials(t.Context(), b.ID)
	if err != nil || len(list) != 2 || list[0].ID != cred.ID {
		t.Fatalf("ListCredentials: %v, %v", list, err)
	}
}

func TestAuthenticate(t *testing.T) {
	s, _ := newBankService()
	b := mustBank(t, s, "huzhou_bank")
	cred, secret, err := s.IssueCredential(t.Context(), b.ID, []string{domain.ScopeConsentsExchange, domain.ScopeRedemptionsRead}, "op")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	got, scopes, err := s.Authenticate(ctx, cred.ClientID, secret, nil, "10.0.0.1")
	if err != nil || got.ID != cred.ID || !slices.Equal(scopes, cred.Scopes) {
		t.Fatalf("default scopes: %v %v %v", got.ID, scopes, err)
	}
	_, scopes, err = s.Authenticate(ctx, cred.ClientID, secret, []string{domain.ScopeRedemptionsRead}, "10.0.0.1")
	if err != nil || !slices.Equal(scopes, []string{domain.ScopeRedemptionsRead}) {
		t.Fatalf("subset: %v %v", scopes, err)
	}
	_, _, err = s.Authenticate(ctx, cred.ClientID, secret, []string{domain.ScopeRedemptionsRead, domain.ScopeRedemptionsWrite}, "10.0.0.1")
	wantCode(t, err, domain.OAuthInvalidScope)

	_, _, wrong := s.Authenticate(ctx, cred.ClientID, secret+"x", nil, "10.0.0.1")
	_, _, unknown := s.Authenticate(ctx, "bank_unknown", secret, nil, "10.0.0.1")
	wantCode(t, wrong, domain.OAuthInvalidClient)
	if wrong.Error() != unknown.Error() || domain.ErrorKindOf(unknown) != domain.KindUnauthorized {
		t.Fatalf("wrong secret %v and unknown client %v differ", wrong, unknown)
	}

	if err := s.RevokeCredential(ctx, b.ID, cred.ID); err != nil {
		t.Fatal(err)
	}
	_, _, revoked := s.Authenticate(ctx, cred.ClientID, secret, nil, "10.0.0.1")
	if revoked == nil || revoked.Error() != wrong.Error() {
		t.Fatalf("revoked credential: %v", revoked)
	}
}

func TestAuthenticateIsRateLimitedPerClientAndAddress(t *testing.T) {
	s, _ := newBankService()
	s.TokenAttempts = 3
	b := mustBank(t, s, "huzhou_bank")
	cred, secret, err := s.IssueCredential(t.Context(), b.ID, nil, "op")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, _, err := s.Authenticate(t.Context(), cred.ClientID, secret, nil, "10.0.0.1"); err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
	}
	_, _, err = s.Authenticate(t.Context(), cred.ClientID, secret, nil, "10.0.0.2")
	wantCode(t, err, domain.OAuthSlowDown)
	var de *domain.Error
	if !errors.As(err, &de) || de.Kind != domain.KindRateLimited || de.RetryAfter <= 0 {
		t.Fatalf("rate limited: %+v", err)
	}
	// Spraying client ids from one address hits the address limit (4x).
	var last error
	for i := range 13 {
		_, _, last = s.Authenticate(t.Context(), "bank_spray"+string(rune('a'+i)), "x", nil, "10.0.0.9")
	}
	wantCode(t, last, domain.OAuthSlowDown)
}

// An unknown client_id costs a bcrypt comparison like a wrong secret does, so the
// response time does not tell which client_ids exist. Generous bounds: this only
// catches a missing comparison (which would be a hundred times faster).
func TestUnknownClientTakesAsLongAsWrongSecret(t *testing.T) {
	s, _ := newBankService()
	s.SecretCost = bcrypt.MinCost + 4
	s.TokenAttempts = 1000
	b := mustBank(t, s, "huzhou_bank")
	cred, _, err := s.IssueCredential(t.Context(), b.ID, nil, "op")
	if err != nil {
		t.Fatal(err)
	}
	measure := func(clientID string) time.Duration {
		var ds []time.Duration
		for range 5 {
			start := time.Now()
			_, _, _ = s.Authenticate(t.Context(), clientID, "wrong-secret", nil, "10.0.0.1")
			ds = append(ds, time.Since(start))
		}
		slices.Sort(ds)
		return ds[len(ds)/2]
	}
	measure("bank_warmup") // computes the dummy hash for this cost
	wrong, unknown := measure(cred.ClientID), measure("bank_unknown")
	if unknown < wrong/4 {
		t.Fatalf("unknown client answered in %v, wrong secret in %v", unknown, wrong)
	}
}

func TestRevokeCredentialAndActiveCredential(t *testing.T) {
	s, store := newBankService()
	a, b := mustBank(t, s, "bank_a"), mustBank(t, s, "bank_b")
	cred, _, err := s.IssueCredential(t.Context(), a.ID, nil, "op")
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	if _, err := s.ActiveCredential(ctx, a.ID, cred.ID); err != nil {
		t.Fatalf("active credential refused: %v", err)
	}
	_, err = s.ActiveCredential(ctx, b.ID, cred.ID)
	wantCode(t, err, "invalid_token")
	_, err = s.ActiveCredential(ctx, a.ID, "nope")
	wantCode(t, err, "invalid_token")

	wantCode(t, s.RevokeCredential(ctx, b.ID, cred.ID), "bank_credential_not_found")
	wantCode(t, s.RevokeCredential(ctx, a.ID, "nope"), "bank_credential_not_found")
	if err := s.RevokeCredential(ctx, a.ID, cred.ID); err != nil {
		t.Fatal(err)
	}
	first, _ := store.GetBankCredential(ctx, cred.ID)
	if err := s.RevokeCredential(ctx, a.ID, cred.ID); err != nil {
		t.Fatalf("revoking again: %v", err)
	}
	again, _ := store.GetBankCredential(ctx, cred.ID)
	if first.RevokedAt == nil || !again.RevokedAt.Equal(*first.RevokedAt) {
		t.Fatalf("revoked at %v, then %v", first.RevokedAt, again.RevokedAt)
	}
	_, err = s.ActiveCredential(ctx, a.ID, cred.ID)
	wantCode(t, err, "invalid_token")
	if domain.ErrorKindOf(err) != domain.KindUnauthorized {
		t.Fatalf("kind %s", domain.ErrorKindOf(err))
	}
}

func TestParseScope(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []string
		code string
	}{
		{"", nil, ""},
		{"redemptions:read", []string{"redemptions:read"}, ""},
		{"redemptions:read consents:exchange redemptions:read", []string{"consents:exchange", "redemptions:read"}, ""},
		{"redemptions:read  consents:exchange", nil, "invalid_scope"},
		{" redemptions:read", nil, "invalid_scope"},
		{"redemptions:read\tconsents:exchange", nil, "invalid_scope"},
		{"admin", nil, "invalid_scope"},
		{`"redemptions:read"`, nil, "invalid_scope"},
	} {
		got, err := domain.ParseScope(tc.in)
		if domain.ErrorCodeOf(err) != tc.code || !slices.Equal(got, tc.want) {
			t.Errorf("ParseScope(%q) = %v, %v; want %v, %q", tc.in, got, err, tc.want, tc.code)
		}
	}
}

func TestTokenLifetimeIsAtMostTenMinutes(t *testing.T) {
	for _, tc := range []struct{ set, want time.Duration }{
		{0, 10 * time.Minute}, {5 * time.Minute, 5 * time.Minute}, {time.Hour, 10 * time.Minute},
	} {
		if got := (&domain.BankService{TokenTTL: tc.set}).TokenLifetime(); got != tc.want {
			t.Errorf("TokenTTL %v: lifetime %v, want %v", tc.set, got, tc.want)
		}
	}
}

// ParseScope reads client input: it never panics, and accepts only bank scopes,
// returned in canonical order so that formatting them parses back the same.
func FuzzParseScope(f *testing.F) {
	for _, s := range []string{"", "redemptions:read", "consents:exchange redemptions:write", "a  b", "\x00", `{"$gt":""}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, param string) {
		scopes, err := domain.ParseScope(param)
		if err != nil {
			if domain.ErrorCodeOf(err) != domain.OAuthInvalidScope {
				t.Fatalf("ParseScope(%q): %v", param, err)
			}
			return
		}
		for _, s := range scopes {
			if !domain.IsBankScope(s) {
				t.Fatalf("ParseScope(%q) accepted %q", param, s)
			}
		}
		again, err := domain.ParseScope(domain.FormatScope(scopes))
		if err != nil || !slices.Equal(again, scopes) {
			t.Fatalf("ParseScope(%q) = %v does not round-trip: %v, %v", param, scopes, again, err)
		}
	})
}
