package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/swaggest/swgui"
	"github.com/swaggest/swgui/v5emb"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func (s *server) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok", "version": s.Version})
}

// readinessTimeout bounds /readyz so a hung dependency reads as not ready rather
// than as a hung probe.
const readinessTimeout = 2 * time.Second

type readiness struct {
	Status string            `json:"status"`
	Checks map[string]string `json:"checks"`
}

func (s *server) readyz(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), readinessTimeout)
	defer cancel()
	out := readiness{Status: "ready", Checks: map[string]string{}}
	for _, rc := range s.Readiness {
		if err := rc.Check(ctx); err != nil {
			s.log.WarnContext(ctx, "readiness check failed", "check", rc.Name, "error", err)
			out.Status, out.Checks[rc.Name] = "unavailable", "unreachable"
			continue
		}
		out.Checks[rc.Name] = "ok"
	}
	if out.Status != "ready" {
		c.Status(http.StatusServiceUnavailable)
	}
	return c.JSON(out)
}

func (s *server) metricsHandler() fiber.Handler {
	return adaptor.HTTPHandler(promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
}

func (s *server) openAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/yaml")
	return c.Send(s.OpenAPI)
}

// docsHandler serves Swagger UI from assets compiled into the binary (no CDN).
func (s *server) docsHandler() fiber.Handler {
	return adaptor.HTTPHandler(v5emb.NewHandlerWithConfig(swgui.Config{
		Title:       "Personal carbon account API",
		SwaggerJSON: "/openapi.yaml",
		BasePath:    "/docs/",
		ShowTopBar:  false,
	}))
}

func (s *server) jwks(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "public, max-age=300")
	return c.JSON(fiber.Map{"keys": s.tokens.JWKS()})
}

func (s *server) listDistricts(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"items": domain.Districts})
}
