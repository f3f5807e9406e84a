package api_test

import (
	"encoding/base64"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

type bankMeJSON struct {
	BankID   string   `json:"bank_id"`
	Code     string   `json:"code"`
	Name     string   `json:"name"`
	ClientID string   `json:"client_id"`
	Scopes   []string `json:"scopes"`
}

// newBankSetup returns a harness with banks, an admin token and one bank with
// one credential holding every scope.
func newBankSetup(t *testing.T, opts ...harnessOption) (*harness, string, bankJSON, credentialJSON) {
	t.Helper()
	h := newHarness(t, append([]harnessOption{withBanks()}, opts...)...)
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	b := h.createBank(admin, "huzhou_bank", "湖州银行")
	return h, admin, b, h.issueCredential(admin, b.ID, nil)
}

func TestBankTokenWithBasicOrBodyCredentials(t *testing.T) {
	h, _, bank, cred := newBankSetup(t)
	form := url.Values{"grant_type": {"client_credentials"}}

	basic := h.tokenRequest(form, []string{cred.ClientID, cred.ClientSecret}).expect(t, 200)
	body := h.tokenRequest(url.Values{"grant_type": {"client_credentials"}, "client_id": {cred.ClientID},
		"client_secret": {cred.ClientSecret}}, nil).expect(t, 200)
	// Basic with the client_id repeated in the body is fine (some clients do that).
	both := h.tokenRequest(url.Values{"grant_type": {"client_credentials"}, "client_id": {cred.ClientID}},
		[]string{cred.ClientID, cred.ClientSecret}).expect(t, 200)

	for name, r := range map[string]response{"basic": basic, "body": body, "basic+client_id": both} {
		if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("Pragma") != "no-cache" {
			t.Errorf("%s: Cache-Control %q, Pragma %q", name, r.Header.Get("Cache-Control"), r.Header.Get("Pragma"))
		}
		var tk bankTokenJSON
		r.decode(t, &tk)
		if tk.TokenType != "Bearer" || tk.ExpiresIn != 600 || tk.Scope != "consents:exchange redemptions:write redemptions:read" {
			t.Errorf("%s: token response %+v", name, tk)
		}
		p, err := h.tokens.Verify(tk.AccessToken)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if p.Role != domain.RoleBank || p.SubjectID != bank.ID || p.SessionID != cred.ID || p.Scope != tk.Scope {
			t.Errorf("%s: principal %+v", name, p)
		}
		var me bankMeJSON
		h.do(req{method: "GET", path: "/v1/bank/me", bearer: tk.AccessToken}).expect(t, 200).decode(t, &me)
		if me.BankID != bank.ID || me.Code != "huzhou_bank" || me.Name != "湖州银行" || me.ClientID != cred.ClientID ||
			!slices.Equal(me.Scopes, domain.BankScopes) {
			t.Errorf("%s: /v1/bank/me = %+v", name, me)
		}
	}
}

func TestBankTokenLifetimeIsConfigurable(t *testing.T) {
	h, _, _, cred := newBankSetup(t, withBanks(func(s *domain.BankService) { s.TokenTTL = 5 * time.Minute }))
	if tk := h.bankToken(cred, ""); tk.ExpiresIn != 300 {
		t.Fatalf("expires_in %d, want 300", tk.ExpiresIn)
	}
}

// An unknown client, a wrong secret and a revoked credential get one answer, so
// the answer tells nothing about which client ids exist.
func TestBankTokenRefusesBadClientsAlike(t *testing.T) {
	h, admin, bank, cred := newBankSetup(t)
	form := url.Values{"grant_type": {"client_credentials"}}
	wrongSecret := h.tokenRequest(form, []string{cred.ClientID, cred.ClientSecret + "x"})
	unknown := h.tokenRequest(form, []string{"bank_doesnotexist", cred.ClientSecret})
	bodyWrong := h.tokenRequest(url.Values{"grant_type": {"client_credentials"}, "client_id": {cred.ClientID},
		"client_secret": {"wrong"}}, nil)
	bodyUnknown := h.tokenRequest(url.Values{"grant_type": {"client_credentials"}, "client_id": {"bank_doesnotexist"},
		"client_secret": {"wrong"}}, nil)
	revoked := h.issueCredential(admin, bank.ID, nil)
	h.do(req{method: "DELETE", path: "/v1/admin/banks/" + bank.ID + "/credentials/" + revoked.ID, bearer: admin}).expect(t, 204)
	revokedBasic := h.tokenRequest(form, []string{revoked.ClientID, revoked.ClientSecret})

	want := wrongSecret.oauthError(t, 401, "invalid_client")
	for name, r := range map[string]response{"unknown client": unknown, "wrong secret in body": bodyWrong,
		"unknown client in body": bodyUnknown, "revoked credential": revokedBasic, "wrong secret": wrongSecret} {
		if got := r.oauthError(t, 401, "invalid_client"); got != want {
			t.Errorf("%s: %+v, want the same as a wrong secret: %+v", name, got, want)
		}
		if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic realm=") {
			t.Errorf("%s: WWW-Authenticate %q", name, r.Header.Get("WWW-Authenticate"))
		}
	}
	// The good credential still works.
	h.bankToken(cred, "")
}

