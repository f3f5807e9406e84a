// Package fakeemulator is a stand-in for the Firebase Auth emulator, for tests only.
// It answers the one call the Admin SDK makes when verifying an ID token in emulator
// mode (POST /identitytoolkit.googleapis.com/v1/projects/<project>/accounts:lookup)
// and mints unsigned, emulator-style ID tokens.
//
// The SDK switches to emulator mode when FIREBASE_AUTH_EMULATOR_HOST is set at the
// time its auth client is created. That variable is process-wide, so a test must set
// it with t.Setenv (or Emulator.Setenv) before creating the verifier, and such tests
// cannot use t.Parallel:
//
//	emu := fakeemulator.New(t, "demo-carbon")
//	emu.Setenv(t)
//	emu.AddUser("uid-1", "+8613800138000")
//	v, err := firebase.NewVerifier(ctx, "demo-carbon", "")
//	got, err := v.VerifyIDToken(ctx, emu.IDToken("uid-1"))
package fakeemulator

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// EmulatorHostEnv is the variable the Admin SDK reads to find the Auth emulator.
const EmulatorHostEnv = "FIREBASE_AUTH_EMULATOR_HOST"

// Emulator is a fake Firebase Auth emulator serving one project.
type Emulator struct {
	projectID string
	srv       *httptest.Server

	mu         sync.Mutex
	users      map[string]*user
	lookups    int
	failStatus int
}

type user struct {
	uid        string
	phone      string
	disabled   bool
	validSince int64 // unix seconds; tokens issued before are revoked
	createdAt  time.Time
}

// New starts a fake emulator for projectID. It is closed when the test ends.
func New(t testing.TB, projectID string) *Emulator {
	t.Helper()
	e := &Emulator{projectID: projectID, users: map[string]*user{}}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	t.Cleanup(e.srv.Close)
	return e
}

// Host returns host:port, the value for FIREBASE_AUTH_EMULATOR_HOST.
func (e *Emulator) Host() string { return strings.TrimPrefix(e.srv.URL, "http://") }

// Setenv points FIREBASE_AUTH_EMULATOR_HOST at this emulator for the rest of the
// test. Call it before creating the verifier; t must not be parallel.
func (e *Emulator) Setenv(t testing.TB) {
	t.Helper()
	t.Setenv(EmulatorHostEnv, e.Host())
}

// ProjectID returns the project the emulator serves.
func (e *Emulator) ProjectID() string { return e.projectID }

// Close stops the server, so that later calls fail to connect (as when the emulator
// is down). Closing twice is harmless.
func (e *Emulator) Close() { e.srv.Close() }

// AddUser registers a user signed in with phone auth. phone may be empty.
func (e *Emulator) AddUser(uid, phone string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.users[uid] = &user{uid: uid, phone: phone, createdAt: time.Now()}
}

// DisableUser marks a known user disabled.
func (e *Emulator) DisableUser(uid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if u, ok := e.users[uid]; ok {
		u.disabled = true
	}
}

// RevokeTokens revokes the user's tokens issued before the current second, as
// auth.Client.RevokeRefreshTokens does.
func (e *Emulator) RevokeTokens(uid string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if u, ok := e.users[uid]; ok {
		u.validSince = time.Now().Unix()
	}
}

// FailWith makes every request answer with an error of the given HTTP status (for
// example 500); 0 restores normal answers. Note the SDK retries 503 with backoff.
func (e *Emulator) FailWith(status int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failStatus = status
}

// Lookups returns how many accounts:lookup requests were served.
func (e *Emulator) Lookups() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lookups
}

