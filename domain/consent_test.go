package domain_test

import (
	"strings"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func TestConsentCodesAreShortReadableAndRandom(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		code := domain.NewConsentCode()
		if len(code) != domain.ConsentCodeLength || strings.ContainsAny(code, "ILOU-") {
			t.Fatalf("code %q", code)
		}
		norm, ok := domain.NormalizeConsentCode(code)
		if !ok || norm != code {
			t.Fatalf("NormalizeConsentCode(%q) = %q, %v", code, norm, ok)
		}
		if seen[code] {
			t.Fatalf("code %q drawn twice in 1000", code)
		}
		seen[code] = true
	}
}

func TestNormalizeConsentCode(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"7K2QM9XA4T", "7K2QM9XA4T", true},
		{"7k2qm-9xa4t", "7K2QM9XA4T", true},
		{" 7K2QM 9XA4T ", "7K2QM9XA4T", true},
		{"OIL0000000", "0110000000", true}, // O, I, L read as the digits they look like
		{"7K2QM9XA4", "", false},
		{"7K2QM9XA4TT", "", false},
		{"7K2QM9XA4U", "", false},      // U is not in the alphabet
		{"７K2QM9XA4T", "", false},      // full-width digit
		{"7K2QM9XA4\u0000", "", false}, // control character
		{strings.Repeat("-", 100), "", false},
		{"", "", false},
	}
	for _, tc := range cases {
		got, ok := domain.NormalizeConsentCode(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("NormalizeConsentCode(%q) = %q, %v; want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestConsentCodeHashIsSHA256Hex(t *testing.T) {
	h := domain.ConsentCodeHash("7K2QM9XA4T")
	if len(h) != 64 || h == domain.ConsentCodeHash("7K2QM9XA4V") || strings.Contains(h, "7K2QM9XA4T") {
		t.Fatalf("hash %q", h)
	}
}

func TestConsentStatus(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	later := now.Add(time.Minute)
	c := domain.Consent{CodeExpiresAt: now.Add(10 * time.Minute)}
	if s := c.Status(now); s != domain.ConsentActive {
		t.Errorf("fresh: %s", s)
	}
	if s := c.Status(c.CodeExpiresAt); s != domain.ConsentExpired {
		t.Errorf("at expiry: %s", s)
	}
	c.ExchangedAt = &later
	if s := c.Status(now.Add(time.Hour)); s != domain.ConsentExchanged {
		t.Errorf("exchanged, after expiry: %s", s)
	}
	c.RevokedAt = &later
	if s := c.Status(now); s != domain.ConsentRevoked {
		t.Errorf("exchanged then revoked: %s", s)
	}
}

func TestCitizenRefsAreRandomAndPrefixed(t *testing.T) {
	a, b := domain.NewCitizenRef(), domain.NewCitizenRef()
	if a == b || !strings.HasPrefix(a, domain.CitizenRefPrefix) || len(a) < 20 {
		t.Fatalf("refs %q %q", a, b)
	}
}
