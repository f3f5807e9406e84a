package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func newKey(t *testing.T) Key {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return NewKey(priv)
}

var (
	epoch   = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	citizen = Principal{SubjectID: "01CITIZEN", Role: domain.RoleCitizen, SessionID: "01SESSION"}
)

func fixedClock(at time.Time) func() time.Time { return func() time.Time { return at } }

func TestMintedTokenVerifies(t *testing.T) {
	a := NewAuthority(newKey(t), nil, "iss", "aud", 15*time.Minute, fixedClock(epoch))
	raw, err := a.Mint(citizen)
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Verify(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got != citizen {
		t.Fatalf("got %+v, want %+v", got, citizen)
	}
}

// signWith builds a token with our claims but signed in some other way.
func signWith(t *testing.T, method jwt.SigningMethod, key any, kid string, mutate func(*Claims)) string {
	t.Helper()
	c := Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "iss", Subject: citizen.SubjectID, Audience: jwt.ClaimStrings{"aud"},
		IssuedAt: jwt.NewNumericDate(epoch), ExpiresAt: jwt.NewNumericDate(epoch.Add(time.Minute)),
	}, Role: domain.RoleCitizen}
	if mutate != nil {
		mutate(&c)
	}
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestRejectsTokensThatAreNotOursOrNotValidNow(t *testing.T) {
	key := newKey(t)
	a := NewAuthority(key, nil, "iss", "aud", 15*time.Minute, fixedClock(epoch))
	good := signWith(t, jwt.SigningMethodEdDSA, key.Private, key.ID, nil)
	if _, err := a.Verify(good); err != nil {
		t.Fatalf("control token rejected: %v", err)
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	other := newKey(t)
	parts := strings.Split(good, ".")

	cases := map[string]string{
		"expired": signWith(t, jwt.SigningMethodEdDSA, key.Private, key.ID, func(c *Claims) {
			c.ExpiresAt = jwt.NewNumericDate(epoch.Add(-time.Minute))
		}),
		"without expiry": signWith(t, jwt.SigningMethodEdDSA, key.Private, key.ID, func(c *Claims) { c.ExpiresAt = nil }),
		"issued in the future": signWith(t, jwt.SigningMethodEdDSA, key.Private, key.ID, func(c *Claims) {
			c.IssuedAt = jwt.NewNumericDate(epoch.Add(time.Hour))
			c.ExpiresAt = jwt.NewNumericDate(epoch.Add(2 * time.Hour))
		}),
		"wrong audience": signWith(t, jwt.SigningMethodEdDSA, key.Private, key.ID, func(c *Claims) { c.Audience = jwt.ClaimStrings{"other-api"} }),
		"wrong issuer":   signWith(t, jwt.SigningMethodEdDSA, key.Private, key.ID, func(c *Claims) { c.Issuer = "someone-else" }),
		"missing role":   signWith(t, jwt.SigningMethodEdDSA, key.Private, key.ID, func(c *Claims) { c.Role = "" }),
		"tampered payload": parts[0] + "." + base64.RawURLEncoding.EncodeToString(
			[]byte(`{"iss":"iss","sub":"01ADMIN","aud":["aud"],"exp":9999999999,"iat":1,"role":"admin"}`)) + "." + parts[2],
		"tampered signature":              parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])),
		"unsigned (alg none)":             signWith(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, key.ID, nil),
		"HS256 keyed with our public key": signWith(t, jwt.SigningMethodHS256, []byte(key.Public), key.ID, nil),
		"RS256 with a foreign key":        signWith(t, jwt.SigningMethodRS256, rsaKey, key.ID, nil),
		"signed by an unknown key":        signWith(t, jwt.SigningMethodEdDSA, other.Private, other.ID, nil),
		"foreign key claiming our kid":    signWith(t, jwt.SigningMethodEdDSA, other.Private, key.ID, nil),
		"without kid":                     signWith(t, jwt.SigningMethodEdDSA, key.Private, "", nil),
		"garbage":                         "not.a.jwt",
		"empty":                           "",
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := a.Verify(raw); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestPreviousKeysStillVerifyAfterRotation(t *testing.T) {
	old, current := newKey(t), newKey(t)
	before := NewAuthority(old, nil, "iss", "aud", time.Hour, fixedClock(epoch))
	raw, _ := before.Mint(citizen)
	oldPublicOnly := Key{ID: old.ID, Public: old.Public}
	after := NewAuthority(current, []Key{oldPublicOnly}, "iss", "aud", time.Hour, fixedClock(epoch))
	if _, err := after.Verify(raw); err != nil {
		t.Fatalf("token signed before rotation rejected: %v", err)
	}
	if got := len(after.JWKS()); got != 2 {
		t.Fatalf("JWKS has %d keys, want 2", got)
	}
	if after.JWKS()[0].KeyID != current.ID {
		t.Fatal("the signing key must come first in the JWKS")
	}
}

func TestKeyFileIsCreatedOnceAndReloaded(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys", "k.pem")
	first, created, err := LoadOrGenerateKeyFile(path)
	if err != nil || !created {
		t.Fatalf("created=%v err=%v", created, err)
	}
	again, created, err := LoadOrGenerateKeyFile(path)
	if err != nil || created || again.ID != first.ID {
		t.Fatalf("reload: created=%v err=%v same=%v", created, err, again.ID == first.ID)
	}
	if _, err := GenerateKeyFile(path); err == nil {
		t.Fatal("GenerateKeyFile overwrote an existing key")
	}
}
