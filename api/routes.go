package api

import "github.com/gofiber/fiber/v2"

// routes is the route table: every route the service answers, in one place. Each
// is described in openapi.yaml.
func (s *server) routes() {
	a := s.app

	a.Get("/healthz", s.healthz)
	a.Get("/readyz", s.readyz)
	a.Get("/metrics", s.metricsHandler())
	a.Get("/openapi.yaml", s.openAPI)
	a.Get("/docs", func(c *fiber.Ctx) error { return c.Redirect("/docs/", fiber.StatusMovedPermanently) })
	a.Get("/docs/*", s.docsHandler())
	a.Get("/.well-known/jwks.json", s.jwks)

	a.Post("/v1/auth/firebase", s.firebaseSignIn)
	if s.DevLogin {
		a.Post("/v1/auth/dev-login", s.devLogin)
	}
	a.Post("/v1/auth/refresh", s.refresh)
	a.Post("/v1/auth/logout", s.allow(anySignedIn...), s.logout)

	a.Get("/v1/districts", s.listDistricts)

	a.Get("/v1/me", s.allow(citizenOnly...), s.getMe)
	a.Patch("/v1/me", s.allow(citizenOnly...), s.patchMe)
	a.Delete("/v1/me", s.allow(citizenOnly...), s.deleteMe)

	a.Get("/v1/activity-types", s.listActivityTypes)
	a.Post("/v1/actions", s.allow(citizenOnly...), s.recordAction)
	a.Get("/v1/actions", s.allow(citizenOnly...), s.listActions)
	a.Get("/v1/actions/:id", s.allow(citizenOnly...), s.getAction)
	a.Get("/v1/me/ledger", s.allow(citizenOnly...), s.listLedger)
	a.Get("/v1/me/export", s.allow(citizenOnly...), s.exportMe)
	a.Get("/v1/leaderboards", s.allow(citizenOnly...), s.getLeaderboard)
	a.Get("/v1/benefits", s.allow(citizenOnly...), s.listOffers)
	a.Post("/v1/benefits/:id/claims", s.allow(citizenOnly...), s.claimBenefit)
	a.Get("/v1/me/vouchers", s.allow(citizenOnly...), s.listVouchers)
	a.Get("/v1/me/vouchers/:id", s.allow(citizenOnly...), s.getVoucher)
	a.Post("/v1/me/consents", s.allow(citizenOnly...), s.createConsent)
	a.Get("/v1/me/consents", s.allow(citizenOnly...), s.listConsents)
	a.Delete("/v1/me/consents/:id", s.allow(citizenOnly...), s.revokeConsent)

	a.Post("/v1/admin/auth/login", s.operatorLogin)
	a.Get("/v1/admin/me", s.allow(anyOperator...), s.getOperatorMe)
	a.Get("/v1/admin/operators", s.allow(adminReaders...), s.listOperators)
	a.Post("/v1/admin/operators", s.allow(adminOnly...), s.createOperator)
	a.Get("/v1/admin/operators/:id", s.allow(adminReaders...), s.getOperator)

	a.Get("/v1/admin/activity-types", s.allow(anyOperator...), s.adminListActivityTypes)
	a.Post("/v1/admin/activity-types", s.allow(configurers...), s.createActivityType)
	a.Get("/v1/admin/activity-types/:code/versions", s.allow(anyOperator...), s.listCoefficientVersions)
	a.Post("/v1/admin/activity-types/:code/versions", s.allow(configurers...), s.addCoefficientVersion)

	a.Get("/v1/admin/banks", s.allow(anyOperator...), s.listBanks)
	a.Post("/v1/admin/banks", s.allow(configurers...), s.createBank)
	a.Get("/v1/admin/banks/:id", s.allow(anyOperator...), s.getBank)
	a.Get("/v1/admin/banks/:id/credentials", s.allow(anyOperator...), s.listBankCredentials)
	a.Post("/v1/admin/banks/:id/credentials", s.allow(configurers...), s.issueBankCredential)
	a.Delete("/v1/admin/banks/:id/credentials/:credential_id", s.allow(configurers...), s.revokeBankCredential)

	a.Post("/v1/bank/oauth/token", s.bankToken)
	a.Get("/v1/bank/me", s.allowBank(), s.getBankMe)
	a.Post("/v1/bank/consents/exchange", s.allowBank(scopeConsentsExchange), s.exchangeConsent)
	a.Post("/v1/bank/redemptions", s.allowBank(scopeRedemptionsWrite), s.redeemVoucher)
	a.Post("/v1/bank/redemptions/:id/reversal", s.allowBank(scopeRedemptionsWrite), s.reverseRedemption)
	a.Get("/v1/bank/redemptions", s.allowBank(scopeRedemptionsRead), s.listRedemptions)

	a.Get("/v1/admin/benefits", s.allow(anyOperator...), s.adminListBenefits)
	a.Post("/v1/admin/benefits", s.allow(configurers...), s.createBenefit)
	a.Get("/v1/admin/benefits/:id", s.allow(anyOperator...), s.adminGetBenefit)
}
