package storetest

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// runConsents checks the domain.ConsentStore part of the contract: consents,
// their one-time exchange with its log, and per-bank pseudonymous references.
func runConsents(t *testing.T, open func(t *testing.T) domain.Store) {
	t.Run("create, list newest first and revoke own only", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		citizenA, citizenB := consentUniq("cit"), consentUniq("cit")
		var want []domain.Consent
		for i := range 3 {
			c := newConsent(citizenA, "bank-1", time.Duration(i)*time.Minute)
			mustNoErr(t, "CreateConsent", s.CreateConsent(ctx, c))
			want = append(want, c)
		}
		other := newConsent(citizenB, "bank-1", 0)
		mustNoErr(t, "CreateConsent B", s.CreateConsent(ctx, other))

		dup := newConsent(citizenA, "bank-2", 0)
		dup.CodeHash = want[0].CodeHash
		wantErr(t, "CreateConsent with a taken code hash", s.CreateConsent(ctx, dup), domain.ErrConflict)
		dup = want[1]
		dup.CodeHash = domain.ConsentCodeHash(domain.NewConsentCode())
		wantErr(t, "CreateConsent with a taken id", s.CreateConsent(ctx, dup), domain.ErrConflict)

		got, err := s.ListConsents(ctx, citizenA, "", 10)
		mustNoErr(t, "ListConsents", err)
		if len(got) != 3 {
			t.Fatalf("ListConsents: %d consents, want 3", len(got))
		}
		for i := range got {
			diffConsent(want[2-i], got[i]).report(t, fmt.Sprintf("ListConsents[%d]", i))
		}
		page, err := s.ListConsents(ctx, citizenA, want[2].ID, 1)
		mustNoErr(t, "ListConsents page", err)
		if len(page) != 1 || page[0].ID != want[1].ID {
			t.Errorf("ListConsents(before newest, 1) = %v, want [%s]", consentIDs(page), want[1].ID)
		}
		if none, err := s.ListConsents(ctx, consentUniq("cit"), "", 10); err != nil || len(none) != 0 {
			t.Errorf("ListConsents(unknown citizen) = %v, %v; want empty", none, err)
		}

		wantErr(t, "RevokeConsent of another citizen's", s.RevokeConsent(ctx, citizenA, other.ID, at(time.Hour)), domain.ErrNotFound)
		wantErr(t, "RevokeConsent of an unknown id", s.RevokeConsent(ctx, citizenA, consentUniq("nope"), at(time.Hour)), domain.ErrNotFound)
		mustNoErr(t, "RevokeConsent", s.RevokeConsent(ctx, citizenA, want[0].ID, at(time.Hour)))
		mustNoErr(t, "RevokeConsent again", s.RevokeConsent(ctx, citizenA, want[0].ID, at(2*time.Hour)))
		got, err = s.ListConsents(ctx, citizenA, "", 10)
		mustNoErr(t, "ListConsents", err)
		revoked := at(time.Hour)
		want[0].RevokedAt = &revoked
		diffConsent(want[0], got[2]).report(t, "revoked consent (first revocation time kept)")
		gotB, err := s.ListConsents(ctx, citizenB, "", 10)
		mustNoErr(t, "ListConsents B", err)
		if len(gotB) != 1 || gotB[0].RevokedAt != nil {
			t.Errorf("B's consent after A's revocation attempt: %+v", gotB)
		}
	})

	t.Run("a code is exchanged once, by its bank, before expiry and revocation", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		citizen := consentUniq("cit")
		c := newConsent(citizen, "bank-1", 0)
		mustNoErr(t, "CreateConsent", s.CreateConsent(ctx, c))
		_, err := s.GetConsentExchange(ctx, c.ID)
		wantErr(t, "GetConsentExchange before any exchange", err, domain.ErrNotFound)

		_, err = s.ExchangeConsentCode(ctx, domain.ConsentCodeHash("0000000000"), exchangeBy("bank-1", at(time.Minute)))
		wantErr(t, "exchange of an unknown code", err, domain.ErrNotFound)
		_, err = s.ExchangeConsentCode(ctx, c.CodeHash, exchangeBy("bank-2", at(time.Minute)))
		wantErr(t, "exchange by another bank", err, domain.ErrNotFound)

		x := exchangeBy("bank-1", at(2*time.Minute))
		got, err := s.ExchangeConsentCode(ctx, c.CodeHash, x)
		mustNoErr(t, "ExchangeConsentCode", err)
		exchanged := x.At
		c.ExchangedAt = &exchanged
		diffConsent(c, got).report(t, "exchanged consent")
		list, err := s.ListConsents(ctx, citizen, "", 10)
		mustNoErr(t, "ListConsents", err)
		if len(list) != 1 {
			t.Fatalf("ListConsents: %d, want 1", len(list))
		}
		diffConsent(c, list[0]).report(t, "listed exchanged consent")

		logged, err := s.GetConsentExchange(ctx, c.ID)
		mustNoErr(t, "GetConsentExchange", err)
		var d fieldDiffs
		d.eq("ID", x.ID, logged.ID)
		d.eq("ConsentID", c.ID, logged.ConsentID)
		d.eq("BankID", x.BankID, logged.BankID)
		d.eq("CredentialID", x.CredentialID, logged.CredentialID)
		d.time("At", x.At, logged.At)
		d.report(t, "exchange log entry")

		_, err = s.ExchangeConsentCode(ctx, c.CodeHash, exchangeBy("bank-1", at(3*time.Minute)))
		wantErr(t, "second exchange", err, domain.ErrConsentCodeUsed)
		again, err := s.GetConsentExchange(ctx, c.ID)
		mustNoErr(t, "GetConsentExchange after a refused exchange", err)
		if again.ID != x.ID {
			t.Errorf("a refused exchange replaced the log entry: %+v", again)
		}
		// Revocation after the exchange is recorded and wins in what the store
		// reports for further attempts.
		mustNoErr(t, "RevokeConsent after exchange", s.RevokeConsent(ctx, citizen, c.ID, at(4*time.Minute)))
		_, err = s.ExchangeConsentCode(ctx, c.CodeHash, exchangeBy("bank-1", at(5*time.Minute)))
		wantErr(t, "exchange of an exchanged then revoked consent", err, domain.ErrConsentRevoked)

		expiring := newConsent(citizen, "bank-1", 0)
		mustNoErr(t, "CreateConsent", s.CreateConsent(ctx, expiring))
		_, err = s.ExchangeConsentCode(ctx, expiring.CodeHash, exchangeBy("bank-1", expiring.CodeExpiresAt))
		wantErr(t, "exchange at the expiry time", err, domain.ErrConsentCodeExpired)
		_, err = s.ExchangeConsentCode(ctx, expiring.CodeHash, exchangeBy("bank-1", expiring.CodeExpiresAt.Add(-time.Millisecond)))
		mustNoErr(t, "exchange a millisecond before expiry (the expired attempt wrote nothing)", err)

		revoked := newConsent(citizen, "bank-1", 0)
		mustNoErr(t, "CreateConsent", s.CreateConsent(ctx, revoked))
		mustNoErr(t, "RevokeConsent", s.RevokeConsent(ctx, citizen, revoked.ID, at(time.Minute)))
		_, err = s.ExchangeConsentCode(ctx, revoked.CodeHash, exchangeBy("bank-1", at(2*time.Minute)))
		wantErr(t, "exchange of a revoked consent", err, domain.ErrConsentRevoked)
		_, err = s.GetConsentExchange(ctx, revoked.ID)
		wantErr(t, "GetConsentExchange of a refused consent", err, domain.ErrNotFound)
	})

	t.Run("racing exchanges of one code: exactly one succeeds", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		for round := range 3 {
			c := newConsent(consentUniq("cit"), "bank-1", 0)
			mustNoErr(t, "CreateConsent", s.CreateConsent(ctx, c))
			errs := race(10, func(i int) error {
				_, err := s.ExchangeConsentCode(ctx, c.CodeHash, exchangeBy("bank-1", at(time.Minute)))
				return err
			})
			checkExactlyOneWinner(t, fmt.Sprintf("round %d", round), errs, domain.ErrConsentCodeUsed)
		}
	})

	t.Run("pseudonymous references: stable per bank, different across banks", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ctx := t.Context()
		citizen, other := consentUniq("cit"), consentUniq("cit")
		ref := func(bank, cit, candidate string) string {
			t.Helper()
			r, err := s.BankCitizenRef(ctx, bank, cit, candidate)
			mustNoErr(t, "BankCitizenRef", err)
			return r
		}
		first := domain.NewCitizenRef()
		if got := ref("bank-1", citizen, first); got != first {
			t.Errorf("first BankCitizenRef = %q, want the candidate %q", got, first)
		}
		if got := ref("bank-1", citizen, domain.NewCitizenRef()); got != first {
			t.Errorf("second BankCitizenRef = %q, want the stored %q", got, first)
		}
		second := domain.NewCitizenRef()
		if got := ref("bank-2", citizen, second); got != second {
			t.Errorf("BankCitizenRef for another bank = %q, want its own candidate %q", got, second)
		}
		third := domain.NewCitizenRef()
		if got := ref("bank-1", other, third); got != third {
			t.Errorf("BankCitizenRef for another citizen = %q, want its own candidate %q", got, third)
		}
		racer := consentUniq("cit")
		refs := make([]string, 10)
		errs := race(10, func(i int) error {
			var err error
			refs[i], err = s.BankCitizenRef(ctx, "bank-1", racer, domain.NewCitizenRef())
			return err
		})
		for i, err := range errs {
			if err != nil {
				t.Fatalf("racing BankCitizenRef %d: %v", i, err)
			}
			if refs[i] != refs[0] {
				t.Errorf("racing BankCitizenRef gave %q and %q for one pair", refs[0], refs[i])
			}
		}
	})
}

