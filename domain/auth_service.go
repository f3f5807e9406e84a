package domain

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// SignedIn is the outcome of a sign-in or a refresh: who the caller is and the new
// refresh token of their session. The HTTP layer mints the access token from it.
type SignedIn struct {
	SubjectID        string
	Role             Role
	SessionID        string
	RefreshToken     string
	RefreshExpiresAt time.Time
	NewCitizen       bool // the sign-in created the citizen
}

// AuthService signs citizens and operators in and keeps their sessions.
type AuthService struct {
	Citizens  CitizenStore
	Operators OperatorStore
	Sessions  SessionStore
	Limiter   RateLimiter
	Verifier  IDTokenVerifier // nil when Firebase is not configured
	Now       func() time.Time

	RefreshTTL time.Duration
	// LoginAttempts per LoginWindow are allowed for one username, and ten times as
	// many from one client address.
	LoginAttempts int
	LoginWindow   time.Duration
}

// refreshTokenBytes of randomness make refresh tokens unguessable (256 bits).
const refreshTokenBytes = 32

var (
	errInvalidRefresh     = Errorf(KindUnauthorized, "invalid_refresh_token", "the refresh token is unknown")
	errExpiredRefresh     = Errorf(KindUnauthorized, "refresh_token_expired", "the refresh token has expired; sign in again")
	errRevokedSession     = Errorf(KindUnauthorized, "session_revoked", "the session was ended; sign in again")
	errReusedRefresh      = Errorf(KindUnauthorized, "refresh_token_reused", "the refresh token was already used; the session has been ended for safety")
	errInvalidCredentials = Errorf(KindUnauthorized, "invalid_credentials", "wrong username or password")
	errFirebaseOff        = Errorf(KindUnavailable, "firebase_not_configured", "Firebase sign-in is not configured on this server")
)

func hashRefreshToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func (s *AuthService) startSession(ctx context.Context, subjectID string, role Role) (SignedIn, error) {
	now := s.Now()
	session := Session{ID: NewID(now), SubjectID: subjectID, Role: role, CreatedAt: now}
	secret := RandomToken(refreshTokenBytes)
	first := RefreshToken{Hash: hashRefreshToken(secret), SessionID: session.ID, IssuedAt: now, ExpiresAt: now.Add(s.RefreshTTL)}
	if err := s.Sessions.CreateSession(ctx, session, first); err != nil {
		return SignedIn{}, err
	}
	return SignedIn{SubjectID: subjectID, Role: role, SessionID: session.ID, RefreshToken: secret, RefreshExpiresAt: first.ExpiresAt}, nil
}

// mainlandMobile matches an 11-digit mainland China mobile number.
var mainlandMobile = regexp.MustCompile(`^1[3-9][0-9]{9}$`)

// NormalizePhone accepts a mainland mobile number with or without +86 / 86 and
// returns it in E.164 form, or a validation error naming field.
func NormalizePhone(field, phone string) (string, error) {
	p := phone
	for _, prefix := range []string{"+86", "0086", "86"} {
		if strings.HasPrefix(p, prefix) && len(p)-len(prefix) == 11 {
			p = p[len(prefix):]
			break
		}
	}
	if !mainlandMobile.MatchString(p) {
		return "", Invalid(FieldError{Field: field, Code: "invalid_phone", Message: "must be a mainland China mobile number such as 13800138000 or +8613800138000"})
	}
	return "+86" + p, nil
}

// DevLoginInput is a development sign-in by phone number, without verification.
type DevLoginInput struct {
	Phone    string
	Nickname *string // used only when the citizen is created
	District *string // used only when the citizen is created
}

// DevLogin signs a citizen in by phone number alone. Only for development and
// demos: the HTTP layer exposes it only when CARBON_DEV_LOGIN is on.
func (s *AuthService) DevLogin(ctx context.Context, in DevLoginInput) (SignedIn, error) {
	phone, err := NormalizePhone("phone", in.Phone)
	if err != nil {
		return SignedIn{}, err
	}
	draft := s.newCitizen(Identity{Provider: ProviderDev, Subject: phone}, phone)
	if err := (ProfileUpdate{Nickname: in.Nickname, District: in.District}).Apply(&draft); err != nil {
		return SignedIn{}, err
	}
	return s.signInCitizen(ctx, draft)
}

// SignInWithIDToken verifies an identity provider's ID token and signs the citizen
// in, creating the citizen on first sign-in.
func (s *AuthService) SignInWithIDToken(ctx context.Context, idToken string) (SignedIn, error) {
	if s.Verifier == nil {
		return SignedIn{}, errFirebaseOff
	}
	if strings.TrimSpace(idToken) == "" {
		return SignedIn{}, Invalid(FieldError{Field: "id_token", Code: "required", Message: "must not be empty"})
	}
	verified, err := s.Verifier.VerifyIDToken(ctx, idToken)
	if err != nil {
		return SignedIn{}, err
	}
	return s.signInCitizen(ctx, s.newCitizen(verified.Identity, verified.Phone))
}

