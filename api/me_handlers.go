package api

import (
	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func (s *server) getMe(c *fiber.Ctx) error {
	citizen, err := s.Citizens.Get(c.UserContext(), principal(c).SubjectID)
	if err != nil {
		return err
	}
	return c.JSON(s.profileOf(citizen))
}

func (s *server) patchMe(c *fiber.Ctx) error {
	var req profilePatchRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	citizen, err := s.Citizens.UpdateProfile(c.UserContext(), principal(c).SubjectID, domain.ProfileUpdate{
		Nickname: req.Nickname, District: req.District, LeaderboardOptOut: req.LeaderboardOptOut,
	})
	if err != nil {
		return err
	}
	return c.JSON(s.profileOf(citizen))
}

// deleteMe erases the citizen's personal data and signs them out everywhere.
func (s *server) deleteMe(c *fiber.Ctx) error {
	if err := s.Citizens.Erase(c.UserContext(), principal(c).SubjectID); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
