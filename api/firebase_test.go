package api_test

import (
	"testing"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/firebase"
	"github.com/huzhou-lvdaitong/carbon-account/adapters/firebase/fakeemulator"
	"github.com/huzhou-lvdaitong/carbon-account/api"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// withFirebase signs citizens in through the real Firebase Admin SDK talking to a
// fake Auth emulator. Not parallel: the emulator host is a process-wide variable.
func withFirebase(t *testing.T) (*harness, *fakeemulator.Emulator) {
	emu := fakeemulator.New(t, "demo-carbon")
	emu.Setenv(t)
	v, err := firebase.NewVerifier(t.Context(), "demo-carbon", "")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, func(_ *api.Deps, a *domain.AuthService) { a.Verifier = v })
	return h, emu
}

func TestFirebaseSignInCreatesTheCitizenOnFirstSignIn(t *testing.T) {
	h, emu := withFirebase(t)
	emu.AddUser("uid-123", "+8613700137000")
	var first, second tokens
	h.do(req{method: "POST", path: "/v1/auth/firebase", body: map[string]any{"id_token": emu.IDToken("uid-123")}}).expect(t, 200).decode(t, &first)
	h.do(req{method: "POST", path: "/v1/auth/firebase", body: map[string]any{"id_token": emu.IDToken("uid-123")}}).expect(t, 200).decode(t, &second)
	var a, b profile
	h.do(req{method: "GET", path: "/v1/me", bearer: first.AccessToken}).expect(t, 200).decode(t, &a)
	h.do(req{method: "GET", path: "/v1/me", bearer: second.AccessToken}).expect(t, 200).decode(t, &b)
	if a.ID == "" || a.ID != b.ID {
		t.Fatalf("one Firebase user became citizens %q and %q", a.ID, b.ID)
	}
	stored, err := h.store.GetCitizen(t.Context(), a.ID)
	if err != nil || stored.Phone != "+8613700137000" || stored.Identity.Provider != domain.ProviderFirebase {
		t.Fatalf("stored %+v, %v", stored, err)
	}
}

func TestBadFirebaseTokensAre401(t *testing.T) {
	h, emu := withFirebase(t)
	emu.AddUser("uid-1", "")
	cases := map[string]string{
		"expired":        emu.IDToken("uid-1", fakeemulator.Expired()),
		"other project":  emu.IDToken("uid-1", fakeemulator.Audience("someone-elses-project")),
		"unknown user":   emu.IDToken("uid-nobody"),
		"not a token":    "garbage",
		"our own access": h.devLogin("13800138000").AccessToken,
	}
	for name, idToken := range cases {
		t.Run(name, func(t *testing.T) {
			h.do(req{method: "POST", path: "/v1/auth/firebase", body: map[string]any{"id_token": idToken}}).expect(t, 401, "invalid_id_token")
		})
	}
	h.do(req{method: "POST", path: "/v1/auth/firebase", body: map[string]any{"id_token": ""}}).expect(t, 400, "validation_failed")
}

func TestFirebaseSignInWithoutConfigurationIs503(t *testing.T) {
	h := newHarness(t)
	h.do(req{method: "POST", path: "/v1/auth/firebase", body: map[string]any{"id_token": "x.y.z"}}).expect(t, 503, "firebase_not_configured")
}