func TestBankTokenRefusesMalformedRequests(t *testing.T) {
	h, _, _, cred := newBankSetup(t)
	good := func() url.Values {
		return url.Values{"grant_type": {"client_credentials"}}
	}
	basic := []string{cred.ClientID, cred.ClientSecret}
	cases := []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"both authentication methods", req{raw: []byte(url.Values{"grant_type": {"client_credentials"}, "client_id": {cred.ClientID},
			"client_secret": {cred.ClientSecret}}.Encode()), headers: map[string]string{"Authorization": basicAuth(basic[0], basic[1])}}, 400, "invalid_request"},
		{"another client_id in the body", req{raw: []byte(url.Values{"grant_type": {"client_credentials"}, "client_id": {"bank_other"}}.Encode()),
			headers: map[string]string{"Authorization": basicAuth(basic[0], basic[1])}}, 400, "invalid_request"},
		{"JSON body", req{raw: []byte(`{"grant_type":"client_credentials","client_id":"` + cred.ClientID + `","client_secret":"` + cred.ClientSecret + `"}`),
			contentType: "application/json"}, 400, "invalid_request"},
		{"no body", req{headers: map[string]string{"Authorization": basicAuth(basic[0], basic[1])}}, 400, "invalid_request"},
		{"no grant_type", req{raw: []byte("scope=redemptions%3Aread"), headers: map[string]string{"Authorization": basicAuth(basic[0], basic[1])}}, 400, "invalid_request"},
		{"empty grant_type", req{raw: []byte("grant_type="), headers: map[string]string{"Authorization": basicAuth(basic[0], basic[1])}}, 400, "invalid_request"},
		{"password grant", req{raw: []byte("grant_type=password&username=a&password=b"), headers: map[string]string{"Authorization": basicAuth(basic[0], basic[1])}}, 400, "unsupported_grant_type"},
		{"authorization_code grant", req{raw: []byte("grant_type=authorization_code&code=x")}, 400, "unsupported_grant_type"},
		{"repeated grant_type", req{raw: []byte("grant_type=client_credentials&grant_type=client_credentials"),
			headers: map[string]string{"Authorization": basicAuth(basic[0], basic[1])}}, 400, "invalid_request"},
		{"secret in the URL", req{path: "/v1/bank/oauth/token?client_secret=" + cred.ClientSecret, raw: []byte(good().Encode()),
			headers: map[string]string{"Authorization": basicAuth(basic[0], basic[1])}}, 400, "invalid_request"},
		{"malformed form", req{raw: []byte("grant_type=%zz"), headers: map[string]string{"Authorization": basicAuth(basic[0], basic[1])}}, 400, "invalid_request"},
		{"no client authentication", req{raw: []byte(good().Encode())}, 401, "invalid_client"},
		{"client_id without secret", req{raw: []byte(url.Values{"grant_type": {"client_credentials"}, "client_id": {cred.ClientID}}.Encode())}, 401, "invalid_client"},
		{"Bearer instead of Basic", req{raw: []byte(good().Encode()), headers: map[string]string{"Authorization": "Bearer " + cred.ClientSecret}}, 401, "invalid_client"},
		{"Basic not base64", req{raw: []byte(good().Encode()), headers: map[string]string{"Authorization": "Basic !!!"}}, 401, "invalid_client"},
		{"Basic without colon", req{raw: []byte(good().Encode()), headers: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(cred.ClientID))}}, 401, "invalid_client"},
		{"Basic with empty secret", req{raw: []byte(good().Encode()), headers: map[string]string{"Authorization": basicAuth(cred.ClientID, "")}}, 401, "invalid_client"},
		{"operator injection in client_id", req{raw: []byte(url.Values{"grant_type": {"client_credentials"}, "client_id": {`{"$gt":""}`},
			"client_secret": {`{"$ne":null}`}}.Encode())}, 401, "invalid_client"},
		{"oversized client_id", req{raw: []byte(url.Values{"grant_type": {"client_credentials"}, "client_id": {strings.Repeat("b", 5000)},
			"client_secret": {"x"}}.Encode())}, 401, "invalid_client"},
		{"oversized secret", req{raw: []byte(good().Encode()), headers: map[string]string{"Authorization": basicAuth(cred.ClientID, strings.Repeat("s", 300))}}, 401, "invalid_client"},
		{"unknown scope", req{raw: []byte("grant_type=client_credentials&scope=admin"), headers: map[string]string{"Authorization": basicAuth(basic[0], basic[1])}}, 400, "invalid_scope"},
		{"malformed scope", req{raw: []byte("grant_type=client_credentials&scope=redemptions%3Aread++consents%3Aexchange"),
			headers: map[string]string{"Authorization": basicAuth(basic[0], basic[1])}}, 400, "invalid_scope"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.r.method = "POST"
			if tc.r.path == "" {
				tc.r.path = "/v1/bank/oauth/token"
			}
			if tc.r.contentType == "" {
				tc.r.contentType = "application/x-www-form-urlencoded"
			}
			h.t = t
			h.do(tc.r).oauthError(t, tc.status, tc.code)
		})
	}
	// A content type with parameters is still a form.
	h.t = t
	h.tokenRequest(good(), basic, "Content-Type", "application/x-www-form-urlencoded; charset=UTF-8").expect(t, 200)
	// Unknown parameters are ignored (RFC 6749 §3.2).
	form := good()
	form.Set("audience", "whatever")
	h.tokenRequest(form, basic).expect(t, 200)
	// Other methods on the route are ordinary problems.
	h.do(req{method: "GET", path: "/v1/bank/oauth/token"}).expect(t, 405, "method_not_allowed")
}

