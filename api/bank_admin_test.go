package api_test

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func TestOperatorsManageBanks(t *testing.T) {
	h := newHarness(t, withBanks())
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	h.createOperator(admin, "ops", domain.RoleOperator)
	h.createOperator(admin, "audit", domain.RoleAuditor)
	ops := h.operatorLogin("ops", adminPassword).AccessToken
	audit := h.operatorLogin("audit", adminPassword).AccessToken
	citizen := h.devLogin("13800138000").AccessToken

	r := h.do(req{method: "POST", path: "/v1/admin/banks", bearer: ops, body: map[string]any{"code": "test_bank", "name": "测试银行"}}).expect(t, 201)
	var b bankJSON
	r.decode(t, &b)
	if b.Code != "test_bank" || b.Name != "测试银行" || b.ID == "" || b.CreatedBy == "" {
		t.Fatalf("created %+v", b)
	}
	if loc := r.Header.Get("Location"); loc != "/v1/admin/banks/"+b.ID {
		t.Fatalf("Location %q", loc)
	}
	h.do(req{method: "POST", path: "/v1/admin/banks", bearer: admin, body: map[string]any{"code": "test_bank", "name": "又一个"}}).
		expect(t, 409, "bank_code_taken")

	for _, token := range []string{admin, ops, audit} {
		var got bankJSON
		h.do(req{method: "GET", path: "/v1/admin/banks/" + b.ID, bearer: token}).expect(t, 200).decode(t, &got)
		if got != b {
			t.Fatalf("GET bank = %+v, want %+v", got, b)
		}
		var list struct {
			Items      []bankJSON `json:"items"`
			NextCursor *string    `json:"next_cursor"`
		}
		h.do(req{method: "GET", path: "/v1/admin/banks", bearer: token}).expect(t, 200).decode(t, &list)
		if !slices.Contains(list.Items, b) || list.NextCursor != nil {
			t.Fatalf("list %+v does not hold %+v", list, b)
		}
	}
	h.do(req{method: "GET", path: "/v1/admin/banks/01NOSUCHBANK", bearer: admin}).expect(t, 404, "bank_not_found")

	// Auditors and citizens may not write; citizens may not read.
	h.do(req{method: "POST", path: "/v1/admin/banks", bearer: audit, body: map[string]any{"code": "x_bank", "name": "X"}}).expect(t, 403, "forbidden_role")
	h.do(req{method: "POST", path: "/v1/admin/banks/" + b.ID + "/credentials", bearer: audit}).expect(t, 403, "forbidden_role")
	h.do(req{method: "GET", path: "/v1/admin/banks", bearer: citizen}).expect(t, 403, "forbidden_role")
	h.do(req{method: "GET", path: "/v1/admin/banks/" + b.ID, bearer: citizen}).expect(t, 403, "forbidden_role")
	h.do(req{method: "GET", path: "/v1/admin/banks"}).expect(t, 401, "missing_token")

	cred := h.issueCredential(ops, b.ID, nil)
	h.do(req{method: "DELETE", path: "/v1/admin/banks/" + b.ID + "/credentials/" + cred.ID, bearer: audit}).expect(t, 403, "forbidden_role")
	h.do(req{method: "GET", path: "/v1/admin/banks/" + b.ID + "/credentials", bearer: audit}).expect(t, 200)
	h.do(req{method: "DELETE", path: "/v1/admin/banks/" + b.ID + "/credentials/" + cred.ID, bearer: ops}).expect(t, 204)
}

func TestCreateBankRefusesBadInput(t *testing.T) {
	h := newHarness(t, withBanks())
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	for _, tc := range []struct {
		name string
		r    req
		code string
	}{
		{"code too short", req{body: map[string]any{"code": "a", "name": "A"}}, "validation_failed"},
		{"upper case code", req{body: map[string]any{"code": "Huzhou", "name": "A"}}, "validation_failed"},
		{"code with a dash", req{body: map[string]any{"code": "hu-zhou", "name": "A"}}, "validation_failed"},
		{"operator injection", req{raw: []byte(`{"code": {"$gt": ""}, "name": "A"}`)}, "validation_failed"},
		{"name too long", req{body: map[string]any{"code": "ok_bank", "name": strings.Repeat("行", 65)}}, "validation_failed"},
		{"name with spaces around", req{body: map[string]any{"code": "ok_bank", "name": " 行 "}}, "validation_failed"},
		{"missing name", req{body: map[string]any{"code": "ok_bank"}}, "validation_failed"},
		{"unknown field", req{body: map[string]any{"code": "ok_bank", "name": "A", "id": "01X"}}, "validation_failed"},
		{"not JSON", req{raw: []byte("code=ok_bank"), contentType: "application/x-www-form-urlencoded"}, "unsupported_media_type"},
		{"empty body", req{raw: []byte{}}, "empty_body"},
		{"array", req{raw: []byte(`[]`)}, "malformed_json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			tc.r.method, tc.r.path, tc.r.bearer = "POST", "/v1/admin/banks", admin
			h.do(tc.r).expect(t, 400, tc.code)
		})
	}
	h.t = t
	var list struct{ Items []bankJSON }
	h.do(req{method: "GET", path: "/v1/admin/banks", bearer: admin}).expect(t, 200).decode(t, &list)
	for _, b := range list.Items {
		if b.CreatedBy != "seed" {
			t.Errorf("a refused request created %+v", b)
		}
	}
}

