package api

import (
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/api/token"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

const localPrincipal = "principal"

var (
	errNoToken  = domain.Errorf(domain.KindUnauthorized, "missing_token", "this route needs an Authorization: Bearer <access token> header")
	errBadToken = domain.Errorf(domain.KindUnauthorized, "invalid_token", "the access token is invalid or expired")
)

// allow authenticates the bearer token and admits only the given roles: no or bad
// token is 401, a valid token of another role is 403.
func (s *server) allow(roles ...domain.Role) fiber.Handler {
	return func(c *fiber.Ctx) error {
		scheme, raw, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || raw == "" {
			return errNoToken
		}
		p, err := s.tokens.Verify(strings.TrimSpace(raw))
		if err != nil {
			s.log.DebugContext(c.UserContext(), "token rejected", "request_id", requestID(c), "error", err)
			return errBadToken
		}
		if !slices.Contains(roles, p.Role) {
			return domain.Errorf(domain.KindForbidden, "forbidden_role", "tokens with role %s may not use this route", p.Role)
		}
		c.Locals(localPrincipal, p)
		return c.Next()
	}
}

func principal(c *fiber.Ctx) token.Principal {
	p, _ := c.Locals(localPrincipal).(token.Principal)
	return p
}

var (
	anyOperator  = []domain.Role{domain.RoleAdmin, domain.RoleOperator, domain.RoleAuditor}
	adminOnly    = []domain.Role{domain.RoleAdmin}
	adminReaders = []domain.Role{domain.RoleAdmin, domain.RoleAuditor}
	configurers  = []domain.Role{domain.RoleAdmin, domain.RoleOperator}
	citizenOnly  = []domain.Role{domain.RoleCitizen}
	anySignedIn  = []domain.Role{domain.RoleCitizen, domain.RoleAdmin, domain.RoleOperator, domain.RoleAuditor}
)
