package api_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/huzhou-lvdaitong/carbon-account/api"
	"github.com/huzhou-lvdaitong/carbon-account/api/token"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func TestDevLoginSignsACitizenInAndCreatesThemOnce(t *testing.T) {
	h := newHarness(t)
	first := h.devLogin("13800138000")
	if first.TokenType != "Bearer" || first.ExpiresIn != 900 || first.RefreshToken == "" {
		t.Fatalf("unexpected token response %+v", first)
	}
	var me1, me2 struct{ ID string }
	h.do(req{method: "GET", path: "/v1/me", bearer: first.AccessToken}).expect(t, 200).decode(t, &me1)
	second := h.devLogin("+8613800138000") // the same number written in E.164
	h.do(req{method: "GET", path: "/v1/me", bearer: second.AccessToken}).expect(t, 200).decode(t, &me2)
	if me1.ID == "" || me1.ID != me2.ID {
		t.Fatalf("same phone gave citizens %q and %q", me1.ID, me2.ID)
	}
}

func TestDevLoginTakesNicknameAndDistrictOnFirstSignIn(t *testing.T) {
	h := newHarness(t)
	var tk tokens
	h.do(req{method: "POST", path: "/v1/auth/dev-login", body: map[string]any{"phone": "13900139000", "nickname": "小绿", "district": "anji"}}).
		expect(t, 200).decode(t, &tk)
	var me struct {
		Nickname string
		District *string
	}
	h.do(req{method: "GET", path: "/v1/me", bearer: tk.AccessToken}).expect(t, 200).decode(t, &me)
	if me.Nickname != "小绿" || me.District == nil || *me.District != "anji" {
		t.Fatalf("profile %+v", me)
	}
}

func TestDevLoginIsNotServedWhenTurnedOff(t *testing.T) {
	h := newHarness(t, func(d *api.Deps, _ *domain.AuthService) { d.DevLogin = false })
	h.do(req{method: "POST", path: "/v1/auth/dev-login", body: map[string]any{"phone": "13800138000"}}).expect(t, 404, "route_not_found")
}

func TestDevLoginRejectsBadPhoneNumbers(t *testing.T) {
	h := newHarness(t)
	for _, phone := range []string{"", "12345", "23800138000", "1380013800a", "+1 415 555 0100", "138001380001", strings.Repeat("1", 33)} {
		h.do(req{method: "POST", path: "/v1/auth/dev-login", body: map[string]any{"phone": phone}}).expect(t, 400)
	}
}

func TestRefreshRotatesTheRefreshToken(t *testing.T) {
	h := newHarness(t)
	first := h.devLogin("13800138000")
	var second tokens
	h.do(req{method: "POST", path: "/v1/auth/refresh", body: map[string]any{"refresh_token": first.RefreshToken}}).expect(t, 200).decode(t, &second)
	if second.RefreshToken == first.RefreshToken || second.AccessToken == "" {
		t.Fatal("refresh did not rotate the token")
	}
	h.do(req{method: "GET", path: "/v1/me", bearer: second.AccessToken}).expect(t, 200)
	var third tokens
	h.do(req{method: "POST", path: "/v1/auth/refresh", body: map[string]any{"refresh_token": second.RefreshToken}}).expect(t, 200).decode(t, &third)
}

func TestReusingASpentRefreshTokenRevokesTheWholeFamily(t *testing.T) {
	h := newHarness(t)
	first := h.devLogin("13800138000")
	var second tokens
	h.do(req{method: "POST", path: "/v1/auth/refresh", body: map[string]any{"refresh_token": first.RefreshToken}}).expect(t, 200).decode(t, &second)

	// An attacker replays the stolen first token: refused, and the session ends.
	h.do(req{method: "POST", path: "/v1/auth/refresh", body: map[string]any{"refresh_token": first.RefreshToken}}).expect(t, 401, "refresh_token_reused")
	// The legitimate holder's newer token no longer works either.
	h.do(req{method: "POST", path: "/v1/auth/refresh", body: map[string]any{"refresh_token": second.RefreshToken}}).expect(t, 401, "session_revoked")
	// Other sessions of the same citizen are unaffected.
	other := h.devLogin("13800138000")
	h.do(req{method: "POST", path: "/v1/auth/refresh", body: map[string]any{"refresh_token": other.RefreshToken}}).expect(t, 200)
}

func TestARefreshTokenRacedTwentyTimesIsSpentOnce(t *testing.T) {
	h := newHarness(t)
	first := h.devLogin("13800138000")
	var wg sync.WaitGroup
	statuses := make(chan int, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			statuses <- h.do(req{method: "POST", path: "/v1/auth/refresh", body: map[string]any{"refresh_token": first.RefreshToken}}).Status
		}()
	}
	wg.Wait()
	close(statuses)
	ok := 0
	for s := range statuses {
		if s == 200 {
			ok++
		} else if s != 401 {
			t.Errorf("unexpected status %d", s)
		}
	}
	// Exactly one caller spends the token; the others count as reuse and end the session.
	if ok != 1 {
		t.Fatalf("%d refreshes succeeded with one token", ok)
	}
}