// Secrets are shown once, stored only as a bcrypt hash, and never listed.
func TestBankCredentialSecretsAreShownOnceAndStoredHashed(t *testing.T) {
	h := newHarness(t, withBanks())
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	b := h.createBank(admin, "test_bank", "测试银行")
	r := h.do(req{method: "POST", path: "/v1/admin/banks/" + b.ID + "/credentials", bearer: admin,
		body: map[string]any{"scopes": []string{"redemptions:read"}}}).expect(t, 201)
	var cred credentialJSON
	r.decode(t, &cred)
	if len(cred.ClientSecret) != 43 || !strings.HasPrefix(cred.ClientID, "bank_") || cred.BankID != b.ID ||
		!slices.Equal(cred.Scopes, []string{"redemptions:read"}) || cred.RevokedAt != nil {
		t.Fatalf("issued %+v", cred)
	}

	stored, err := h.store.GetBankCredential(t.Context(), cred.ID)
	if err != nil {
		t.Fatal(err)
	}
	if stored.SecretHash == cred.ClientSecret || strings.Contains(stored.SecretHash, cred.ClientSecret) ||
		!strings.HasPrefix(stored.SecretHash, "$2") || bcrypt.CompareHashAndPassword([]byte(stored.SecretHash), []byte(cred.ClientSecret)) != nil {
		t.Fatalf("stored secret hash %q", stored.SecretHash)
	}

	list := h.do(req{method: "GET", path: "/v1/admin/banks/" + b.ID + "/credentials", bearer: admin}).expect(t, 200)
	for _, leak := range []string{cred.ClientSecret, stored.SecretHash, "secret", "$2"} {
		if strings.Contains(string(list.Body), leak) {
			t.Fatalf("credential list contains %q: %s", leak, list.Body)
		}
	}
	var got struct {
		Items []credentialJSON `json:"items"`
	}
	list.decode(t, &got)
	if len(got.Items) != 1 || got.Items[0].ID != cred.ID || got.Items[0].ClientID != cred.ClientID {
		t.Fatalf("list %+v", got.Items)
	}
	// The secret works once shown, and nothing else reveals it again.
	h.bankToken(cred, "")
}

func TestIssueAndRevokeCredentialRefuseBadInput(t *testing.T) {
	h := newHarness(t, withBanks())
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	mine := h.createBank(admin, "bank_a", "甲银行")
	theirs := h.createBank(admin, "bank_b", "乙银行")
	theirCred := h.issueCredential(admin, theirs.ID, nil)
	path := "/v1/admin/banks/" + mine.ID + "/credentials"

	for _, tc := range []struct {
		name   string
		r      req
		status int
		code   string
	}{
		{"empty scopes", req{body: map[string]any{"scopes": []string{}}}, 400, "validation_failed"},
		{"unknown scope", req{body: map[string]any{"scopes": []string{"admin"}}}, 400, "validation_failed"},
		{"scopes not a list", req{body: map[string]any{"scopes": "redemptions:read"}}, 400, "validation_failed"},
		{"injection", req{raw: []byte(`{"scopes": [{"$gt": ""}]}`)}, 400, "validation_failed"},
		{"too many scopes", req{body: map[string]any{"scopes": slices.Repeat([]string{"redemptions:read"}, 17)}}, 400, "validation_failed"},
		{"unknown field", req{body: map[string]any{"client_secret": "mine"}}, 400, "validation_failed"},
		{"not JSON", req{raw: []byte("scopes=x"), contentType: "text/plain"}, 400, "unsupported_media_type"},
		{"unknown bank", req{path: "/v1/admin/banks/01NOSUCHBANK/credentials"}, 404, "bank_not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h.t = t
			tc.r.method, tc.r.bearer = "POST", admin
			if tc.r.path == "" {
				tc.r.path = path
			}
			h.do(tc.r).expect(t, tc.status, tc.code)
		})
	}
	h.t = t
	var list struct{ Items []credentialJSON }
	h.do(req{method: "GET", path: path, bearer: admin}).expect(t, 200).decode(t, &list)
	if len(list.Items) != 0 {
		t.Fatalf("refused requests issued %+v", list.Items)
	}
	h.do(req{method: "GET", path: "/v1/admin/banks/01NOSUCHBANK/credentials", bearer: admin}).expect(t, 404, "bank_not_found")

	// A credential is revoked only through its own bank.
	h.do(req{method: "DELETE", path: path + "/" + theirCred.ID, bearer: admin}).expect(t, 404, "bank_credential_not_found")
	h.do(req{method: "DELETE", path: path + "/01NOSUCHCREDENTIAL", bearer: admin}).expect(t, 404, "bank_credential_not_found")
	h.bankToken(theirCred, "")
}
