package api_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/huzhou-lvdaitong/carbon-account/api"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func TestHealthAndReadiness(t *testing.T) {
	h := newHarness(t)
	h.do(req{method: "GET", path: "/healthz"}).expect(t, 200)
	var ready struct {
		Status string
		Checks map[string]string
	}
	h.do(req{method: "GET", path: "/readyz"}).expect(t, 200).decode(t, &ready)
	if ready.Status != "ready" || ready.Checks["store"] != "ok" || ready.Checks["shared_state"] != "ok" {
		t.Fatalf("readyz %+v", ready)
	}
}

func TestReadinessFailsWhenADependencyIsDown(t *testing.T) {
	h := newHarness(t, func(d *api.Deps, _ *domain.AuthService) {
		d.Readiness = append(d.Readiness, api.ReadinessCheck{Name: "redis", Check: func(context.Context) error { return errors.New("connection refused") }})
	})
	var ready struct {
		Status string
		Checks map[string]string
	}
	h.do(req{method: "GET", path: "/readyz"}).expect(t, 503).decode(t, &ready)
	if ready.Status != "unavailable" || ready.Checks["redis"] != "unreachable" || ready.Checks["store"] != "ok" {
		t.Fatalf("readyz %+v", ready)
	}
}

func TestMetricsCountRequestsByRouteTemplate(t *testing.T) {
	h := newHarness(t)
	admin := h.operatorLogin("admin", adminPassword).AccessToken
	h.do(req{method: "GET", path: "/v1/admin/operators/01AAAAAAAAAAAAAAAAAAAAAAAA", bearer: admin}).expect(t, 404)
	h.do(req{method: "GET", path: "/no/such/path"}).expect(t, 404)
	body := string(h.do(req{method: "GET", path: "/metrics"}).expect(t, 200).Body)
	for _, want := range []string{
		`http_requests_total{method="GET",route="/v1/admin/operators/:id",status="404"} 1`,
		`http_requests_total{method="POST",route="/v1/admin/auth/login",status="200"} 1`,
		`http_requests_total{method="GET",route="unmatched",status="404"} 1`,
		`http_request_duration_seconds_bucket{method="GET",route="/v1/admin/operators/:id"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if strings.Contains(body, "01AAAAAAAAAAAAAAAAAAAAAAAA") || strings.Contains(body, "/no/such/path") {
		t.Error("metrics are labelled with raw paths")
	}
}

func TestRequestIDsAreEchoedAndLogged(t *testing.T) {
	h := newHarness(t)
	r := h.do(req{method: "GET", path: "/healthz", headers: map[string]string{"X-Request-ID": "app-7f3a"}})
	if r.Header.Get("X-Request-ID") != "app-7f3a" || !strings.Contains(h.logs.String(), `"request_id":"app-7f3a"`) {
		t.Fatal("caller's request id not echoed or not logged")
	}
	r = h.do(req{method: "GET", path: "/healthz", headers: map[string]string{"X-Request-ID": "bad id\" with quotes"}})
	if got := r.Header.Get("X-Request-ID"); got == "" || strings.Contains(got, " ") {
		t.Fatalf("unsafe request id kept: %q", got)
	}
	r = h.do(req{method: "GET", path: "/v1/me"}).expect(t, 401)
	if r.Header.Get("Cache-Control") != "no-store" || r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("personal routes must not be cached: %v", r.Header)
	}
	p := r.problem(t)
	if p.RequestID == "" {
		t.Fatal("problem without request_id")
	}
}

func TestJWKSPublishesTheKeyThatSignsTokens(t *testing.T) {
	h := newHarness(t)
	var set struct {
		Keys []struct{ Kid, Kty, Crv, Alg string }
	}
	h.do(req{method: "GET", path: "/.well-known/jwks.json"}).expect(t, 200).decode(t, &set)
	access := h.devLogin("13800138000").AccessToken
	parsed, _, err := jwt.NewParser().ParseUnverified(access, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || set.Keys[0].Kid != parsed.Header["kid"] || set.Keys[0].Alg != "EdDSA" || parsed.Method.Alg() != "EdDSA" {
		t.Fatalf("jwks %+v, token header %v", set, parsed.Header)
	}
}

func TestDocsAreServedWithoutACDN(t *testing.T) {
	h := newHarness(t)
	h.do(req{method: "GET", path: "/docs"}).expect(t, 301)
	page := string(h.do(req{method: "GET", path: "/docs/"}).expect(t, 200).Body)
	if !strings.Contains(page, "swagger") || strings.Contains(page, "cdn.") || strings.Contains(page, "unpkg") {
		t.Fatal("docs page missing or loads from a CDN")
	}
	for _, asset := range []string{"swagger-ui-bundle.js", "swagger-ui.css"} {
		if !strings.Contains(page, asset) {
			t.Fatalf("docs page does not load %s", asset)
		}
		if r := h.do(req{method: "GET", path: "/docs/" + asset}).expect(t, 200); len(r.Body) < 1000 {
			t.Fatalf("%s is %d bytes", asset, len(r.Body))
		}
	}
	spec := string(h.do(req{method: "GET", path: "/openapi.yaml"}).expect(t, 200).Body)
	if !strings.HasPrefix(spec, "openapi: 3") {
		t.Fatal("openapi.yaml not served")
	}
}
