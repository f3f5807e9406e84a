package api_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func TestTheBootstrapAdminSignsIn(t *testing.T) {
	h := newHarness(t)
	tk := h.operatorLogin("admin", adminPassword)
	var me struct{ Username, Role string }
	h.do(req{method: "GET", path: "/v1/admin/me", bearer: tk.AccessToken}).expect(t, 200).decode(t, &me)
	if me.Username != "admin" || me.Role != "admin" {
		t.Fatalf("admin/me %+v", me)
	}
}

func TestWrongCredentialsAreIndistinguishable(t *testing.T) {
	h := newHarness(t)
	wrongPassword := h.do(req{method: "POST", path: "/v1/admin/auth/login", body: map[string]any{"username": "admin", "password": "nope-nope-nope"}}).
		expect(t, 401, "invalid_credentials").problem(t)
	noSuchUser := h.do(req{method: "POST", path: "/v1/admin/auth/login", body: map[string]any{"username": "ghost", "password": "nope-nope-nope"}}).
		expect(t, 401, "invalid_credentials").problem(t)
	if wrongPassword.Detail != noSuchUser.Detail {
		t.Fatal("the answers reveal whether the username exists")
	}
}

func TestLoginAttemptsAreRateLimited(t *testing.T) {
	h := newHarness(t) // 5 attempts a minute per username
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	h.createOperator(admin, "colleague", domain.RoleOperator)
	for range 4 {
		h.do(req{method: "POST", path: "/v1/admin/auth/login", body: map[string]any{"username": "admin", "password": "guess-guess-guess"}}).expect(t, 401)
	}
	r := h.do(req{method: "POST", path: "/v1/admin/auth/login", body: map[string]any{"username": "admin", "password": adminPassword}}).
		expect(t, 429, "too_many_login_attempts")
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > int(time.Minute.Seconds()) {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	// Another operator is not locked out by someone guessing admin's password.
	h.operatorLogin("colleague", adminPassword)
}

func TestAdminsCreateAndListOperators(t *testing.T) {
	h := newHarness(t)
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	r := h.do(req{method: "POST", path: "/v1/admin/operators", bearer: admin,
		body: map[string]any{"username": "Li.Wei", "role": "operator", "password": "a-long-enough-secret"}}).expect(t, 201)
	var created struct{ ID, Username, Role, CreatedBy string }
	r.decode(t, &created)
	if created.Username != "li.wei" || created.Role != "operator" || r.Header.Get("Location") != "/v1/admin/operators/"+created.ID {
		t.Fatalf("created %+v, Location %q", created, r.Header.Get("Location"))
	}
	h.do(req{method: "GET", path: "/v1/admin/operators/" + created.ID, bearer: admin}).expect(t, 200)
	h.do(req{method: "GET", path: "/v1/admin/operators/01NOSUCHOPERATOR0000000000", bearer: admin}).expect(t, 404, "operator_not_found")
	h.do(req{method: "POST", path: "/v1/admin/operators", bearer: admin,
		body: map[string]any{"username": "li.wei", "role": "auditor", "password": "a-long-enough-secret"}}).expect(t, 409, "username_taken")
	h.operatorLogin("li.wei", "a-long-enough-secret")

	for i := range 4 {
		h.createOperator(admin, "auditor"+strconv.Itoa(i), domain.RoleAuditor)
	}
	// 6 operators in pages of 4: 4 then 2, following next_cursor.
	var first, second struct {
		Items      []struct{ ID string }
		NextCursor *string `json:"next_cursor"`
	}
	h.do(req{method: "GET", path: "/v1/admin/operators?limit=4", bearer: admin}).expect(t, 200).decode(t, &first)
	if len(first.Items) != 4 || first.NextCursor == nil {
		t.Fatalf("first page %+v", first)
	}
	h.do(req{method: "GET", path: "/v1/admin/operators?limit=4&cursor=" + *first.NextCursor, bearer: admin}).expect(t, 200).decode(t, &second)
	if len(second.Items) != 2 || second.NextCursor != nil {
		t.Fatalf("second page %+v", second)
	}
	if second.Items[0].ID <= first.Items[3].ID {
		t.Fatal("pages overlap or are out of order")
	}
}

func TestOperatorInputIsValidated(t *testing.T) {
	h := newHarness(t)
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	cases := map[string]map[string]any{
		"short password":   {"username": "bob", "role": "operator", "password": "short"},
		"unknown role":     {"username": "bob", "role": "root", "password": "a-long-enough-secret"},
		"citizen role":     {"username": "bob", "role": "citizen", "password": "a-long-enough-secret"},
		"bad username":     {"username": "b o b", "role": "operator", "password": "a-long-enough-secret"},
		"missing password": {"username": "bob", "role": "operator"},
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			h.do(req{method: "POST", path: "/v1/admin/operators", bearer: admin, body: body}).expect(t, 400, "validation_failed")
		})
	}
	for _, q := range []string{"limit=0", "limit=201", "limit=x", "cursor=%%%"} {
		h.do(req{method: "GET", path: "/v1/admin/operators?" + q, bearer: admin}).expect(t, 400, "validation_failed")
	}
}
