package token

import (
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func TestBankTokenCarriesScopeAndItsOwnLifetime(t *testing.T) {
	clock := epoch
	a := NewAuthority(newKey(t), nil, "iss", "aud", 15*time.Minute, func() time.Time { return clock })
	bank := Principal{SubjectID: "01BANK", Role: domain.RoleBank, SessionID: "01CREDENTIAL", Scope: "consents:exchange redemptions:read"}
	raw, err := a.MintTTL(bank, 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	got, err := a.Verify(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got != bank {
		t.Fatalf("got %+v, want %+v", got, bank)
	}
	var claims Claims
	if _, _, err := jwt.NewParser().ParseUnverified(raw, &claims); err != nil {
		t.Fatal(err)
	}
	if claims.Scope != bank.Scope || !claims.ExpiresAt.Equal(epoch.Add(5*time.Minute)) {
		t.Fatalf("claims scope %q exp %v", claims.Scope, claims.ExpiresAt)
	}
	// Past its own lifetime (plus the leeway) it is refused, cached or not.
	clock = epoch.Add(5*time.Minute + clockSkew)
	if _, err := a.Verify(raw); err == nil {
		t.Fatal("expired bank token accepted")
	}
	if _, err := a.MintTTL(bank, 0); err == nil {
		t.Fatal("minted a token with no lifetime")
	}
	// Tokens without a scope do not carry the claim.
	plain, err := a.Mint(citizen)
	if err != nil {
		t.Fatal(err)
	}
	mc := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(plain, mc); err != nil {
		t.Fatal(err)
	}
	if _, ok := mc["scope"]; ok {
		t.Fatalf("citizen token has a scope claim: %v", mc)
	}
}