func (s *AuthService) newCitizen(id Identity, phone string) Citizen {
	now := s.Now()
	return Citizen{
		ID:        NewID(now),
		Identity:  id,
		Phone:     phone,
		Nickname:  defaultNickname(),
		CreatedAt: now,
		UpdatedAt: now,
	}
}

// defaultNickname gives new citizens a random public name, so that nothing derived
// from their phone number ever appears on a leaderboard.
func defaultNickname() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := []byte(RandomToken(6))
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return "绿友" + string(b[:6])
}

func (s *AuthService) signInCitizen(ctx context.Context, draft Citizen) (SignedIn, error) {
	c, created, err := s.Citizens.FindOrCreateCitizen(ctx, draft)
	if err != nil {
		return SignedIn{}, err
	}
	in, err := s.startSession(ctx, c.ID, RoleCitizen)
	in.NewCitizen = created
	return in, err
}

// Refresh spends a refresh token and returns the next one of the same session.
// Presenting a token that was already spent revokes the whole session.
func (s *AuthService) Refresh(ctx context.Context, refreshToken string) (SignedIn, error) {
	if refreshToken == "" {
		return SignedIn{}, Invalid(FieldError{Field: "refresh_token", Code: "required", Message: "must not be empty"})
	}
	now := s.Now()
	token, err := s.Sessions.GetRefreshToken(ctx, hashRefreshToken(refreshToken))
	if errors.Is(err, ErrNotFound) {
		return SignedIn{}, errInvalidRefresh
	} else if err != nil {
		return SignedIn{}, err
	}
	session, err := s.Sessions.GetSession(ctx, token.SessionID)
	if errors.Is(err, ErrNotFound) {
		return SignedIn{}, errInvalidRefresh
	} else if err != nil {
		return SignedIn{}, err
	}
	if session.RevokedAt != nil {
		return SignedIn{}, errRevokedSession
	}
	if token.UsedAt != nil {
		return SignedIn{}, s.revokeOnReuse(ctx, session.ID, now)
	}
	if !now.Before(token.ExpiresAt) {
		return SignedIn{}, errExpiredRefresh
	}
	if err := s.Sessions.SpendRefreshToken(ctx, token.Hash, now); errors.Is(err, ErrConflict) {
		return SignedIn{}, s.revokeOnReuse(ctx, session.ID, now)
	} else if err != nil {
		return SignedIn{}, err
	}
	secret := RandomToken(refreshTokenBytes)
	next := RefreshToken{Hash: hashRefreshToken(secret), SessionID: session.ID, IssuedAt: now, ExpiresAt: now.Add(s.RefreshTTL)}
	if err := s.Sessions.AddRefreshToken(ctx, next); err != nil {
		return SignedIn{}, err
	}
	return SignedIn{SubjectID: session.SubjectID, Role: session.Role, SessionID: session.ID, RefreshToken: secret, RefreshExpiresAt: next.ExpiresAt}, nil
}

func (s *AuthService) revokeOnReuse(ctx context.Context, sessionID string, now time.Time) error {
	if err := s.Sessions.RevokeSession(ctx, sessionID, now); err != nil {
		return err
	}
	return errReusedRefresh
}

// Logout ends the session; ending an already ended session is not an error.
func (s *AuthService) Logout(ctx context.Context, sessionID string) error {
	err := s.Sessions.RevokeSession(ctx, sessionID, s.Now())
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}

// dummyHash is compared against when the username is unknown, so a wrong username
// takes as long as a wrong password and does not reveal which usernames exist.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("not-a-real-password"), bcrypt.DefaultCost)

// OperatorLogin checks an operator's password. Attempts are rate limited per
// username and per client address.
func (s *AuthService) OperatorLogin(ctx context.Context, username, password, clientAddr string) (SignedIn, error) {
	username = strings.ToLower(strings.TrimSpace(username))
	if username == "" || password == "" {
		return SignedIn{}, Invalid(FieldError{Field: "username", Code: "required", Message: "username and password are required"})
	}
	if err := s.limitLogin(ctx, "login:user:"+username, s.LoginAttempts); err != nil {
		return SignedIn{}, err
	}
	if err := s.limitLogin(ctx, "login:addr:"+clientAddr, 10*s.LoginAttempts); err != nil {
		return SignedIn{}, err
	}
	op, err := s.Operators.GetOperatorByUsername(ctx, username)
	if errors.Is(err, ErrNotFound) {
		_ = bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
		return SignedIn{}, errInvalidCredentials
	} else if err != nil {
		return SignedIn{}, err
	}
	if bcrypt.CompareHashAndPassword([]byte(op.PasswordHash), []byte(password)) != nil {
		return SignedIn{}, errInvalidCredentials
	}
	return s.startSession(ctx, op.ID, op.Role)
}

func (s *AuthService) limitLogin(ctx context.Context, key string, limit int) error {
	d, err := s.Limiter.Allow(ctx, key, limit, s.LoginWindow)
	if err != nil {
		return err
	}
	if !d.Allowed {
		return &Error{Kind: KindRateLimited, Code: "too_many_login_attempts",
			Message: "too many sign-in attempts; try again later", RetryAfter: d.RetryAfter}
	}
	return nil
}