func TestBankTokenScopes(t *testing.T) {
	h, admin, bank, _ := newBankSetup(t)
	cred := h.issueCredential(admin, bank.ID, []string{domain.ScopeRedemptionsRead, domain.ScopeConsentsExchange})
	if !slices.Equal(cred.Scopes, []string{domain.ScopeConsentsExchange, domain.ScopeRedemptionsRead}) {
		t.Fatalf("credential scopes %v", cred.Scopes)
	}
	if tk := h.bankToken(cred, ""); tk.Scope != "consents:exchange redemptions:read" {
		t.Fatalf("default scope %q", tk.Scope)
	}
	tk := h.bankToken(cred, "redemptions:read")
	if tk.Scope != "redemptions:read" {
		t.Fatalf("subset scope %q", tk.Scope)
	}
	var me bankMeJSON
	h.do(req{method: "GET", path: "/v1/bank/me", bearer: tk.AccessToken}).expect(t, 200).decode(t, &me)
	if !slices.Equal(me.Scopes, []string{"redemptions:read"}) {
		t.Fatalf("/v1/bank/me scopes %v", me.Scopes)
	}
	for _, scope := range []string{"redemptions:read redemptions:write", "redemptions:write"} {
		h.tokenRequest(url.Values{"grant_type": {"client_credentials"}, "scope": {scope}}, []string{cred.ClientID, cred.ClientSecret}).
			oauthError(t, 400, "invalid_scope")
	}
}

