package api

import (
	"encoding/base64"
	"errors"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/huzhou-lvdaitong/carbon-account/api/token"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// oauthError is an RFC 6749 §5.2 error body. The token endpoint answers with it
// instead of a problem, because OAuth2 client libraries expect it.
type oauthError struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

// bankTokenResponse is the RFC 6749 §5.1 answer to a client-credentials grant:
// no refresh token, the bank asks again with its credential.
type bankTokenResponse struct {
	AccessToken string `json:"access_token"`
	TokenType   string `json:"token_type"`
	ExpiresIn   int    `json:"expires_in"`
	Scope       string `json:"scope"`
}

// OAuth2 error codes the token endpoint answers with, besides the domain's.
const (
	oauthUnsupportedGrantType = "unsupported_grant_type"
	bankTokenRealm            = `Basic realm="carbon-account-bank", charset="UTF-8"`
	maxClientIDLen            = 128
	maxClientSecretLen        = 256
)

// oauthStatus is the HTTP status of each OAuth2 error code.
var oauthStatus = map[string]int{
	domain.OAuthInvalidRequest: http.StatusBadRequest,
	domain.OAuthInvalidClient:  http.StatusUnauthorized,
	domain.OAuthInvalidScope:   http.StatusBadRequest,
	domain.OAuthSlowDown:       http.StatusTooManyRequests,
	oauthUnsupportedGrantType:  http.StatusBadRequest,
}

// tokenRequestError is a refusal of the token endpoint, answered as an OAuth2
// error body (see bankToken).
type tokenRequestError struct {
	code, description string
}

func (e *tokenRequestError) Error() string { return e.code + ": " + e.description }

func refuse(code, description string) error {
	return &tokenRequestError{code: code, description: description}
}

var errNoClientAuth = refuse(domain.OAuthInvalidClient, "authenticate with HTTP Basic (client_id:client_secret) or with client_id and client_secret in the body")

// bankToken is POST /v1/bank/oauth/token: the OAuth2 client-credentials grant
// (RFC 6749 §4.4) for banks' systems. Its refusals are OAuth2 error bodies, written
// here so the problem+json error handler never sees them; unexpected failures
// still go to it (a 500 problem).
func (s *server) bankToken(c *fiber.Ctx) error {
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderPragma, "no-cache")
	res, err := s.grantBankToken(c)
	var refused *tokenRequestError
	var de *domain.Error
	switch {
	case errors.As(err, &refused):
	case errors.As(err, &de) && oauthStatus[de.Code] != 0:
		refused = &tokenRequestError{code: de.Code, description: de.Message}
		if de.Kind == domain.KindRateLimited && de.RetryAfter > 0 {
			c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(de.RetryAfter.Seconds()))))
		}
	case err != nil:
		return err
	default:
		return c.JSON(res)
	}
	status := oauthStatus[refused.code]
	if status == http.StatusUnauthorized {
		// A 401 must say how to authenticate (RFC 7235 §3.1); RFC 6749 §5.2 asks for
		// the scheme the client tried, and Basic is the one we prefer anyway.
		c.Set(fiber.HeaderWWWAuthenticate, bankTokenRealm)
	}
	return c.Status(status).JSON(oauthError{Error: refused.code, ErrorDescription: refused.description})
}

// grantBankToken reads and checks the token request and mints the token.
func (s *server) grantBankToken(c *fiber.Ctx) (bankTokenResponse, error) {
	params, err := tokenRequestParams(c)
	if err != nil {
		return bankTokenResponse{}, err
	}
	switch params.Get("grant_type") {
	case "":
		return bankTokenResponse{}, refuse(domain.OAuthInvalidRequest, "grant_type is required; use client_credentials")
	case "client_credentials":
	default:
		return bankTokenResponse{}, refuse(oauthUnsupportedGrantType, "only grant_type=client_credentials is supported")
	}
	clientID, secret, err := clientCredentials(c, params)
	if err != nil {
		return bankTokenResponse{}, err
	}
	requested, err := domain.ParseScope(params.Get("scope"))
	if err != nil {
		return bankTokenResponse{}, err
	}
	cred, granted, err := s.Banks.Authenticate(c.UserContext(), clientID, secret, requested, clientAddr(c))
	if err != nil {
		return bankTokenResponse{}, err
	}
	scope := domain.FormatScope(granted)
	ttl := s.Banks.TokenLifetime()
	access, err := s.tokens.MintTTL(token.Principal{SubjectID: cred.BankID, Role: domain.RoleBank, SessionID: cred.ID, Scope: scope}, ttl)
	if err != nil {
		return bankTokenResponse{}, err
	}
	return bankTokenResponse{AccessToken: access, TokenType: "Bearer", ExpiresIn: int(ttl.Seconds()), Scope: scope}, nil
}

