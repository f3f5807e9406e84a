package api

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

type bankBody struct {
	ID        string    `json:"id"`
	Code      string    `json:"code"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	CreatedBy string    `json:"created_by"`
}

func bankOf(b domain.Bank) bankBody {
	return bankBody{ID: b.ID, Code: b.Code, Name: b.Name, CreatedAt: b.CreatedAt.UTC(), CreatedBy: b.CreatedBy}
}

// bankCredentialBody never carries the secret or its hash.
type bankCredentialBody struct {
	ID        string     `json:"id"`
	BankID    string     `json:"bank_id"`
	ClientID  string     `json:"client_id"`
	Scopes    []string   `json:"scopes"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	RevokedAt *time.Time `json:"revoked_at"`
}

func bankCredentialOf(c domain.BankCredential) bankCredentialBody {
	b := bankCredentialBody{ID: c.ID, BankID: c.BankID, ClientID: c.ClientID, Scopes: c.Scopes,
		CreatedAt: c.CreatedAt.UTC(), CreatedBy: c.CreatedBy}
	if b.Scopes == nil {
		b.Scopes = []string{}
	}
	if c.RevokedAt != nil {
		t := c.RevokedAt.UTC()
		b.RevokedAt = &t
	}
	return b
}

// issuedBankCredentialBody is the answer to issuing a credential: the only time
// the secret is shown.
type issuedBankCredentialBody struct {
	bankCredentialBody
	ClientSecret string `json:"client_secret"`
}

type createBankRequest struct {
	Code string `json:"code" validate:"required,max=64"`
	Name string `json:"name" validate:"required,max=256"`
}

type issueBankCredentialRequest struct {
	Scopes *[]string `json:"scopes"`
}

// maxRequestedScopes bounds the scopes list of a credential request; there are
// three scopes.
const maxRequestedScopes = 16

// unpaged is an unpaginated list in the page shape, so that paging can be added
// without changing clients.
func unpaged[T any](items []T) page[T] {
	if items == nil {
		items = []T{}
	}
	return page[T]{Items: items}
}

func (s *server) createBank(c *fiber.Ctx) error {
	var req createBankRequest
	if err := bind(c, &req); err != nil {
		return err
	}
	b, err := s.Banks.CreateBank(c.UserContext(), domain.NewBankInput{Code: req.Code, Name: req.Name}, principal(c).SubjectID)
	if err != nil {
		return err
	}
	c.Location("/v1/admin/banks/" + b.ID)
	return c.Status(fiber.StatusCreated).JSON(bankOf(b))
}

func (s *server) listBanks(c *fiber.Ctx) error {
	banks, err := s.Banks.ListBanks(c.UserContext())
	if err != nil {
		return err
	}
	items := make([]bankBody, 0, len(banks))
	for _, b := range banks {
		items = append(items, bankOf(b))
	}
	return c.JSON(unpaged(items))
}

func (s *server) getBank(c *fiber.Ctx) error {
	b, err := s.Banks.GetBank(c.UserContext(), strings.Clone(c.Params("id")))
	if err != nil {
		return err
	}
	return c.JSON(bankOf(b))
}

// issueBankCredential takes an optional JSON body: without one, or without
// scopes, the credential gets every bank scope.
func (s *server) issueBankCredential(c *fiber.Ctx) error {
	var req issueBankCredentialRequest
	if len(c.Body()) > 0 {
		if err := bind(c, &req); err != nil {
			return err
		}
	}
	var scopes []string
	if req.Scopes != nil {
		scopes = *req.Scopes
		switch {
		case len(scopes) == 0:
			return domain.Invalid(domain.FieldError{Field: "scopes", Code: "required",
				Message: "must name at least one scope; omit the field for every scope"})
		case len(scopes) > maxRequestedScopes:
			return domain.Invalid(domain.FieldError{Field: "scopes", Code: "max", Message: "is too long"})
		}
	}
	cred, secret, err := s.Banks.IssueCredential(c.UserContext(), strings.Clone(c.Params("id")), scopes, principal(c).SubjectID)
	if err != nil {
		return err
	}
	c.Location("/v1/admin/banks/" + cred.BankID + "/credentials")
	return c.Status(fiber.StatusCreated).JSON(issuedBankCredentialBody{bankCredentialBody: bankCredentialOf(cred), ClientSecret: secret})
}

func (s *server) listBankCredentials(c *fiber.Ctx) error {
	creds, err := s.Banks.ListCredentials(c.UserContext(), strings.Clone(c.Params("id")))
	if err != nil {
		return err
	}
	items := make([]bankCredentialBody, 0, len(creds))
	for _, cr := range creds {
		items = append(items, bankCredentialOf(cr))
	}
	return c.JSON(unpaged(items))
}

func (s *server) revokeBankCredential(c *fiber.Ctx) error {
	err := s.Banks.RevokeCredential(c.UserContext(), strings.Clone(c.Params("id")), strings.Clone(c.Params("credential_id")))
	if err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type bankMeBody struct {
	BankID   string   `json:"bank_id"`
	Code     string   `json:"code"`
	Name     string   `json:"name"`
	ClientID string   `json:"client_id"`
	Scopes   []string `json:"scopes"`
}

// getBankMe tells a bank's systems who their token speaks for and what it may do.
func (s *server) getBankMe(c *fiber.Ctx) error {
	p := principal(c)
	b, err := s.Banks.GetBank(c.UserContext(), p.SubjectID)
	if err != nil {
		return err
	}
	scopes := strings.Fields(p.Scope)
	return c.JSON(bankMeBody{BankID: b.ID, Code: b.Code, Name: b.Name, ClientID: bankCredential(c).ClientID, Scopes: scopes})
}
