// Package api is the HTTP surface: routes, authentication, request decoding and the
// mapping of domain errors to problem+json responses. Business rules live in domain.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/huzhou-lvdaitong/carbon-account/api/token"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// ReadinessCheck is one dependency /readyz reports on.
type ReadinessCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// Deps is what the HTTP layer needs; wiring happens in the root package.
type Deps struct {
	Auth      *domain.AuthService
	Citizens  *domain.CitizenService
	Operators *domain.OperatorService
	Actions   *domain.ActionService
	Catalog   *domain.Catalog
	Levels    []domain.Level // carbon grades, lowest first
	Tokens    *token.Authority
	Logger    *slog.Logger
	Readiness []ReadinessCheck
	OpenAPI   []byte // the openapi.yaml served at /openapi.yaml
	// Metrics is the registry /metrics serves; the HTTP metrics are added to it.
	// Nil gets a fresh one (tests).
	Metrics *prometheus.Registry
	// Leaderboards answers GET /v1/leaderboards.
	Leaderboards *domain.LeaderboardService
	// Benefits answers the benefit, claim and voucher routes.
	Benefits *domain.BenefitService
	// Banks manages partner banks and their credentials, and answers the bank
	// token endpoint.
	Banks *domain.BankService
	// Consents answers the citizen consent routes and the bank's code exchange.
	Consents *domain.ConsentService
	// Redemptions answers the bank redemption routes.
	Redemptions *domain.RedemptionService

	DevLogin       bool
	BodyLimitBytes int
	TrustedProxies []string
	Version        string
}

type server struct {
	Deps
	app     *fiber.App
	log     *slog.Logger
	tokens  *token.Authority
	metrics *httpMetrics
}

// New builds the Fiber application with every route and middleware.
func New(d Deps) *fiber.App {
	// A missing service is a wiring bug: caught at start-up, not per request.
	for name, missing := range map[string]bool{
		"Leaderboards": d.Leaderboards == nil, "Benefits": d.Benefits == nil, "Banks": d.Banks == nil,
		"Consents": d.Consents == nil, "Redemptions": d.Redemptions == nil, "Levels": len(d.Levels) == 0,
	} {
		if missing {
			panic("api: Deps." + name + " is not set")
		}
	}
	s := &server{Deps: d, log: d.Logger, tokens: d.Tokens, metrics: newHTTPMetrics(d.Metrics)}
	s.app = fiber.New(fiber.Config{
		AppName:                 "carbon-account",
		StrictRouting:           true, // /docs and /docs/ are different routes
		BodyLimit:               d.BodyLimitBytes,
		ErrorHandler:            s.errorHandler,
		DisableStartupMessage:   true,
		ReadTimeout:             30 * time.Second,
		WriteTimeout:            30 * time.Second,
		IdleTimeout:             120 * time.Second,
		EnableTrustedProxyCheck: len(d.TrustedProxies) > 0,
		TrustedProxies:          d.TrustedProxies,
		ProxyHeader:             proxyHeader(d.TrustedProxies),
		JSONEncoder:             marshalJSON,
	})
	s.app.Use(withRequestID, s.observe, s.recoverPanics, securityHeaders)
	s.routes()
	return s.app
}

// marshalJSON is encoding/json without HTML escaping: this is an API, and "<" in
// a message should read as "<", not "\u003c".
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

func proxyHeader(trusted []string) string {
	if len(trusted) == 0 {
		return ""
	}
	return fiber.HeaderXForwardedFor
}