// Revoking a credential stops token requests with it and, at once, every token
// issued to it before.
func TestRevokedBankCredentialStopsItsTokensAtOnce(t *testing.T) {
	h, admin, bank, cred := newBankSetup(t)
	other := h.issueCredential(admin, bank.ID, nil)
	tk, otherTk := h.bankToken(cred, ""), h.bankToken(other, "")
	h.do(req{method: "GET", path: "/v1/bank/me", bearer: tk.AccessToken}).expect(t, 200)

	h.do(req{method: "DELETE", path: "/v1/admin/banks/" + bank.ID + "/credentials/" + cred.ID, bearer: admin}).expect(t, 204)

	r := h.do(req{method: "GET", path: "/v1/bank/me", bearer: tk.AccessToken}).expect(t, 401, "invalid_token")
	if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
		t.Errorf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
	}
	h.tokenRequest(url.Values{"grant_type": {"client_credentials"}}, []string{cred.ClientID, cred.ClientSecret}).oauthError(t, 401, "invalid_client")
	// The bank's other credential is untouched.
	h.do(req{method: "GET", path: "/v1/bank/me", bearer: otherTk.AccessToken}).expect(t, 200)
	h.bankToken(other, "")

	// Revoking again succeeds and keeps the first time.
	var before, after struct{ Items []credentialJSON }
	h.do(req{method: "GET", path: "/v1/admin/banks/" + bank.ID + "/credentials", bearer: admin}).expect(t, 200).decode(t, &before)
	h.do(req{method: "DELETE", path: "/v1/admin/banks/" + bank.ID + "/credentials/" + cred.ID, bearer: admin}).expect(t, 204)
	h.do(req{method: "GET", path: "/v1/admin/banks/" + bank.ID + "/credentials", bearer: admin}).expect(t, 200).decode(t, &after)
	if len(after.Items) != 2 || after.Items[0].ID != cred.ID || after.Items[0].RevokedAt == nil ||
		*after.Items[0].RevokedAt != *before.Items[0].RevokedAt || after.Items[1].RevokedAt != nil {
		t.Fatalf("credentials after revoking twice: %+v", after.Items)
	}
}

// Bank tokens are for the bank API only, and only bank tokens are.
func TestBankTokensAndOtherRolesStayApart(t *testing.T) {
	h, admin, _, cred := newBankSetup(t)
	bankTk := h.bankToken(cred, "").AccessToken
	citizen := h.devLogin("13800138000").AccessToken

	h.do(req{method: "GET", path: "/v1/bank/me", bearer: citizen}).expect(t, 403, "forbidden_role")
	h.do(req{method: "GET", path: "/v1/bank/me", bearer: admin}).expect(t, 403, "forbidden_role")
	h.do(req{method: "GET", path: "/v1/bank/me"}).expect(t, 401, "missing_token")
	h.do(req{method: "GET", path: "/v1/bank/me", bearer: bankTk + "x"}).expect(t, 401, "invalid_token")

	for _, r := range []req{
		{method: "GET", path: "/v1/me"},
		{method: "GET", path: "/v1/actions"},
		{method: "GET", path: "/v1/leaderboards?period=day"},
		{method: "POST", path: "/v1/auth/logout"},
		{method: "GET", path: "/v1/admin/me"},
		{method: "GET", path: "/v1/admin/banks"},
		{method: "POST", path: "/v1/admin/banks", body: map[string]any{"code": "evil_bank", "name": "Evil"}},
		{method: "GET", path: "/v1/admin/banks/" + cred.BankID + "/credentials"},
		{method: "POST", path: "/v1/admin/banks/" + cred.BankID + "/credentials"},
		{method: "DELETE", path: "/v1/admin/banks/" + cred.BankID + "/credentials/" + cred.ID},
		{method: "GET", path: "/v1/admin/operators"},
	} {
		r.bearer = bankTk
		h.do(r).expect(t, 403, "forbidden_role")
	}
	// The bank could not revoke its own credential.
	h.do(req{method: "GET", path: "/v1/bank/me", bearer: bankTk}).expect(t, 200)
}

func TestBankTokenRequestsAreRateLimited(t *testing.T) {
	h, _, _, cred := newBankSetup(t, withBanks(func(s *domain.BankService) { s.TokenAttempts = 2 }))
	form := url.Values{"grant_type": {"client_credentials"}}
	h.tokenRequest(form, []string{cred.ClientID, cred.ClientSecret}).expect(t, 200)
	h.tokenRequest(form, []string{cred.ClientID, "wrong"}).oauthError(t, 401, "invalid_client")
	r := h.tokenRequest(form, []string{cred.ClientID, cred.ClientSecret})
	r.oauthError(t, 429, "slow_down")
	if r.Header.Get("Retry-After") == "" {
		t.Fatal("no Retry-After")
	}
}
