package api

import (
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/api/token"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

const (
	localPrincipal      = "principal"
	localBankCredential = "bank_credential"
)

var (
	errNoToken  = domain.Errorf(domain.KindUnauthorized, "missing_token", "this route needs an Authorization: Bearer <access token> header")
	errBadToken = domain.Errorf(domain.KindUnauthorized, "invalid_token", "the access token is invalid or expired")
)

// allow authenticates the bearer token and admits only the given roles: no or bad
// token is 401, a valid token of another role is 403.
func (s *server) allow(roles ...domain.Role) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p, err := s.authenticate(c)
		if err != nil {
			return err
		}
		if !slices.Contains(roles, p.Role) {
			return domain.Errorf(domain.KindForbidden, "forbidden_role", "tokens with role %s may not use this route", p.Role)
		}
		c.Locals(localPrincipal, p)
		return c.Next()
	}
}

// authenticate verifies the bearer token: none is 401 missing_token, a bad one
// 401 invalid_token.
func (s *server) authenticate(c *fiber.Ctx) (token.Principal, error) {
	scheme, raw, ok := strings.Cut(c.Get(fiber.HeaderAuthorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || raw == "" {
		return token.Principal{}, errNoToken
	}
	p, err := s.tokens.Verify(strings.TrimSpace(raw))
	if err != nil {
		s.log.DebugContext(c.UserContext(), "token rejected", "request_id", requestID(c), "error", err)
		return token.Principal{}, errBadToken
	}
	return p, nil
}

// allowBank admits only bank tokens that hold every one of scopes and whose
// credential is still active: another role is 403 forbidden_role, a missing scope
// 403 insufficient_scope (RFC 6750 §3.1), and a token whose credential was
// revoked is 401 invalid_token. The credential is read on every request, so
// revoking it stops its tokens at once rather than when they expire.
func (s *server) allowBank(scopes ...string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		p, err := s.authenticate(c)
		if err != nil {
			return err
		}
		if p.Role != domain.RoleBank {
			return domain.Errorf(domain.KindForbidden, "forbidden_role", "tokens with role %s may not use this route", p.Role)
		}
		held := strings.Fields(p.Scope)
		for _, want := range scopes {
			if !slices.Contains(held, want) {
				c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="carbon-account", error="insufficient_scope", scope="`+strings.Join(scopes, " ")+`"`)
				return domain.Errorf(domain.KindForbidden, "insufficient_scope", "this route needs a token with scope %s", want)
			}
		}
		cred, err := s.Banks.ActiveCredential(c.UserContext(), p.SubjectID, p.SessionID)
		if err != nil {
			return err
		}
		c.Locals(localPrincipal, p)
		c.Locals(localBankCredential, cred)
		return c.Next()
	}
}

// bankCredential is the active credential of the bank token allowBank admitted.
func bankCredential(c *fiber.Ctx) domain.BankCredential {
	cred, _ := c.Locals(localBankCredential).(domain.BankCredential)
	return cred
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
