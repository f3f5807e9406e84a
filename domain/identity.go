package domain

import "context"

// VerifiedIdentity is what an identity provider vouches for after checking a token.
type VerifiedIdentity struct {
	Identity Identity
	Phone    string // E.164, empty if the provider has none
}

// IDTokenVerifier checks an identity provider's token (a Firebase ID token).
type IDTokenVerifier interface {
	// VerifyIDToken returns a KindUnauthorized error for a bad, expired or revoked
	// token, and KindUnavailable if the provider cannot be reached.
	VerifyIDToken(ctx context.Context, idToken string) (VerifiedIdentity, error)
}
