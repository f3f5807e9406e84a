package api

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/memory"
	"github.com/huzhou-lvdaitong/carbon-account/adapters/sqlite"
	"github.com/huzhou-lvdaitong/carbon-account/api/token"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// No route needs a scope yet (the consent and redemption routes will), so
// allowBank's scope check is tested on routes made up here.
func TestAllowBankChecksScopes(t *testing.T) {
	ctx := context.Background()
	store, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "carbon.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	banks := &domain.BankService{Banks: store, Credentials: store, Limiter: memory.NewSharedState(), Now: domain.Now, SecretCost: bcrypt.MinCost}
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	tokens := token.NewAuthority(token.NewKey(priv), nil, "iss", "aud", 15*time.Minute, time.Now)
	s := &server{Deps: Deps{Banks: banks}, log: slog.New(slog.DiscardHandler), tokens: tokens}
	app := fiber.New(fiber.Config{ErrorHandler: s.errorHandler})
	ok := func(c *fiber.Ctx) error { return c.SendString(bankCredential(c).ID) }
	app.Get("/write", s.allowBank(domain.ScopeRedemptionsWrite), ok)
	app.Get("/read-and-exchange", s.allowBank(domain.ScopeRedemptionsRead, domain.ScopeConsentsExchange), ok)

	b, err := banks.CreateBank(ctx, domain.NewBankInput{Code: "test_bank", Name: "测试银行"}, "op")
	if err != nil {
		t.Fatal(err)
	}
	cred, _, err := banks.IssueCredential(ctx, b.ID, nil, "op")
	if err != nil {
		t.Fatal(err)
	}
	mint := func(scope string) string {
		raw, err := tokens.MintTTL(token.Principal{SubjectID: b.ID, Role: domain.RoleBank, SessionID: cred.ID, Scope: scope}, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	get := func(path, bearer string) (int, string, string) {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Authorization", "Bearer "+bearer)
		res, err := app.Test(req)
		if err != nil {
			t.Fatal(err)
		}
		var p Problem
		_ = json.NewDecoder(res.Body).Decode(&p)
		return res.StatusCode, p.Code, res.Header.Get("WWW-Authenticate")
	}

	for _, tc := range []struct {
		path, scope string
		status      int
		code        string
	}{
		{"/write", "redemptions:write", 200, ""},
		{"/write", "consents:exchange redemptions:write redemptions:read", 200, ""},
		{"/write", "redemptions:read", 403, "insufficient_scope"},
		{"/write", "", 403, "insufficient_scope"},
		{"/read-and-exchange", "consents:exchange redemptions:read", 200, ""},
		{"/read-and-exchange", "redemptions:read", 403, "insufficient_scope"},
	} {
		status, code, challenge := get(tc.path, mint(tc.scope))
		if status != tc.status || code != tc.code {
			t.Errorf("%s with scope %q: %d %q, want %d %q", tc.path, tc.scope, status, code, tc.status, tc.code)
		}
		if tc.code == "insufficient_scope" && challenge == "" {
			t.Errorf("%s with scope %q: no WWW-Authenticate", tc.path, tc.scope)
		}
	}

	// A token naming another bank than its credential's is refused like a revoked one.
	other, err := tokens.MintTTL(token.Principal{SubjectID: "01OTHERBANK", Role: domain.RoleBank, SessionID: cred.ID, Scope: "redemptions:write"}, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if status, code, _ := get("/write", other); status != 401 || code != "invalid_token" {
		t.Errorf("token for another bank: %d %q", status, code)
	}

}
