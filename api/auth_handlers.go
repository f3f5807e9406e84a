package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/api/token"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// respondWithTokens mints the access token for a sign-in or refresh. Token
// responses must not be cached (RFC 6749 §5.1).
func (s *server) respondWithTokens(c *fiber.Ctx, in domain.SignedIn) error {
	access, err := s.tokens.Mint(token.Principal{SubjectID: in.SubjectID, Role: in.Role, SessionID: in.SessionID})
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(tokenResponse{
		AccessToken: access, RefreshToken: in.RefreshToken, TokenType: "Bearer",
		ExpiresIn: int(s.tokens.TTL().Seconds()), RefreshExpiresAt: in.RefreshExpiresAt.UTC(),
	})
}

func (s *server) firebaseSignIn(c *fiber.Ctx) error {
	var req firebaseSignInRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	in, err := s.Auth.SignInWithIDToken(c.UserContext(), req.IDToken)
	if err != nil {
		return err
	}
	return s.respondWithTokens(c, in)
}

func (s *server) devLogin(c *fiber.Ctx) error {
	var req devLoginRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	in, err := s.Auth.DevLogin(c.UserContext(), domain.DevLoginInput{Phone: req.Phone, Nickname: req.Nickname, District: req.District})
	if err != nil {
		return err
	}
	return s.respondWithTokens(c, in)
}

func (s *server) refresh(c *fiber.Ctx) error {
	var req refreshRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	in, err := s.Auth.Refresh(c.UserContext(), req.RefreshToken)
	if err != nil {
		return err
	}
	return s.respondWithTokens(c, in)
}

// logout ends the session the access token belongs to; its refresh token stops
// working at once, the access token itself when it expires.
func (s *server) logout(c *fiber.Ctx) error {
	if err := s.Auth.Logout(c.UserContext(), principal(c).SessionID); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *server) operatorLogin(c *fiber.Ctx) error {
	var req operatorLoginRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	in, err := s.Auth.OperatorLogin(c.UserContext(), req.Username, req.Password, clientAddr(c))
	if err != nil {
		return err
	}
	return s.respondWithTokens(c, in)
}
