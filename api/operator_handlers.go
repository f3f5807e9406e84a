package api

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func (s *server) getOperatorMe(c *fiber.Ctx) error {
	op, err := s.Operators.Get(c.UserContext(), principal(c).SubjectID)
	if err != nil {
		return err
	}
	return c.JSON(operatorOf(op))
}

func (s *server) listOperators(c *fiber.Ctx) error {
	afterID, limit, err := pageParams(c)
	if err != nil {
		return err
	}
	ops, err := s.Operators.List(c.UserContext(), afterID, limit+1)
	if err != nil {
		return err
	}
	return c.JSON(pageOf(ops, limit, func(o domain.Operator) string { return o.ID }, operatorOf))
}

func (s *server) getOperator(c *fiber.Ctx) error {
	op, err := s.Operators.Get(c.UserContext(), strings.Clone(c.Params("id")))
	if err != nil {
		return err
	}
	return c.JSON(operatorOf(op))
}

func (s *server) createOperator(c *fiber.Ctx) error {
	var req createOperatorRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	op, err := s.Operators.Create(c.UserContext(), domain.NewOperatorInput{
		Username: req.Username, Role: req.Role, Password: req.Password,
	}, principal(c).SubjectID)
	if err != nil {
		return err
	}
	c.Location("/v1/admin/operators/" + op.ID)
	return c.Status(fiber.StatusCreated).JSON(operatorOf(op))
}
