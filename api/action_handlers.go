package api

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

const headerIdempotencyKey = "Idempotency-Key"

func (s *server) recordAction(c *fiber.Ctx) error {
	var req recordActionRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	occurredAt, err := parseTime("occurred_at", req.OccurredAt)
	if err != nil {
		return err
	}
	if len(req.Quantity) > 0 && (req.Quantity[0] == '"' || req.Quantity[0] == '{' || req.Quantity[0] == '[') {
		return domain.Invalid(domain.FieldError{Field: "quantity", Code: "wrong_type", Message: "must be a JSON number"})
	}
	in := domain.RecordActionInput{
		CitizenID: principal(c).SubjectID, IdempotencyKey: strings.Clone(c.Get(headerIdempotencyKey)),
		TypeCode: req.Type, Quantity: string(req.Quantity), OccurredAt: occurredAt,
	}
	if req.Evidence != nil {
		in.Evidence = &domain.Evidence{Source: req.Evidence.Source, Reference: req.Evidence.Reference}
	}
	recorded, err := s.Actions.Record(c.UserContext(), in)
	if err != nil {
		return err
	}
	if recorded.Replayed {
		c.Set("Idempotent-Replayed", "true")
	}
	c.Location("/v1/actions/" + recorded.ID)
	return c.Status(fiber.StatusCreated).JSON(actionOf(recorded.Action))
}

func (s *server) listActions(c *fiber.Ctx) error {
	before, limit, err := pageParams(c)
	if err != nil {
		return err
	}
	actions, err := s.Actions.List(c.UserContext(), principal(c).SubjectID, before, limit+1)
	if err != nil {
		return err
	}
	return c.JSON(pageOf(actions, limit, func(a domain.Action) string { return a.ID }, actionOf))
}

func (s *server) getAction(c *fiber.Ctx) error {
	a, err := s.Actions.Get(c.UserContext(), principal(c).SubjectID, strings.Clone(c.Params("id")))
	if err != nil {
		return err
	}
	return c.JSON(actionOf(a))
}

func (s *server) listLedger(c *fiber.Ctx) error {
	before, limit, err := pageParams(c)
	if err != nil {
		return err
	}
	entries, err := s.Actions.Ledger(c.UserContext(), principal(c).SubjectID, before, limit+1)
	if err != nil {
		return err
	}
	return c.JSON(pageOf(entries, limit, func(e domain.LedgerEntry) string { return e.ID }, ledgerEntryOf))
}

type exportBody struct {
	ExportedAt time.Time         `json:"exported_at"`
	Profile    profileResponse   `json:"profile"`
	Identity   exportIdentity    `json:"identity"`
	Actions    []actionBody      `json:"actions"`
	Ledger     []ledgerEntryBody `json:"ledger"`
}

type exportIdentity struct {
	Provider string `json:"provider"`
	Phone    string `json:"phone"`
}

// exportMe returns everything held about the citizen, including what the profile
// does not show (how they sign in, their phone number).
func (s *server) exportMe(c *fiber.Ctx) error {
	ex, err := s.Citizens.Export(c.UserContext(), principal(c).SubjectID)
	if err != nil {
		return err
	}
	body := exportBody{
		ExportedAt: domain.Now(), Profile: s.profileOf(ex.Citizen),
		Identity: exportIdentity{Provider: ex.Citizen.Identity.Provider, Phone: ex.Citizen.Phone},
		Actions:  make([]actionBody, 0, len(ex.Actions)), Ledger: make([]ledgerEntryBody, 0, len(ex.Ledger)),
	}
	for _, a := range ex.Actions {
		body.Actions = append(body.Actions, actionOf(a))
	}
	for _, e := range ex.Ledger {
		body.Ledger = append(body.Ledger, ledgerEntryOf(e))
	}
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="carbon-account-export.json"`)
	return c.JSON(body)
}