// uniq returns prefix with a random suffix.
func consentUniq(prefix string) string { return prefix + "-" + strings.ToLower(domain.RandomToken(6)) }

// newConsent returns an active consent created at baseTime+offset with a fresh
// code, expiring ten minutes later.
func newConsent(citizenID, bankID string, offset time.Duration) domain.Consent {
	created := at(offset)
	return domain.Consent{
		ID: domain.NewID(created), CitizenID: citizenID, BankID: bankID, Scope: domain.ScopeCarbonProfile,
		CodeHash: domain.ConsentCodeHash(domain.NewConsentCode()), CodeExpiresAt: created.Add(10 * time.Minute),
		CreatedAt: created,
	}
}

func exchangeBy(bankID string, when time.Time) domain.ConsentExchange {
	return domain.ConsentExchange{ID: domain.NewID(when), BankID: bankID, CredentialID: "cred-" + bankID, At: when}
}

func consentIDs(cs []domain.Consent) []string {
	out := make([]string, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func diffConsent(want, got domain.Consent) fieldDiffs {
	var d fieldDiffs
	d.eq("ID", want.ID, got.ID)
	d.eq("CitizenID", want.CitizenID, got.CitizenID)
	d.eq("BankID", want.BankID, got.BankID)
	d.eq("Scope", want.Scope, got.Scope)
	d.eq("CodeHash", want.CodeHash, got.CodeHash)
	d.time("CodeExpiresAt", want.CodeExpiresAt, got.CodeExpiresAt)
	d.time("CreatedAt", want.CreatedAt, got.CreatedAt)
	d.timePtr("ExchangedAt", want.ExchangedAt, got.ExchangedAt)
	d.timePtr("RevokedAt", want.RevokedAt, got.RevokedAt)
	return d
}
