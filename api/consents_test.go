package api_test

import (
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/api"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

type consentJSON struct {
	ID          string  `json:"id"`
	Code        string  `json:"code"`
	BankID      string  `json:"bank_id"`
	BankName    string  `json:"bank_name"`
	Scope       string  `json:"scope"`
	Status      string  `json:"status"`
	CreatedAt   string  `json:"created_at"`
	ExpiresAt   string  `json:"expires_at"`
	ExchangedAt *string `json:"exchanged_at"`
	RevokedAt   *string `json:"revoked_at"`
}

type carbonProfileJSON struct {
	CitizenRef  string `json:"citizen_ref"`
	Scope       string `json:"scope"`
	Level       int    `json:"level"`
	LevelName   string `json:"level_name"`
	CO2eGTotal  int64  `json:"co2e_g_total"`
	Balance     int64  `json:"balance"`
	ExchangedAt string `json:"exchanged_at"`
}

// consentClock is a settable clock for the consent service.
type consentClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *consentClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *consentClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// withConsentClock makes the consent service read the time from clock.
func withConsentClock(clock *consentClock) harnessOption {
	return func(d *api.Deps, _ *domain.AuthService) { d.Consents.Now = clock.Now }
}

// consentWorld is a harness with two banks, each with a token that may exchange
// consents, and an admin token.
type consentWorld struct {
	*harness
	admin        string
	bankA, bankB bankJSON
	tokenA       string
	tokenB       string
	credA        credentialJSON
}

func newConsentWorld(t *testing.T, opts ...harnessOption) *consentWorld {
	t.Helper()
	h := newHarness(t, append([]harnessOption{withBanks()}, opts...)...)
	w := &consentWorld{harness: h, admin: h.operatorLogin("admin", adminPassword).AccessToken}
	w.bankA = h.createBank(w.admin, "consent_bank_a", "湖州银行")
	w.bankB = h.createBank(w.admin, "consent_bank_b", "安吉农商银行")
	w.credA = h.issueCredential(w.admin, w.bankA.ID, nil)
	w.tokenA = h.bankToken(w.credA, "").AccessToken
	w.tokenB = h.bankToken(h.issueCredential(w.admin, w.bankB.ID, nil), "").AccessToken
	return w
}

func (w *consentWorld) grant(citizen, bankID string) consentJSON {
	w.t.Helper()
	var c consentJSON
	w.do(req{method: "POST", path: "/v1/me/consents", bearer: citizen,
		body: map[string]any{"bank_id": bankID, "scope": "carbon_profile"}}).expect(w.t, 201).decode(w.t, &c)
	return c
}

func (w *consentWorld) exchange(bankToken, code string) response {
	w.t.Helper()
	return w.do(req{method: "POST", path: "/v1/bank/consents/exchange", bearer: bankToken, body: map[string]any{"code": code}})
}

func (w *consentWorld) consents(citizen string) []consentJSON {
	w.t.Helper()
	var page struct {
		Items []consentJSON `json:"items"`
	}
	r := w.do(req{method: "GET", path: "/v1/me/consents", bearer: citizen}).expect(w.t, 200)
	if strings.Contains(string(r.Body), `"code"`) {
		w.t.Fatalf("the consent list shows codes: %s", r.Body)
	}
	r.decode(w.t, &page)
	return page.Items
}

func (w *consentWorld) citizenID(bearer string) string {
	w.t.Helper()
	var me struct {
		ID string `json:"id"`
	}
	w.do(req{method: "GET", path: "/v1/me", bearer: bearer}).expect(w.t, 200).decode(w.t, &me)
	return me.ID
}

func TestConsentIsGrantedAndExchangedOnce(t *testing.T) {
	w := newConsentWorld(t)
	const phone = "13800138000"
	citizen := w.devLogin(phone).AccessToken
	w.credit(citizen, 345, 60_000) // level 2 (中绿) from 50 kg
	citizenID := w.citizenID(citizen)

	before := time.Now().Add(-time.Second)
	c := w.grant(citizen, w.bankA.ID)
	if len(c.Code) != domain.ConsentCodeLength || c.Status != "active" || c.BankName != "湖州银行" || c.Scope != "carbon_profile" {
		t.Fatalf("created consent %+v", c)
	}
	created, _ := time.Parse(time.RFC3339Nano, c.CreatedAt)
	expires, _ := time.Parse(time.RFC3339Nano, c.ExpiresAt)
	if created.Before(before) || expires.Sub(created) != domain.DefaultConsentCodeTTL {
		t.Fatalf("created %s, expires %s: want a %v code", c.CreatedAt, c.ExpiresAt, domain.DefaultConsentCodeTTL)
	}

	r := w.exchange(w.tokenA, c.Code).expect(t, 200)
	var p carbonProfileJSON
	r.decode(t, &p)
	if !strings.HasPrefix(p.CitizenRef, domain.CitizenRefPrefix) || p.Level != 2 || p.LevelName != "中绿" ||
		p.CO2eGTotal != 60_000 || p.Balance != 345 || p.Scope != "carbon_profile" || p.ExchangedAt == "" {
		t.Fatalf("profile %+v", p)
	}
	for _, secret := range []string{phone, strings.TrimPrefix(phone, "+86"), citizenID, c.ID} {
		if strings.Contains(string(r.Body), secret) {
			t.Fatalf("the bank's answer contains %q: %s", secret, r.Body)
		}
	}
	if got := r.Header.Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", got)
	}

	// Once only: the same code again is invalid.
	w.exchange(w.tokenA, c.Code).expect(t, 404, "consent_code_invalid")

	list := w.consents(citizen)
	if len(list) != 1 || list[0].ID != c.ID || list[0].Status != "exchanged" || list[0].ExchangedAt == nil || list[0].BankName != "湖州银行" {
		t.Fatalf("list after exchange: %+v", list)
	}

	// The pseudonym is stable for the bank, whatever the code's spelling, and
	// another bank gets another one.
	again := w.grant(citizen, w.bankA.ID)
	spelled := strings.ToLower(again.Code[:5]) + "-" + again.Code[5:]
	var p2 carbonProfileJSON
	w.exchange(w.tokenA, spelled).expect(t, 200).decode(t, &p2)
	if p2.CitizenRef != p.CitizenRef {
		t.Fatalf("citizen_ref changed between exchanges: %q then %q", p.CitizenRef, p2.CitizenRef)
	}
	var p3 carbonProfileJSON
	w.exchange(w.tokenB, w.grant(citizen, w.bankB.ID).Code).expect(t, 200).decode(t, &p3)
	if p3.CitizenRef == p.CitizenRef {
		t.Fatalf("two banks got the same citizen_ref %q", p.CitizenRef)
	}
	// Another citizen gets another pseudonym at the same bank.
	other := w.devLogin("13900139000").AccessToken
	var p4 carbonProfileJSON
	w.exchange(w.tokenA, w.grant(other, w.bankA.ID).Code).expect(t, 200).decode(t, &p4)
	if p4.CitizenRef == p.CitizenRef || p4.Level != 1 || p4.Balance != 0 {
		t.Fatalf("another citizen's profile %+v (first %+v)", p4, p)
	}

	// The exchange is logged with the credential that made it.
	x, err := w.store.GetConsentExchange(t.Context(), c.ID)
	if err != nil || x.BankID != w.bankA.ID || x.CredentialID != w.credA.ID {
		t.Fatalf("exchange log %+v, %v", x, err)
	}
}

