package api

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// scopeConsentsExchange is the bank scope the exchange route needs.
const scopeConsentsExchange = domain.ScopeConsentsExchange

type createConsentRequest struct {
	BankID string `json:"bank_id" validate:"required,max=64"`
	Scope  string `json:"scope" validate:"required,max=64"`
}

// consentBody is a consent as its citizen sees it; the code is in it only in the
// answer to creating the consent.
type consentBody struct {
	ID          string     `json:"id"`
	BankID      string     `json:"bank_id"`
	BankName    string     `json:"bank_name"`
	Scope       string     `json:"scope"`
	Status      string     `json:"status"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   time.Time  `json:"expires_at"` // of the code
	ExchangedAt *time.Time `json:"exchanged_at"`
	RevokedAt   *time.Time `json:"revoked_at"`
}

type createdConsentBody struct {
	consentBody
	Code string `json:"code"`
}

func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func consentOf(v domain.ConsentView) consentBody {
	return consentBody{
		ID: v.ID, BankID: v.BankID, BankName: v.BankName, Scope: string(v.Scope), Status: string(v.Status),
		CreatedAt: v.CreatedAt.UTC(), ExpiresAt: v.CodeExpiresAt.UTC(),
		ExchangedAt: utcPtr(v.ExchangedAt), RevokedAt: utcPtr(v.RevokedAt),
	}
}

type exchangeConsentRequest struct {
	Code string `json:"code" validate:"required,max=64"`
}

// carbonProfileBody is all a bank learns from a consent: no consent id, internal
// citizen id, phone number or nickname.
type carbonProfileBody struct {
	CitizenRef  string    `json:"citizen_ref"`
	Scope       string    `json:"scope"`
	Level       int       `json:"level"`
	LevelName   string    `json:"level_name"`
	CO2eGTotal  int64     `json:"co2e_g_total"`
	Balance     int64     `json:"balance"`
	ExchangedAt time.Time `json:"exchanged_at"`
}

// createConsent grants a bank one-time access to the citizen's carbon profile;
// the answer holds the code, shown this once.
func (s *server) createConsent(c *fiber.Ctx) error {
	var req createConsentRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	citizenID := principal(c).SubjectID
	if _, err := s.Citizens.Get(c.UserContext(), citizenID); err != nil {
		return err
	}
	consent, code, err := s.Consents.Grant(c.UserContext(), citizenID, domain.NewConsentInput{BankID: req.BankID, Scope: req.Scope})
	if err != nil {
		return err
	}
	bank, err := s.Consents.Banks.GetBank(c.UserContext(), consent.BankID)
	if err != nil {
		return err
	}
	view := domain.ConsentView{Consent: consent, BankName: bank.Name, Status: domain.ConsentActive}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.Status(fiber.StatusCreated).JSON(createdConsentBody{consentBody: consentOf(view), Code: code})
}

func (s *server) listConsents(c *fiber.Ctx) error {
	beforeID, limit, err := pageParams(c)
	if err != nil {
		return err
	}
	views, err := s.Consents.List(c.UserContext(), principal(c).SubjectID, beforeID, limit+1)
	if err != nil {
		return err
	}
	return c.JSON(pageOf(views, limit, func(v domain.ConsentView) string { return v.ID }, consentOf))
}

func (s *server) revokeConsent(c *fiber.Ctx) error {
	if err := s.Consents.Revoke(c.UserContext(), principal(c).SubjectID, strings.Clone(c.Params("id"))); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// exchangeConsent gives a bank the carbon profile a citizen's code stands for,
// once. Unknown, another bank's, expired, used and revoked codes all answer the
// same 404 consent_code_invalid.
func (s *server) exchangeConsent(c *fiber.Ctx) error {
	var req exchangeConsentRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	p, err := s.Consents.Exchange(c.UserContext(), bankCredential(c), req.Code)
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(carbonProfileBody{
		CitizenRef: p.CitizenRef, Scope: string(p.Scope), Level: p.Level.Number, LevelName: p.Level.Name,
		CO2eGTotal: p.CO2eGramsTotal, Balance: p.Balance, ExchangedAt: p.ExchangedAt.UTC(),
	})
}
