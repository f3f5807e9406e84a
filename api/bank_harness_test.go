package api_test

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/huzhou-lvdaitong/carbon-account/api"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// withBanks wires the bank service on the harness's store (the store behind the
// auth service) and shared state, with a cheap bcrypt cost; change adjusts it.
func withBanks(change ...func(*domain.BankService)) harnessOption {
	return func(d *api.Deps, auth *domain.AuthService) {
		banks, _ := auth.Operators.(domain.BankStore)
		creds, _ := auth.Operators.(domain.BankCredentialStore)
		if banks == nil || creds == nil {
			panic("the harness store keeps no banks or bank credentials")
		}
		svc := &domain.BankService{Banks: banks, Credentials: creds, Limiter: auth.Limiter, Now: domain.Now,
			SecretCost: bcrypt.MinCost}
		for _, c := range change {
			c(svc)
		}
		d.Banks = svc
	}
}

type bankJSON struct {
	ID        string `json:"id"`
	Code      string `json:"code"`
	Name      string `json:"name"`
	CreatedAt string `json:"created_at"`
	CreatedBy string `json:"created_by"`
}

type credentialJSON struct {
	ID           string   `json:"id"`
	BankID       string   `json:"bank_id"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	Scopes       []string `json:"scopes"`
	CreatedAt    string   `json:"created_at"`
	CreatedBy    string   `json:"created_by"`
	RevokedAt    *string  `json:"revoked_at"`
}

type bankTokenJSON struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
}

type oauthErrorJSON struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func (h *harness) createBank(bearer, code, name string) bankJSON {
	h.t.Helper()
	var b bankJSON
	h.do(req{method: "POST", path: "/v1/admin/banks", bearer: bearer, body: map[string]any{"code": code, "name": name}}).
		expect(h.t, 201).decode(h.t, &b)
	return b
}

// issueCredential issues a credential with scopes (nil: no body, every scope).
func (h *harness) issueCredential(bearer, bankID string, scopes []string) credentialJSON {
	h.t.Helper()
	r := req{method: "POST", path: "/v1/admin/banks/" + bankID + "/credentials", bearer: bearer}
	if scopes != nil {
		r.body = map[string]any{"scopes": scopes}
	}
	var c credentialJSON
	h.do(r).expect(h.t, 201).decode(h.t, &c)
	return c
}

// tokenRequest posts form to the bank token endpoint, with HTTP Basic when
// basic holds a client id and secret.
func (h *harness) tokenRequest(form url.Values, basic []string, headers ...string) response {
	h.t.Helper()
	r := req{method: "POST", path: "/v1/bank/oauth/token", raw: []byte(form.Encode()),
		contentType: "application/x-www-form-urlencoded", headers: map[string]string{}}
	if basic != nil {
		r.headers["Authorization"] = basicAuth(basic[0], basic[1])
	}
	for i := 0; i+1 < len(headers); i += 2 {
		r.headers[headers[i]] = headers[i+1]
	}
	return h.do(r)
}

func basicAuth(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// bankToken gets a token for the credential with HTTP Basic.
func (h *harness) bankToken(c credentialJSON, scope string) bankTokenJSON {
	h.t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		form.Set("scope", scope)
	}
	var tk bankTokenJSON
	h.tokenRequest(form, []string{c.ClientID, c.ClientSecret}).expect(h.t, 200).decode(h.t, &tk)
	return tk
}

// oauthError checks that r is an OAuth2 error body (never a problem) with status
// and code.
func (r response) oauthError(t *testing.T, status int, code string) oauthErrorJSON {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d; body %s", r.Status, status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("content type %q, want application/json; body %s", ct, r.Body)
	}
	var e oauthErrorJSON
	r.decode(t, &e)
	if e.Error != code || e.ErrorDescription == "" {
		t.Fatalf("OAuth error %+v, want %q; body %s", e, code, r.Body)
	}
	if strings.Contains(string(r.Body), `"type"`) || strings.Contains(string(r.Body), `"code"`) {
		t.Fatalf("token endpoint answered a problem: %s", r.Body)
	}
	if r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("Cache-Control %q, want no-store", r.Header.Get("Cache-Control"))
	}
	return e
}
