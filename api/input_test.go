package api_test

import (
	"io"
	"net/http/httptest"

	"github.com/gofiber/fiber/v2"
	"strings"
	"testing"
)

// Every route that takes a JSON body refuses malformed, mistyped, unknown, oversized
// and hostile input with a 4xx problem, never a 500, and writes nothing.
func TestBadBodiesAreRefusedWithAProblem(t *testing.T) {
	h := newHarness(t)
	citizen := h.devLogin("13800138000").AccessToken
	admin := h.operatorLogin("admin", adminPassword).AccessToken

	routes := []struct {
		method, path, bearer string
		stringField          string // a string field of the request, for type and injection cases
	}{
		{"POST", "/v1/auth/dev-login", "", "phone"},
		{"POST", "/v1/auth/firebase", "", "id_token"},
		{"POST", "/v1/auth/refresh", "", "refresh_token"},
		{"POST", "/v1/admin/auth/login", "", "username"},
		{"POST", "/v1/admin/operators", admin, "username"},
		{"PATCH", "/v1/me", citizen, "nickname"},
	}
	bodies := []struct {
		name        string
		raw         string
		contentType string
		status      int
		code        string
	}{
		{"malformed JSON", `{"a":`, "", 400, "malformed_json"},
		{"not JSON at all", `phone=138`, "", 400, "malformed_json"},
		{"empty body", ``, "", 400, "empty_body"},
		{"array instead of object", `[1,2]`, "", 400, "malformed_json"},
		{"string instead of object", `"hi"`, "", 400, "malformed_json"},
		{"trailing data", `{} {}`, "", 400, "malformed_json"},
		{"trailing garbage", `{}x`, "", 400, "malformed_json"},
		{"unknown field", `{"is_admin": true}`, "", 400, "validation_failed"},
		{"wrong type", `{"FIELD": 12}`, "", 400, "validation_failed"},
		{"mongo operator injection", `{"FIELD": {"$gt": ""}}`, "", 400, "validation_failed"},
		{"mongo $where injection", `{"FIELD": {"$where": "sleep(1000)"}}`, "", 400, "validation_failed"},
		{"null byte soup", "{\"FIELD\": \"\u0000\u0000\"", "", 400, "malformed_json"},
		{"form content type", `{}`, "application/x-www-form-urlencoded", 400, "unsupported_media_type"},
		{"text content type", `{}`, "text/plain", 400, "unsupported_media_type"},
		{"deeply nested", strings.Repeat("[", 5000) + strings.Repeat("]", 5000), "", 400, "malformed_json"},
	}
	for _, route := range routes {
		for _, b := range bodies {
			t.Run(route.method+" "+route.path+"/"+b.name, func(t *testing.T) {
				raw := strings.ReplaceAll(b.raw, "FIELD", route.stringField)
				h.do(req{method: route.method, path: route.path, bearer: route.bearer, raw: []byte(raw), contentType: b.contentType}).
					expect(t, b.status, b.code)
			})
		}
		t.Run(route.method+" "+route.path+"/oversized body", func(t *testing.T) {
			big := `{"` + route.stringField + `":"` + strings.Repeat("x", 70<<10) + `"}`
			h.doRaw(req{method: route.method, path: route.path, bearer: route.bearer, raw: []byte(big)}).expect(t, 413, "body_too_large")
		})
	}
	// Nothing above created an operator or changed the profile.
	var page struct{ Items []any }
	h.do(req{method: "GET", path: "/v1/admin/operators", bearer: admin}).expect(t, 200).decode(t, &page)
	if len(page.Items) != 1 {
		t.Fatalf("bad input created operators: %d exist", len(page.Items))
	}
}

func TestMissingRequiredFieldsNameTheField(t *testing.T) {
	h := newHarness(t)
	r := h.do(req{method: "POST", path: "/v1/admin/auth/login", body: map[string]any{"username": "admin"}}).expect(t, 400, "validation_failed")
	p := r.problem(t)
	if len(p.Errors) != 1 || p.Errors[0].Field != "password" || p.Errors[0].Code != "required" {
		t.Fatalf("errors %+v", p.Errors)
	}
}

func TestUnknownRoutesAreProblems(t *testing.T) {
	h := newHarness(t)
	h.do(req{method: "GET", path: "/v1/nothing-here"}).expect(t, 404, "route_not_found")
	h.do(req{method: "DELETE", path: "/v1/districts"}).expect(t, 405, "method_not_allowed")
	h.do(req{method: "GET", path: "/v1/me/"}).expect(t, 404, "route_not_found")
}

func TestAPanicInAHandlerIsA500ProblemAndTheServerLivesOn(t *testing.T) {
	h := newHarness(t)
	h.app.Get("/test-panic", func(*fiber.Ctx) error { panic("boom") })
	res, err := h.app.Test(httptest.NewRequest("GET", "/test-panic", nil), -1)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != 500 || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/problem+json") {
		t.Fatalf("status %d, content type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	body, _ := io.ReadAll(res.Body)
	if strings.Contains(string(body), "boom") {
		t.Fatal("the panic message leaked to the client")
	}
	if !strings.Contains(h.logs.String(), "boom") {
		t.Fatal("the panic was not logged")
	}
	h.do(req{method: "GET", path: "/healthz"}).expect(t, 200)
}