func TestConsentCodeExpires(t *testing.T) {
	clock := &consentClock{now: domain.Now()}
	w := newConsentWorld(t, withConsentClock(clock))
	citizen := w.devLogin("13800138000").AccessToken
	c := w.grant(citizen, w.bankA.ID)
	clock.advance(domain.DefaultConsentCodeTTL - time.Millisecond)
	if got := w.consents(citizen); got[0].Status != "active" {
		t.Fatalf("status just before expiry %q", got[0].Status)
	}
	clock.advance(time.Millisecond)
	w.exchange(w.tokenA, c.Code).expect(t, 404, "consent_code_invalid")
	if got := w.consents(citizen); got[0].Status != "expired" || got[0].ExchangedAt != nil {
		t.Fatalf("status after expiry %+v", got[0])
	}
}

// samePublicProblem compares what a bank can tell apart in two problems.
func samePublicProblem(t *testing.T, what string, a, b response) {
	t.Helper()
	pa, pb := a.problem(t), b.problem(t)
	pa.Instance, pb.Instance, pa.RequestID, pb.RequestID = "", "", "", ""
	if a.Status != b.Status || pa.Type != pb.Type || pa.Title != pb.Title || pa.Detail != pb.Detail || pa.Code != pb.Code || len(pa.Errors)+len(pb.Errors) != 0 {
		t.Fatalf("%s: answers differ:\n%s\n%s", what, a.Body, b.Body)
	}
}

