package firebase_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/firebase"
	"github.com/huzhou-lvdaitong/carbon-account/adapters/firebase/fakeemulator"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// These tests set FIREBASE_AUTH_EMULATOR_HOST with t.Setenv before creating each
// verifier (the SDK reads it then), so none of them may run in parallel.

const project = "demo-carbon"

const (
	phoneUID   = "uid-phone"
	phone      = "+8613800138000"
	noPhoneUID = "uid-no-phone"
)

func TestVerifyIDToken(t *testing.T) {
	type want struct {
		identity domain.VerifiedIdentity
		kind     domain.ErrorKind // "" for success
		lookups  int              // calls the emulator must have seen; -1 to skip the check
	}
	ok := func(uid, phone string) want {
		return want{identity: domain.VerifiedIdentity{
			Identity: domain.Identity{Provider: domain.ProviderFirebase, Subject: uid},
			Phone:    phone,
		}, lookups: 1}
	}
	refusedBeforeLookup := want{kind: domain.KindUnauthorized, lookups: 0}
	refusedAtLookup := want{kind: domain.KindUnauthorized, lookups: 1}
	unavailable := want{kind: domain.KindUnavailable, lookups: -1}

	tests := []struct {
		name  string
		slow  bool
		ctx   func(t *testing.T) context.Context
		token func(e *fakeemulator.Emulator) string
		want  want
	}{
		{
			name:  "valid phone sign-in",
			token: func(e *fakeemulator.Emulator) string { return e.IDToken(phoneUID) },
			want:  ok(phoneUID, phone),
		},
		{
			name:  "valid token without phone",
			token: func(e *fakeemulator.Emulator) string { return e.IDToken(noPhoneUID) },
			want:  ok(noPhoneUID, ""),
		},
		{
			name: "phone claim not in E.164 form is dropped",
			token: func(e *fakeemulator.Emulator) string {
				return e.IDToken(noPhoneUID, fakeemulator.Phone("13800138000"))
			},
			want: ok(noPhoneUID, ""),
		},
		{
			name: "non-string phone claim is dropped",
			token: func(e *fakeemulator.Emulator) string {
				return e.IDToken(noPhoneUID, fakeemulator.Claim("phone_number", 8613800138000))
			},
			want: ok(noPhoneUID, ""),
		},
		{
			name: "within allowed clock skew",
			token: func(e *fakeemulator.Emulator) string {
				return e.IDToken(phoneUID, fakeemulator.ExpiresAt(time.Now().Add(-time.Minute)))
			},
			want: ok(phoneUID, phone),
		},
		{
			name:  "expired",
			token: func(e *fakeemulator.Emulator) string { return e.IDToken(phoneUID, fakeemulator.Expired()) },
			want:  refusedBeforeLookup,
		},
		{
			name: "issued in the future",
			token: func(e *fakeemulator.Emulator) string {
				return e.IDToken(phoneUID, fakeemulator.IssuedAt(time.Now().Add(time.Hour)))
			},
			want: refusedBeforeLookup,
		},
		{
			name: "wrong audience",
			token: func(e *fakeemulator.Emulator) string {
				return e.IDToken(phoneUID, fakeemulator.Audience("another-project"))
			},
			want: refusedBeforeLookup,
		},
		{
			name: "wrong issuer",
			token: func(e *fakeemulator.Emulator) string {
				return e.IDToken(phoneUID, fakeemulator.Issuer("https://accounts.google.com"))
			},
			want: refusedBeforeLookup,
		},
		{
			name: "token of another project",
			token: func(e *fakeemulator.Emulator) string {
				return e.IDToken(phoneUID, fakeemulator.Project("another-project"))
			},
			want: refusedBeforeLookup,
		},
		{
			name:  "empty subject",
			token: func(e *fakeemulator.Emulator) string { return e.IDToken("") },
			want:  refusedBeforeLookup,
		},
		{
			name:  "garbage",
			token: func(*fakeemulator.Emulator) string { return "not-a-token" },
			want:  refusedBeforeLookup,
		},
		{
			name:  "garbage with three segments",
			token: func(*fakeemulator.Emulator) string { return "a.b.c" },
			want:  refusedBeforeLookup,
		},
		{
			name: "payload not JSON",
			token: func(*fakeemulator.Emulator) string {
				return "eyJhbGciOiJub25lIn0.bm90IGpzb24."
			},
			want: refusedBeforeLookup,
		},
		{
			name:  "empty",
			token: func(*fakeemulator.Emulator) string { return "" },
			want:  refusedBeforeLookup,
		},
		{
			name: "oversized",
			token: func(e *fakeemulator.Emulator) string {
				return e.IDToken(phoneUID, fakeemulator.Claim("padding", strings.Repeat("x", 20<<10)))
			},
			want: refusedBeforeLookup,
		},
		{
			name:  "unknown user",
			token: func(e *fakeemulator.Emulator) string { return e.IDToken("uid-nobody") },
			want:  refusedAtLookup,
		},
		{
			name: "disabled user",
			token: func(e *fakeemulator.Emulator) string {
				e.DisableUser(phoneUID)
				return e.IDToken(phoneUID)
			},
			want: refusedAtLookup,
		},
		{
			name: "revoked token",
			token: func(e *fakeemulator.Emulator) string {
				token := e.IDToken(phoneUID, fakeemulator.IssuedAt(time.Now().Add(-time.Minute)))
				e.RevokeTokens(phoneUID)
				return token
			},
			want: refusedAtLookup,
		},
		{
			name: "emulator answers 500",
			token: func(e *fakeemulator.Emulator) string {
				e.FailWith(http.StatusInternalServerError)
				return e.IDToken(phoneUID)
			},
			want: unavailable,
		},
		{
			name: "emulator down, caller's deadline ends the retries",
			ctx: func(t *testing.T) context.Context {
				ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
				t.Cleanup(cancel)
				return ctx
			},
			token: func(e *fakeemulator.Emulator) string {
				token := e.IDToken(phoneUID)
				e.Close()
				return token
			},
			want: unavailable,
		},
		{
			// The SDK retries connection failures 4 times with 0+1+2+4 s of backoff.
			name: "emulator down",
			slow: true,
			token: func(e *fakeemulator.Emulator) string {
				token := e.IDToken(phoneUID)
				e.Close()
				return token
			},
			want: unavailable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.slow && testing.Short() {
				t.Skip("waits for the SDK's retry backoff (about 7 s)")
			}
			emu := fakeemulator.New(t, project)
			emu.Setenv(t)
			emu.AddUser(phoneUID, phone)
			emu.AddUser(noPhoneUID, "")
			ctx := t.Context()
			if tt.ctx != nil {
				ctx = tt.ctx(t)
			}
			v, err := firebase.NewVerifier(ctx, project, "")
			if err != nil {
				t.Fatalf("NewVerifier: %v", err)
			}
			var logs bytes.Buffer
			v.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			token := tt.token(emu)

			got, err := v.VerifyIDToken(ctx, token)

			if tt.want.kind == "" {
				if err != nil {
					t.Fatalf("VerifyIDToken: unexpected error %v", err)
				}
				if got != tt.want.identity {
					t.Errorf("VerifyIDToken = %+v, want %+v", got, tt.want.identity)
				}
			} else {
				checkError(t, err, tt.want.kind)
				if got != (domain.VerifiedIdentity{}) {
					t.Errorf("VerifyIDToken returned %+v with an error", got)
				}
			}
			if logged := logs.String(); (tt.want.kind == domain.KindUnavailable) != strings.Contains(logged, "identity provider unavailable") {
				t.Errorf("log = %q; want a warning only when the provider is unavailable", logged)
			}
			if tt.want.lookups >= 0 {
				if n := emu.Lookups(); n != tt.want.lookups {
					t.Errorf("emulator saw %d lookups, want %d", n, tt.want.lookups)
				}
			}
		})
	}
}

