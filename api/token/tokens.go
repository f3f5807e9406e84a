package token

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Claims are what our access tokens say.
type Claims struct {
	jwt.RegisteredClaims
	Role      domain.Role `json:"role"`
	SessionID string      `json:"sid,omitempty"`
	// Scope is what a bank token may do: space-separated bank scopes (RFC 8693
	// §4.2 style). Empty for citizens and operators.
	Scope string `json:"scope,omitempty"`
}

// Principal is the authenticated caller of a request.
type Principal struct {
	SubjectID string
	Role      domain.Role
	SessionID string // the session, or for banks the credential the token was issued to
	Scope     string // bank tokens: space-separated scopes
}

// Authority mints access tokens with its signing key and accepts tokens signed by
// the signing key or any previous key.
type Authority struct {
	signing  Key
	keys     map[string]Key
	issuer   string
	audience string
	ttl      time.Duration
	now      func() time.Time
	parser   *jwt.Parser
	cache    *verifiedCache
}

// clockSkew tolerated between replicas when checking exp, nbf and iat.
const clockSkew = 30 * time.Second

// NewAuthority builds an Authority. previous are keys still accepted for verification.
func NewAuthority(signing Key, previous []Key, issuer, audience string, ttl time.Duration, now func() time.Time) *Authority {
	a := &Authority{signing: signing, keys: map[string]Key{signing.ID: signing}, issuer: issuer, audience: audience, ttl: ttl, now: now,
		cache: newVerifiedCache(verifiedCacheSize)}
	for _, k := range previous {
		a.keys[k.ID] = k
	}
	a.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(clockSkew),
		jwt.WithTimeFunc(now),
	)
	return a
}

// TTL is the lifetime of the access tokens this authority mints.
func (a *Authority) TTL() time.Duration { return a.ttl }

// Mint returns a signed access token for p that lives TTL.
func (a *Authority) Mint(p Principal) (string, error) { return a.MintTTL(p, a.ttl) }

// MintTTL returns a signed access token for p that lives ttl (bank tokens are
// shorter-lived than the others).
func (a *Authority) MintTTL(p Principal, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		return "", errors.New("token: ttl must be positive")
	}
	now := a.now()
	claims := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    a.issuer,
			Subject:   p.SubjectID,
			Audience:  jwt.ClaimStrings{a.audience},
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
			ID:        domain.NewID(now),
		},
		Role:      p.Role,
		SessionID: p.SessionID,
		Scope:     p.Scope,
	}
	t := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims)
	t.Header["kid"] = a.signing.ID
	return t.SignedString(a.signing.Private)
}

// ErrInvalidToken is returned for every token that is not one of ours and valid now;
// the cause is wrapped for logs but never shown to clients.
var ErrInvalidToken = errors.New("invalid access token")

// Verify checks signature, algorithm, key id, issuer, audience and lifetime. A
// token verified before is only checked for its lifetime (see verifiedCache).
func (a *Authority) Verify(raw string) (Principal, error) {
	now := a.now()
	if p, ok := a.cache.get(raw, now); ok {
		return p, nil
	}
	var claims Claims
	_, err := a.parser.ParseWithClaims(raw, &claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k, ok := a.keys[kid]
		if !ok {
			return nil, fmt.Errorf("unknown kid %q", kid)
		}
		return k.Public, nil
	})
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if claims.Subject == "" || claims.Role == "" {
		return Principal{}, fmt.Errorf("%w: missing sub or role", ErrInvalidToken)
	}
	p := Principal{SubjectID: claims.Subject, Role: claims.Role, SessionID: claims.SessionID, Scope: claims.Scope}
	a.cache.put(raw, verifiedWindow(p, claims), now)
	return p, nil
}

// verifiedWindow is when the parser would accept the claims, leeway included: it
// refuses a token before iat and nbf (less the leeway) and from exp (plus the
// leeway) on; exp is required, so it is set.
func verifiedWindow(p Principal, c Claims) verified {
	v := verified{principal: p, expires: c.ExpiresAt.Add(clockSkew)}
	for _, t := range []*jwt.NumericDate{c.IssuedAt, c.NotBefore} {
		if t != nil && t.Add(-clockSkew).After(v.notBefore) {
			v.notBefore = t.Add(-clockSkew)
		}
	}
	return v
}

// JWK is one public key in a JSON Web Key Set (RFC 7517, OKP keys per RFC 8037).
type JWK struct {
	KeyType   string `json:"kty"`
	Curve     string `json:"crv"`
	X         string `json:"x"`
	KeyID     string `json:"kid"`
	Algorithm string `json:"alg"`
	Use       string `json:"use"`
}

// JWKS returns the public keys that verify our tokens, the signing key first.
func (a *Authority) JWKS() []JWK {
	out := []JWK{jwkOf(a.signing.ID, a.signing.Public)}
	for id, k := range a.keys {
		if id != a.signing.ID {
			out = append(out, jwkOf(id, k.Public))
		}
	}
	return out
}

func jwkOf(id string, pub ed25519.PublicKey) JWK {
	return JWK{KeyType: "OKP", Curve: "Ed25519", X: base64.RawURLEncoding.EncodeToString(pub), KeyID: id, Algorithm: "EdDSA", Use: "sig"}
}