func TestUnknownRefreshTokenIs401(t *testing.T) {
	h := newHarness(t)
	h.do(req{method: "POST", path: "/v1/auth/refresh", body: map[string]any{"refresh_token": "not-a-token"}}).expect(t, 401, "invalid_refresh_token")
}

func TestLogoutEndsTheSession(t *testing.T) {
	h := newHarness(t)
	tk := h.devLogin("13800138000")
	h.do(req{method: "POST", path: "/v1/auth/logout", bearer: tk.AccessToken}).expect(t, 204)
	h.do(req{method: "POST", path: "/v1/auth/refresh", body: map[string]any{"refresh_token": tk.RefreshToken}}).expect(t, 401, "session_revoked")
	h.do(req{method: "POST", path: "/v1/auth/logout"}).expect(t, 401, "missing_token")
}

// forge signs a token the way an attacker or a misconfigured client might.
func forge(t *testing.T, method jwt.SigningMethod, key any, kid string, mutate func(*token.Claims)) string {
	t.Helper()
	now := time.Now()
	c := token.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Issuer: "carbon-account", Subject: "01J00000000000000000000000", Audience: jwt.ClaimStrings{"carbon-account-api"},
		IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Minute)),
	}, Role: domain.RoleAdmin}
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

func TestBadAccessTokensAre401(t *testing.T) {
	h := newHarness(t)
	good := forge(t, jwt.SigningMethodEdDSA, h.key.Private, h.key.ID, nil)
	h.do(req{method: "GET", path: "/v1/admin/me", bearer: good}).expect(t, 404, "operator_not_found") // control: accepted
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	parts := strings.Split(good, ".")
	cases := map[string]string{
		"expired": forge(t, jwt.SigningMethodEdDSA, h.key.Private, h.key.ID, func(c *token.Claims) {
			c.IssuedAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
			c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Minute))
		}),
		"tampered":          parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"x","role":"admin","aud":"carbon-account-api","iss":"carbon-account","exp":9999999999,"iat":1}`)) + "." + parts[2],
		"wrong algorithm":   forge(t, jwt.SigningMethodHS256, []byte(h.key.Public), h.key.ID, nil),
		"wrong audience":    forge(t, jwt.SigningMethodEdDSA, h.key.Private, h.key.ID, func(c *token.Claims) { c.Audience = jwt.ClaimStrings{"bank-api"} }),
		"unsigned":          forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, h.key.ID, nil),
		"foreign key":       forge(t, jwt.SigningMethodEdDSA, otherKey, h.key.ID, nil),
		"not a jwt":         "hello",
		"refresh as access": h.devLogin("13800138000").RefreshToken,
	}
	for name, raw := range cases {
		t.Run(name, func(t *testing.T) {
			h.do(req{method: "GET", path: "/v1/me", bearer: raw}).expect(t, 401, "invalid_token")
			h.do(req{method: "GET", path: "/v1/admin/operators", bearer: raw}).expect(t, 401, "invalid_token")
		})
	}
	t.Run("missing", func(t *testing.T) {
		r := h.do(req{method: "GET", path: "/v1/me"}).expect(t, 401, "missing_token")
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
			t.Fatal("401 without WWW-Authenticate: Bearer")
		}
		h.do(req{method: "GET", path: "/v1/me", headers: map[string]string{"Authorization": "Basic YWRtaW46YWRtaW4="}}).expect(t, 401, "missing_token")
	})
}

func TestRolesCannotActAboveThemselves(t *testing.T) {
	h := newHarness(t)
	citizen := h.devLogin("13800138000").AccessToken
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	h.createOperator(admin, "auditor1", domain.RoleAuditor)
	h.createOperator(admin, "operator1", domain.RoleOperator)
	auditor := h.operatorLogin("auditor1", adminPassword).AccessToken
	operator := h.operatorLogin("operator1", adminPassword).AccessToken
	newOp := map[string]any{"username": "mallory", "role": "admin", "password": adminPassword}

	h.do(req{method: "GET", path: "/v1/admin/operators", bearer: citizen}).expect(t, 403, "forbidden_role")
	h.do(req{method: "GET", path: "/v1/admin/me", bearer: citizen}).expect(t, 403, "forbidden_role")
	h.do(req{method: "POST", path: "/v1/admin/operators", bearer: citizen, body: newOp}).expect(t, 403, "forbidden_role")
	h.do(req{method: "POST", path: "/v1/admin/operators", bearer: auditor, body: newOp}).expect(t, 403, "forbidden_role")
	h.do(req{method: "POST", path: "/v1/admin/operators", bearer: operator, body: newOp}).expect(t, 403, "forbidden_role")
	h.do(req{method: "GET", path: "/v1/admin/operators", bearer: operator}).expect(t, 403, "forbidden_role")
	h.do(req{method: "GET", path: "/v1/admin/operators", bearer: auditor}).expect(t, 200)
	h.do(req{method: "GET", path: "/v1/me", bearer: admin}).expect(t, 403, "forbidden_role")
	h.do(req{method: "GET", path: "/v1/admin/me", bearer: operator}).expect(t, 200)
}