// checkError checks the kind and code, and that the client-visible message does not
// carry the SDK's text while the error itself (for logs) does.
func checkError(t *testing.T, err error, kind domain.ErrorKind) {
	t.Helper()
	if err == nil {
		t.Fatalf("VerifyIDToken: no error, want %s", kind)
	}
	t.Logf("error: %v", err)
	var de *domain.Error
	if !errors.As(err, &de) {
		t.Fatalf("VerifyIDToken error %v (%T) is not a *domain.Error", err, err)
	}
	wantCode := firebase.CodeInvalidIDToken
	if kind == domain.KindUnavailable {
		wantCode = firebase.CodeUnavailable
	}
	if de.Kind != kind || de.Code != wantCode {
		t.Errorf("error kind/code = %s/%s, want %s/%s (%v)", de.Kind, de.Code, kind, wantCode, err)
	}
	if domain.ErrorKindOf(err) != kind || domain.ErrorCodeOf(err) != wantCode {
		t.Errorf("ErrorKindOf/ErrorCodeOf = %s/%s, want %s/%s", domain.ErrorKindOf(err), domain.ErrorCodeOf(err), kind, wantCode)
	}
	for _, leak := range []string{"securetoken", "aud", "http", "127.0.0.1", "lookup", "firebase.google.com"} {
		if strings.Contains(de.Message, leak) {
			t.Errorf("client message %q leaks %q", de.Message, leak)
		}
	}
}

