package domain

import "context"

// Store is everything the document store adapters (SQLite, MongoDB) implement.
type Store interface {
	CitizenStore
	OperatorStore
	SessionStore
	CatalogStore
	ActionStore
	CarbonLedger
	BankStore
	BankCredentialStore
	BenefitStore
	ConsentStore
	RedemptionStore
	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	Close() error
}