func (e *Emulator) serve(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.failStatus != 0 {
		writeError(w, e.failStatus, http.StatusText(e.failStatus))
		return
	}
	project, ok := strings.CutPrefix(r.URL.Path, "/identitytoolkit.googleapis.com/v1/projects/")
	project, ok2 := strings.CutSuffix(project, "/accounts:lookup")
	if !ok || !ok2 || r.Method != http.MethodPost {
		writeError(w, http.StatusNotFound, "fakeemulator: unsupported request "+r.Method+" "+r.URL.Path)
		return
	}
	// The SDK authenticates to the emulator as an admin with the fixed token "owner".
	if r.Header.Get("Authorization") != "Bearer owner" {
		writeError(w, http.StatusUnauthorized, "fakeemulator: expected Authorization: Bearer owner")
		return
	}
	var req struct {
		LocalID     []string `json:"localId"`
		PhoneNumber []string `json:"phoneNumber"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_JSON")
		return
	}
	e.lookups++

	resp := map[string]any{"kind": "identitytoolkit#GetAccountInfoResponse"}
	var found []map[string]any
	if project == e.projectID { // like the real emulator, other projects simply have no users
		for _, u := range e.users {
			if contains(req.LocalID, u.uid) || (u.phone != "" && contains(req.PhoneNumber, u.phone)) {
				found = append(found, u.record())
			}
		}
	}
	// Like the real service, an unknown user is a 200 without "users"; the SDK turns
	// that into USER_NOT_FOUND itself.
	if len(found) > 0 {
		resp["users"] = found
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(resp)
}

func (u *user) record() map[string]any {
	ms := strconv.FormatInt(u.createdAt.UnixMilli(), 10)
	rec := map[string]any{
		"localId":       u.uid,
		"createdAt":     ms,
		"lastLoginAt":   ms,
		"lastRefreshAt": u.createdAt.UTC().Format(time.RFC3339),
		"emailVerified": false,
		"disabled":      u.disabled,
	}
	if u.validSince != 0 {
		rec["validSince"] = strconv.FormatInt(u.validSince, 10)
	}
	if u.phone != "" {
		rec["phoneNumber"] = u.phone
		rec["providerUserInfo"] = []map[string]any{{"providerId": "phone", "rawId": u.phone, "phoneNumber": u.phone}}
	}
	return rec
}

func writeError(w http.ResponseWriter, status int, message string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{
		"error": map[string]any{"code": status, "message": message, "errors": []map[string]any{{"message": message, "reason": "invalid"}}},
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TokenOption changes the claims of a minted ID token.
type TokenOption func(claims map[string]any)

// Expired makes the token expire two hours ago (well beyond the SDK's five minutes
// of allowed clock skew), issued three hours ago.
func Expired() TokenOption {
	now := time.Now()
	return func(c map[string]any) {
		c["iat"] = now.Add(-3 * time.Hour).Unix()
		c["auth_time"] = now.Add(-3 * time.Hour).Unix()
		c["exp"] = now.Add(-2 * time.Hour).Unix()
	}
}

// IssuedAt sets iat and auth_time, and exp to an hour later.
func IssuedAt(t time.Time) TokenOption {
	return func(c map[string]any) {
		c["iat"] = t.Unix()
		c["auth_time"] = t.Unix()
		c["exp"] = t.Add(time.Hour).Unix()
	}
}

// ExpiresAt sets exp.
func ExpiresAt(t time.Time) TokenOption {
	return func(c map[string]any) { c["exp"] = t.Unix() }
}

// Audience sets aud (normally the project id).
func Audience(aud string) TokenOption {
	return func(c map[string]any) { c["aud"] = aud }
}

// Issuer sets iss (normally https://securetoken.google.com/<project>).
func Issuer(iss string) TokenOption {
	return func(c map[string]any) { c["iss"] = iss }
}

// Project sets both aud and iss as if the token came from another project.
func Project(projectID string) TokenOption {
	return func(c map[string]any) {
		c["aud"] = projectID
		c["iss"] = "https://securetoken.google.com/" + projectID
	}
}

// Phone sets the phone_number claim; "" removes it.
func Phone(phone string) TokenOption {
	return func(c map[string]any) {
		if phone == "" {
			delete(c, "phone_number")
			c["firebase"] = map[string]any{"identities": map[string]any{}, "sign_in_provider": "anonymous"}
			return
		}
		c["phone_number"] = phone
		c["firebase"] = phoneFirebaseClaim(phone)
	}
}

// Claim sets any claim; a nil value removes it.
func Claim(name string, value any) TokenOption {
	return func(c map[string]any) {
		if value == nil {
			delete(c, name)
			return
		}
		c[name] = value
	}
}

func phoneFirebaseClaim(phone string) map[string]any {
	return map[string]any{
		"identities":       map[string]any{"phone": []string{phone}},
		"sign_in_provider": "phone",
	}
}

// IDToken mints an unsigned ID token for uid, shaped like the ones the Auth emulator
// issues after phone sign-in: header {"alg":"none","typ":"JWT"}, an empty signature,
// and claims iss, aud, sub, user_id, iat, exp (an hour later), auth_time,
// phone_number (the user's phone if the user is known and has one) and firebase.
// The user need not be known: tokens for unknown users are refused at lookup.
func (e *Emulator) IDToken(uid string, opts ...TokenOption) string {
	now := time.Now()
	claims := map[string]any{
		"iss":       "https://securetoken.google.com/" + e.projectID,
		"aud":       e.projectID,
		"sub":       uid,
		"user_id":   uid,
		"iat":       now.Unix(),
		"auth_time": now.Unix(),
		"exp":       now.Add(time.Hour).Unix(),
		"firebase":  map[string]any{"identities": map[string]any{}, "sign_in_provider": "anonymous"},
	}
	e.mu.Lock()
	if u, ok := e.users[uid]; ok && u.phone != "" {
		claims["phone_number"] = u.phone
		claims["firebase"] = phoneFirebaseClaim(u.phone)
	}
	e.mu.Unlock()
	for _, opt := range opts {
		opt(claims)
	}
	return UnsignedJWT(claims)
}

// UnsignedJWT encodes claims as a JWT with alg "none" and an empty signature.
func UnsignedJWT(claims map[string]any) string {
	header, err := json.Marshal(map[string]string{"alg": "none", "typ": "JWT"})
	if err != nil {
		panic(fmt.Sprintf("fakeemulator: %v", err))
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		panic(fmt.Sprintf("fakeemulator: encode claims: %v", err))
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(header) + "." + enc.EncodeToString(payload) + "."
}