func TestConsentCodeFailuresLookTheSameToBanks(t *testing.T) {
	w := newConsentWorld(t)
	citizen := w.devLogin("13800138000").AccessToken
	unknown := w.exchange(w.tokenB, "0000000000").expect(t, 404, "consent_code_invalid")

	// Bank A's code tried by bank B is unknown to B, and B's attempt spends nothing.
	forA := w.grant(citizen, w.bankA.ID)
	samePublicProblem(t, "another bank's code", unknown, w.exchange(w.tokenB, forA.Code))
	w.exchange(w.tokenA, forA.Code).expect(t, 200)
	samePublicProblem(t, "a used code", unknown, w.exchange(w.tokenA, forA.Code))

	// A withdrawn code is refused like an unknown one.
	revoked := w.grant(citizen, w.bankA.ID)
	w.do(req{method: "DELETE", path: "/v1/me/consents/" + revoked.ID, bearer: citizen}).expect(t, 204)
	w.do(req{method: "DELETE", path: "/v1/me/consents/" + revoked.ID, bearer: citizen}).expect(t, 204)
	samePublicProblem(t, "a withdrawn code", unknown, w.exchange(w.tokenA, revoked.Code))
	for _, c := range w.consents(citizen) {
		if c.ID == revoked.ID && (c.Status != "revoked" || c.RevokedAt == nil) {
			t.Fatalf("withdrawn consent listed as %+v", c)
		}
	}

	// A deleted account's code is refused like an unknown one.
	gone := w.devLogin("13900139000").AccessToken
	goneCode := w.grant(gone, w.bankA.ID).Code
	w.do(req{method: "DELETE", path: "/v1/me", bearer: gone}).expect(t, 204)
	samePublicProblem(t, "a deleted account's code", unknown, w.exchange(w.tokenA, goneCode))
}