// tokenParams are the parameters the token endpoint reads; each may appear once
// (RFC 6749 §3.2), others are ignored.
var tokenParams = []string{"grant_type", "scope", "client_id", "client_secret"}

// tokenRequestParams reads the form body. Parameters sent without a value count
// as omitted (RFC 6749 §3.1), and client credentials never belong in the URL.
func tokenRequestParams(c *fiber.Ctx) (url.Values, error) {
	mt, _, err := mime.ParseMediaType(c.Get(fiber.HeaderContentType))
	if err != nil || mt != fiber.MIMEApplicationForm {
		return nil, refuse(domain.OAuthInvalidRequest, "the body must be application/x-www-form-urlencoded")
	}
	if q := string(c.Request().URI().QueryString()); q != "" {
		if v, err := url.ParseQuery(q); err != nil || v.Has("client_secret") {
			return nil, refuse(domain.OAuthInvalidRequest, "send parameters in the body, never client_secret in the URL")
		}
	}
	params, err := url.ParseQuery(string(c.Body()))
	if err != nil {
		return nil, refuse(domain.OAuthInvalidRequest, "the body is not a valid form")
	}
	for _, name := range tokenParams {
		if len(params[name]) > 1 {
			return nil, refuse(domain.OAuthInvalidRequest, "the parameter "+name+" is repeated")
		}
	}
	return params, nil
}

// clientCredentials returns the client_id and secret from HTTP Basic (RFC 6749
// §2.3.1: each form-urlencoded, then joined by ':' and base64-encoded) or from the
// body, refusing a request that uses both.
func clientCredentials(c *fiber.Ctx, params url.Values) (clientID, secret string, err error) {
	header := c.Get(fiber.HeaderAuthorization)
	if header == "" {
		clientID, secret = params.Get("client_id"), params.Get("client_secret")
		if clientID == "" || secret == "" {
			return "", "", errNoClientAuth
		}
		return clientID, secret, checkCredentialLengths(clientID, secret)
	}
	scheme, encoded, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Basic") {
		return "", "", refuse(domain.OAuthInvalidClient, "the Authorization header must use the Basic scheme")
	}
	if params.Get("client_secret") != "" {
		return "", "", refuse(domain.OAuthInvalidRequest, "use one client authentication method: HTTP Basic or client_secret in the body, not both")
	}
	raw, decErr := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	id, pass, ok := strings.Cut(string(raw), ":")
	if decErr != nil || !ok {
		return "", "", refuse(domain.OAuthInvalidClient, "the Basic credentials are malformed")
	}
	clientID, idErr := url.QueryUnescape(id)
	secret, passErr := url.QueryUnescape(pass)
	if idErr != nil || passErr != nil || clientID == "" || secret == "" {
		return "", "", refuse(domain.OAuthInvalidClient, "the Basic credentials are malformed")
	}
	if body := params.Get("client_id"); body != "" && body != clientID {
		return "", "", refuse(domain.OAuthInvalidRequest, "client_id in the body differs from the one in the Authorization header")
	}
	return clientID, secret, checkCredentialLengths(clientID, secret)
}

// checkCredentialLengths refuses values no credential can have, before they reach
// the rate limiter's keys or bcrypt (which reads at most 72 bytes).
func checkCredentialLengths(clientID, secret string) error {
	if len(clientID) > maxClientIDLen || len(secret) > maxClientSecretLen {
		return refuse(domain.OAuthInvalidClient, "unknown client or wrong secret, or the credential was revoked")
	}
	return nil
}
