// Package firebase verifies Firebase ID tokens for citizen sign-in. It implements
// domain.IDTokenVerifier on top of the Firebase Admin SDK.
//
// In production the SDK checks the token's RS256 signature against Google's public
// keys (fetched and cached by the SDK), its expiry and issue time (with five minutes of
// clock skew), its audience (the project id) and its issuer
// (https://securetoken.google.com/<project>). It makes no call per token except to
// refresh the keys; revoked tokens and disabled users are not detected.
//
// When FIREBASE_AUTH_EMULATOR_HOST is set at the time NewVerifier runs, the SDK talks
// to the Firebase Auth emulator instead: it ignores the credentials, skips the
// signature check (emulator tokens are unsigned), and on every verification looks the
// user up at the emulator, so tokens of unknown or disabled users and revoked tokens
// are refused there.
package firebase

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"

	fb "firebase.google.com/go/v4"
	"firebase.google.com/go/v4/auth"
	"google.golang.org/api/option"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// EmulatorHostEnv is the variable that switches the SDK to the Auth emulator. The SDK
// reads it once, when NewVerifier creates the auth client.
const EmulatorHostEnv = "FIREBASE_AUTH_EMULATOR_HOST"

// maxIDTokenLen bounds what is handed to the SDK. Real ID tokens are 1–2 KB (custom
// claims are limited to 1000 bytes); anything far larger is not a token.
const maxIDTokenLen = 16 << 10

// Error codes returned to clients.
const (
	CodeInvalidIDToken = "invalid_id_token"
	CodeUnavailable    = "identity_provider_unavailable"
)

// e164 is the shape of a phone number in E.164 form, as Firebase phone auth gives it.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// Verifier checks Firebase ID tokens. It is safe for concurrent use.
type Verifier struct {
	client *auth.Client

	// Logger receives a warning, with the SDK's error, whenever the identity provider
	// cannot be reached (the HTTP layer shows clients only the domain error and does
	// not log it). Nil means slog.Default(). Refused tokens are not logged: they are
	// the client's problem and can be plentiful.
	Logger *slog.Logger
}

var _ domain.IDTokenVerifier = (*Verifier)(nil)

// NewVerifier creates a Firebase app for projectID and its auth client. credentialsFile
// is a Google credentials JSON file (a service account key, or an authorized-user,
// external-account or impersonated-service-account configuration); when empty the SDK
// uses Application Default Credentials. Outside emulator mode the SDK fails here if it
// finds no credentials at all, although verifying ID tokens uses none (only the
// project id and Google's public keys). In emulator mode (FIREBASE_AUTH_EMULATOR_HOST
// set) credentials are ignored, but a credentialsFile given must still be readable.
func NewVerifier(ctx context.Context, projectID, credentialsFile string) (*Verifier, error) {
	if projectID == "" {
		return nil, errors.New("firebase: project id is required")
	}
	var opts []option.ClientOption
	if credentialsFile != "" {
		opt, err := credentialsOption(credentialsFile)
		if err != nil {
			return nil, err
		}
		opts = append(opts, opt)
	}
	app, err := fb.NewApp(ctx, &fb.Config{ProjectID: projectID}, opts...)
	if err != nil {
		return nil, fmt.Errorf("firebase: create app: %w", err)
	}
	client, err := app.Auth(ctx)
	if err != nil {
		return nil, fmt.Errorf("firebase: create auth client: %w", err)
	}
	return &Verifier{client: client}, nil
}

// credentialsOption reads the credential type from the file and passes it on, instead
// of the deprecated option.WithCredentialsFile that accepts any type unchecked.
func credentialsOption(file string) (option.ClientOption, error) {
	raw, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("firebase: read credentials: %w", err)
	}
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return nil, fmt.Errorf("firebase: credentials file %s is not JSON: %w", file, err)
	}
	switch t := option.CredentialsType(head.Type); t {
	case option.ServiceAccount, option.AuthorizedUser, option.ExternalAccount, option.ImpersonatedServiceAccount:
		return option.WithAuthCredentialsJSON(t, raw), nil
	default:
		return nil, fmt.Errorf("firebase: credentials file %s has unsupported type %q", file, head.Type)
	}
}