func TestConsentExchangesAreRateLimitedPerBank(t *testing.T) {
	w := newConsentWorld(t)
	citizen := w.devLogin("13800138000").AccessToken
	valid := w.grant(citizen, w.bankA.ID)
	// Guessing spends bank A's allowance, whichever of its tokens guesses.
	other := w.bankToken(w.issueCredential(w.admin, w.bankA.ID, nil), "").AccessToken
	for i := range domain.ConsentExchangesPerMinute {
		token := w.tokenA
		if i%2 == 1 {
			token = other
		}
		w.exchange(token, "0000000000").expect(t, 404, "consent_code_invalid")
	}
	r := w.exchange(w.tokenA, valid.Code).expect(t, 429, "too_many_exchanges")
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > int(time.Minute.Seconds()) {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	// Nothing was exchanged: the code is still active.
	for _, c := range w.consents(citizen) {
		if c.ID == valid.ID && (c.Status != "active" || c.ExchangedAt != nil) {
			t.Fatalf("a refused exchange spent the code: %+v", c)
		}
	}
	if _, err := w.store.GetConsentExchange(t.Context(), valid.ID); err == nil {
		t.Fatal("a refused exchange was logged")
	}
	// Another bank is not affected.
	w.exchange(w.tokenB, w.grant(citizen, w.bankB.ID).Code).expect(t, 200)
}

func TestCitizensSeeAndWithdrawOnlyTheirOwnConsents(t *testing.T) {
	w := newConsentWorld(t)
	alice := w.devLogin("13800138000").AccessToken
	bob := w.devLogin("13900139000").AccessToken
	bobs := w.grant(bob, w.bankA.ID)
	alices := w.grant(alice, w.bankB.ID)

	if got := w.consents(alice); len(got) != 1 || got[0].ID != alices.ID {
		t.Fatalf("alice lists %+v", got)
	}
	w.do(req{method: "DELETE", path: "/v1/me/consents/" + bobs.ID, bearer: alice}).expect(t, 404, "consent_not_found")
	w.do(req{method: "DELETE", path: "/v1/me/consents/nope", bearer: alice}).expect(t, 404, "consent_not_found")
	if got := w.consents(bob); len(got) != 1 || got[0].Status != "active" {
		t.Fatalf("bob's consent after alice's attempt: %+v", got)
	}
	w.exchange(w.tokenA, bobs.Code).expect(t, 200)

	// Newest first, paged.
	second := w.grant(alice, w.bankA.ID)
	var page struct {
		Items      []consentJSON `json:"items"`
		NextCursor *string       `json:"next_cursor"`
	}
	w.do(req{method: "GET", path: "/v1/me/consents?limit=1", bearer: alice}).expect(t, 200).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != second.ID || page.NextCursor == nil {
		t.Fatalf("first page %+v", page)
	}
	w.do(req{method: "GET", path: "/v1/me/consents?limit=1&cursor=" + *page.NextCursor, bearer: alice}).expect(t, 200).decode(t, &page)
	if len(page.Items) != 1 || page.Items[0].ID != alices.ID || page.NextCursor != nil {
		t.Fatalf("second page %+v", page)
	}
}

func TestConsentRoutesAdmitTheirRolesAndScopesOnly(t *testing.T) {
	w := newConsentWorld(t)
	citizen := w.devLogin("13800138000").AccessToken
	c := w.grant(citizen, w.bankA.ID)

	redeemOnly := w.bankToken(w.issueCredential(w.admin, w.bankA.ID, []string{domain.ScopeRedemptionsWrite}), "").AccessToken
	r := w.exchange(redeemOnly, c.Code).expect(t, 403, "insufficient_scope")
	if !strings.Contains(r.Header.Get("WWW-Authenticate"), `scope="consents:exchange"`) {
		t.Errorf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
	}
	// A token asking for fewer scopes than its credential holds is limited too.
	narrowed := w.bankToken(w.credA, domain.ScopeRedemptionsRead).AccessToken
	w.exchange(narrowed, c.Code).expect(t, 403, "insufficient_scope")
	w.exchange(citizen, c.Code).expect(t, 403, "forbidden_role")
	w.exchange(w.admin, c.Code).expect(t, 403, "forbidden_role")
	w.exchange("", c.Code).expect(t, 401, "missing_token")

	w.do(req{method: "POST", path: "/v1/me/consents", bearer: w.tokenA,
		body: map[string]any{"bank_id": w.bankA.ID, "scope": "carbon_profile"}}).expect(t, 403, "forbidden_role")
	w.do(req{method: "GET", path: "/v1/me/consents", bearer: w.admin}).expect(t, 403, "forbidden_role")
	w.do(req{method: "GET", path: "/v1/me/consents"}).expect(t, 401, "missing_token")
	w.do(req{method: "DELETE", path: "/v1/me/consents/" + c.ID, bearer: w.tokenA}).expect(t, 403, "forbidden_role")

	// None of that spent the code.
	w.exchange(w.tokenA, c.Code).expect(t, 200)
}

func TestConsentInputIsValidated(t *testing.T) {
	w := newConsentWorld(t)
	citizen := w.devLogin("13800138000").AccessToken
	fieldCode := func(r response) (string, string) {
		p := r.problem(t)
		if len(p.Errors) != 1 {
			t.Fatalf("errors %+v", p.Errors)
		}
		return p.Errors[0].Field, p.Errors[0].Code
	}
	cases := []struct {
		name        string
		body        map[string]any
		field, code string
	}{
		{"unknown scope", map[string]any{"bank_id": w.bankA.ID, "scope": "everything"}, "scope", "unknown_scope"},
		{"no scope", map[string]any{"bank_id": w.bankA.ID}, "scope", "required"},
		{"unknown bank", map[string]any{"bank_id": "01KB2M9Q6S1E3C4D5F6G7H8J9K", "scope": "carbon_profile"}, "bank_id", "unknown_bank"},
		{"no bank", map[string]any{"scope": "carbon_profile"}, "bank_id", "required"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := w.do(req{method: "POST", path: "/v1/me/consents", bearer: citizen, body: tc.body}).expect(t, 400, "validation_failed")
			if f, c := fieldCode(r); f != tc.field || c != tc.code {
				t.Fatalf("field error %s/%s, want %s/%s", f, c, tc.field, tc.code)
			}
		})
	}
	for _, code := range []string{"short", "0123456789A", "IIIIIIIIIU", "０１２３４５６７８９", "ABCD\u0000EFGHJ"} {
		r := w.exchange(w.tokenA, code).expect(t, 400, "validation_failed")
		if f, c := fieldCode(r); f != "code" || c != "invalid_format" {
			t.Fatalf("code %q: field error %s/%s", code, f, c)
		}
	}
	if got := w.consents(citizen); len(got) != 0 {
		t.Fatalf("invalid requests created consents: %+v", got)
	}
}