func TestErrorKeepsCauseForLogs(t *testing.T) {
	emu := fakeemulator.New(t, project)
	emu.Setenv(t)
	v, err := firebase.NewVerifier(t.Context(), project, "")
	if err != nil {
		t.Fatal(err)
	}
	_, err = v.VerifyIDToken(t.Context(), emu.IDToken("uid-1", fakeemulator.Audience("another-project")))
	if err == nil {
		t.Fatal("no error")
	}
	if !strings.Contains(err.Error(), "another-project") {
		t.Errorf("error text %q lacks the SDK's reason", err.Error())
	}
}

// Outside emulator mode an unsigned (alg "none") token must never pass: the SDK
// refuses it for lacking a key id before fetching any key, so this needs no network.
func TestUnsignedTokenRefusedOutsideEmulatorMode(t *testing.T) {
	emu := fakeemulator.New(t, project)
	emu.AddUser(phoneUID, phone)
	t.Setenv(firebase.EmulatorHostEnv, "")
	v, err := firebase.NewVerifier(t.Context(), project, serviceAccountFile(t))
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	_, err = v.VerifyIDToken(t.Context(), emu.IDToken(phoneUID))
	checkError(t, err, domain.KindUnauthorized)
	if n := emu.Lookups(); n != 0 {
		t.Errorf("emulator saw %d lookups outside emulator mode", n)
	}
}

func TestNewVerifierRefusesBadConfig(t *testing.T) {
	t.Setenv(firebase.EmulatorHostEnv, "localhost:9099")
	dir := t.TempDir()
	write := func(name, content string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name, projectID, credentialsFile string
	}{
		{"no project", "", ""},
		{"missing credentials file", project, filepath.Join(dir, "missing.json")},
		{"credentials not JSON", project, write("garbage.json", "not json")},
		{"unsupported credentials type", project, write("odd.json", `{"type":"api_key"}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := firebase.NewVerifier(t.Context(), tt.projectID, tt.credentialsFile); err == nil {
				t.Fatal("NewVerifier accepted a bad configuration")
			}
		})
	}
}

// serviceAccountFile writes a throwaway service account key, so the SDK can be created
// in production mode without looking for Application Default Credentials.
func serviceAccountFile(t *testing.T) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	creds, err := json.Marshal(map[string]string{
		"type":           "service_account",
		"project_id":     project,
		"private_key_id": "test-key",
		"private_key":    string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email":   "test@" + project + ".iam.gserviceaccount.com",
		"client_id":      "1",
		"token_uri":      "https://oauth2.googleapis.com/token",
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "service-account.json")
	if err := os.WriteFile(path, creds, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}