// VerifyIDToken checks idToken and returns the Firebase uid it was issued to, and the
// phone number it carries (empty if none, or if it is not in E.164 form).
//
// A bad, expired, revoked or malformed token, or one of an unknown or disabled user,
// gives a KindUnauthorized error with code "invalid_id_token"; failing to reach
// Google or the emulator gives KindUnavailable with code
// "identity_provider_unavailable". The returned error matches *domain.Error through
// errors.As, whose Message is safe to show to clients; the error also wraps the SDK's
// error, and its Error() text includes it, for logs only.
func (v *Verifier) VerifyIDToken(ctx context.Context, idToken string) (domain.VerifiedIdentity, error) {
	if idToken == "" || len(idToken) > maxIDTokenLen {
		return domain.VerifiedIdentity{}, &Error{public: errInvalid}
	}
	token, err := v.client.VerifyIDToken(ctx, idToken)
	if err != nil {
		verr := classify(ctx, err)
		if verr.public.Kind == domain.KindUnavailable {
			v.logger().WarnContext(ctx, "firebase: cannot verify ID token, identity provider unavailable",
				slog.String("error", verr.cause.Error()))
		}
		return domain.VerifiedIdentity{}, verr
	}
	verified := domain.VerifiedIdentity{
		Identity: domain.Identity{Provider: domain.ProviderFirebase, Subject: token.UID},
	}
	if phone, ok := token.Claims["phone_number"].(string); ok && e164.MatchString(phone) {
		verified.Phone = phone
	}
	return verified, nil
}

func (v *Verifier) logger() *slog.Logger {
	if v.Logger != nil {
		return v.Logger
	}
	return slog.Default()
}

var (
	errInvalid     = domain.Errorf(domain.KindUnauthorized, CodeInvalidIDToken, "the ID token is invalid; sign in again")
	errExpired     = domain.Errorf(domain.KindUnauthorized, CodeInvalidIDToken, "the ID token has expired; get a fresh one and retry")
	errRevoked     = domain.Errorf(domain.KindUnauthorized, CodeInvalidIDToken, "the ID token has been revoked; sign in again")
	errDisabled    = domain.Errorf(domain.KindUnauthorized, CodeInvalidIDToken, "this Firebase account is disabled")
	errUnavailable = domain.Errorf(domain.KindUnavailable, CodeUnavailable, "the identity provider cannot be reached; try again later")
)

// classify maps an SDK error to the domain error a client may see. Every problem with
// the token itself comes back from the SDK tagged with an auth error code; anything
// else (transport failures, key fetch failures, 5xx answers, an unreadable answer, the
// caller's context ending) means the provider could not give an answer.
func classify(ctx context.Context, err error) *Error {
	var public *domain.Error
	switch {
	case auth.IsIDTokenExpired(err):
		public = errExpired
	case auth.IsIDTokenRevoked(err):
		public = errRevoked
	case auth.IsUserDisabled(err):
		public = errDisabled
	case auth.IsIDTokenInvalid(err), auth.IsUserNotFound(err), auth.IsTenantIDMismatch(err):
		public = errInvalid
	default:
		public = errUnavailable
		if ctxErr := ctx.Err(); ctxErr != nil && !errors.Is(err, ctxErr) {
			err = fmt.Errorf("%w (%w)", err, ctxErr)
		}
	}
	return &Error{public: public, cause: err}
}

// Error is what VerifyIDToken returns: a client-safe *domain.Error together with the
// SDK error behind it.
type Error struct {
	public *domain.Error
	cause  error // nil when the token was refused before reaching the SDK
}

// Error includes the SDK's text, for logs. Show clients only the *domain.Error
// (errors.As), never this text.
func (e *Error) Error() string {
	if e.cause == nil {
		return "firebase: " + e.public.Error()
	}
	return "firebase: " + e.public.Error() + ": " + e.cause.Error()
}

// Unwrap gives the domain error and the SDK error, so both errors.As(err,
// **domain.Error) and errors.Is on the cause work.
func (e *Error) Unwrap() []error {
	if e.cause == nil {
		return []error{e.public}
	}
	return []error{e.public, e.cause}
}
