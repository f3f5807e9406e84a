package api

import (
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// listOffers shows the signed-in citizen the benefits open for claims now, each
// with whether they may claim it and every reason they may not.
func (s *server) listOffers(c *fiber.Ctx) error {
	afterID, limit, err := pageParams(c)
	if err != nil {
		return err
	}
	citizen, err := s.Citizens.Get(c.UserContext(), principal(c).SubjectID)
	if err != nil {
		return err
	}
	offers, err := s.Benefits.Offers(c.UserContext(), citizen, afterID, limit+1)
	if err != nil {
		return err
	}
	return c.JSON(pageOf(offers, limit, func(o domain.Offer) string { return o.ID }, offerOf))
}

// claimBenefit spends the benefit's points and issues a voucher. The claim is
// named by the path and the Idempotency-Key; a body, if sent, must be an empty
// JSON object, so nothing sent is silently ignored. A replay answers 200 with the
// first claim's voucher.
func (s *server) claimBenefit(c *fiber.Ctx) error {
	if len(c.Body()) > 0 {
		var none struct{}
		if err := decodeJSON(c, &none); err != nil {
			return err
		}
	}
	citizenID := principal(c).SubjectID
	// The store reports an erased citizen like an unknown benefit; ask first so
	// that a deleted account hears account_erased, as on every citizen route.
	if _, err := s.Citizens.Get(c.UserContext(), citizenID); err != nil {
		return err
	}
	v, replayed, err := s.Benefits.Claim(c.UserContext(), citizenID, strings.Clone(c.Params("id")), strings.Clone(c.Get(headerIdempotencyKey)))
	if err != nil {
		return err
	}
	view, err := s.Benefits.DescribeVoucher(c.UserContext(), v)
	if err != nil {
		return err
	}
	return createdOrReplayed(c, "/v1/me/vouchers/"+v.ID, replayed, voucherOf(view))
}

// createdOrReplayed answers a create made idempotent by its Idempotency-Key (a
// claim, a redemption): 201 with Location when it created the resource; on a
// replay the same Location and body, but 200 and Idempotent-Replayed, so the
// client can tell that nothing new was created. (Recording an action answers a
// replay 201, as it always has; it does not use this.)
func createdOrReplayed(c *fiber.Ctx, location string, replayed bool, body any) error {
	c.Location(location)
	status := fiber.StatusCreated
	if replayed {
		c.Set("Idempotent-Replayed", "true")
		status = fiber.StatusOK
	}
	return c.Status(status).JSON(body)
}

func (s *server) listVouchers(c *fiber.Ctx) error {
	beforeID, limit, err := pageParams(c)
	if err != nil {
		return err
	}
	vouchers, err := s.Benefits.Vouchers(c.UserContext(), principal(c).SubjectID, beforeID, limit+1)
	if err != nil {
		return err
	}
	return c.JSON(pageOf(vouchers, limit, func(v domain.VoucherView) string { return v.ID }, voucherOf))
}

func (s *server) getVoucher(c *fiber.Ctx) error {
	v, err := s.Benefits.Voucher(c.UserContext(), principal(c).SubjectID, strings.Clone(c.Params("id")))
	if err != nil {
		return err
	}
	return c.JSON(voucherOf(v))
}

func (s *server) adminListBenefits(c *fiber.Ctx) error {
	afterID, limit, err := pageParams(c)
	if err != nil {
		return err
	}
	list, err := s.Benefits.ListBenefits(c.UserContext(), strings.Clone(c.Query("bank_id")), afterID, limit+1)
	if err != nil {
		return err
	}
	return c.JSON(pageOf(list, limit, func(b domain.BenefitView) string { return b.ID }, adminBenefitOf))
}

func (s *server) adminGetBenefit(c *fiber.Ctx) error {
	b, err := s.Benefits.GetBenefit(c.UserContext(), strings.Clone(c.Params("id")))
	if err != nil {
		return err
	}
	return c.JSON(adminBenefitOf(b))
}

func (s *server) createBenefit(c *fiber.Ctx) error {
	var req createBenefitRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	in, err := req.toDomain()
	if err != nil {
		return err
	}
	b, err := s.Benefits.CreateBenefit(c.UserContext(), principal(c).SubjectID, in)
	if err != nil {
		return err
	}
	c.Location("/v1/admin/benefits/" + b.ID)
	return c.Status(fiber.StatusCreated).JSON(adminBenefitOf(b))
}