// The consent routes that take a body refuse malformed and hostile input like
// every JSON route, and write nothing.
func TestBadConsentBodiesAreRefusedWithAProblem(t *testing.T) {
	w := newConsentWorld(t)
	citizen := w.devLogin("13800138000").AccessToken
	routes := []struct{ path, bearer, stringField string }{
		{"/v1/me/consents", citizen, "bank_id"},
		{"/v1/bank/consents/exchange", w.tokenA, "code"},
	}
	bodies := []struct{ name, raw, contentType, code string }{
		{"malformed JSON", `{"a":`, "", "malformed_json"},
		{"not JSON at all", `code=x`, "", "malformed_json"},
		{"empty body", ``, "", "empty_body"},
		{"array instead of object", `[1,2]`, "", "malformed_json"},
		{"string instead of object", `"hi"`, "", "malformed_json"},
		{"null", `null`, "", "validation_failed"},
		{"trailing data", `{} {}`, "", "malformed_json"},
		{"trailing garbage", `{}x`, "", "malformed_json"},
		{"unknown field", `{"is_admin": true}`, "", "validation_failed"},
		{"wrong type", `{"FIELD": 12}`, "", "validation_failed"},
		{"mongo operator injection", `{"FIELD": {"$gt": ""}}`, "", "validation_failed"},
		{"mongo $where injection", `{"FIELD": {"$where": "sleep(1000)"}}`, "", "validation_failed"},
		{"mongo $ne in a string", `{"FIELD": "{\"$ne\": null}"}`, "", "validation_failed"},
		{"null byte soup", "{\"FIELD\": \"\u0000\u0000\"", "", "malformed_json"},
		{"form content type", `{}`, "application/x-www-form-urlencoded", "unsupported_media_type"},
		{"text content type", `{}`, "text/plain", "unsupported_media_type"},
		{"deeply nested", strings.Repeat("[", 5000) + strings.Repeat("]", 5000), "", "malformed_json"},
	}
	for _, route := range routes {
		for _, b := range bodies {
			t.Run(route.path+"/"+b.name, func(t *testing.T) {
				raw := strings.ReplaceAll(b.raw, "FIELD", route.stringField)
				w.do(req{method: "POST", path: route.path, bearer: route.bearer, raw: []byte(raw), contentType: b.contentType}).
					expect(t, 400, b.code)
			})
		}
		t.Run(route.path+"/oversized body", func(t *testing.T) {
			big := `{"` + route.stringField + `":"` + strings.Repeat("x", 70<<10) + `"}`
			w.doRaw(req{method: "POST", path: route.path, bearer: route.bearer, raw: []byte(big)}).expect(t, 413, "body_too_large")
		})
	}
	if got := w.consents(citizen); len(got) != 0 {
		t.Fatalf("bad bodies created consents: %+v", got)
	}
}
