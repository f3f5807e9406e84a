package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// RunBankCredentials is the contract of domain.BankCredentialStore. It follows
// the conventions of Run (fresh store per subtest, subtests in parallel, times
// compared at millisecond precision); open may return the adapter's whole store.
func RunBankCredentials(t *testing.T, open func(t *testing.T) domain.BankCredentialStore) {
	t.Run("CreateBankCredential stores every field, readable by id and by client id", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := newBankCredential("01BANK", "bank_alpha")
		c.Scopes = []string{domain.ScopeRedemptionsRead}
		mustNoErr(t, "CreateBankCredential", s.CreateBankCredential(t.Context(), c))
		byID, err := s.GetBankCredential(t.Context(), c.ID)
		mustNoErr(t, "GetBankCredential", err)
		diffBankCredential(c, byID).report(t, "GetBankCredential")
		byClient, err := s.GetBankCredentialByClientID(t.Context(), c.ClientID)
		mustNoErr(t, "GetBankCredentialByClientID", err)
		diffBankCredential(c, byClient).report(t, "GetBankCredentialByClientID")

		all := newBankCredential("01BANK", "bank_beta")
		mustNoErr(t, "CreateBankCredential (all scopes)", s.CreateBankCredential(t.Context(), all))
		got, err := s.GetBankCredential(t.Context(), all.ID)
		mustNoErr(t, "GetBankCredential (all scopes)", err)
		diffBankCredential(all, got).report(t, "GetBankCredential (all scopes)")
	})

	t.Run("CreateBankCredential refuses a taken id or client id with ErrConflict", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := newBankCredential("01BANK", "bank_alpha")
		mustNoErr(t, "CreateBankCredential", s.CreateBankCredential(t.Context(), c))
		sameClient := newBankCredential("01OTHER", c.ClientID)
		wantErr(t, "same client id", s.CreateBankCredential(t.Context(), sameClient), domain.ErrConflict)
		sameID := newBankCredential("01BANK", "bank_other")
		sameID.ID = c.ID
		wantErr(t, "same id", s.CreateBankCredential(t.Context(), sameID), domain.ErrConflict)
		got, err := s.GetBankCredential(t.Context(), c.ID)
		mustNoErr(t, "GetBankCredential", err)
		diffBankCredential(c, got).report(t, "after refused creations")
		_, err = s.GetBankCredentialByClientID(t.Context(), "bank_other")
		wantErr(t, "refused credential by client id", err, domain.ErrNotFound)
	})

	t.Run("unknown ids and client ids are ErrNotFound, hostile ones included", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		mustNoErr(t, "CreateBankCredential", s.CreateBankCredential(t.Context(), newBankCredential("01BANK", "bank_alpha")))
		for _, v := range []string{"", "bank_nope", `{"$gt": ""}`, `{"$ne": null}`, "' OR 1=1 --", "bank_%", "bank_.*"} {
			_, err := s.GetBankCredential(t.Context(), v)
			wantErr(t, fmt.Sprintf("GetBankCredential(%q)", v), err, domain.ErrNotFound)
			_, err = s.GetBankCredentialByClientID(t.Context(), v)
			wantErr(t, fmt.Sprintf("GetBankCredentialByClientID(%q)", v), err, domain.ErrNotFound)
			wantErr(t, fmt.Sprintf("RevokeBankCredential(%q)", v), s.RevokeBankCredential(t.Context(), v, at(0)), domain.ErrNotFound)
			list, err := s.ListBankCredentials(t.Context(), v)
			mustNoErr(t, fmt.Sprintf("ListBankCredentials(%q)", v), err)
			if len(list) != 0 {
				t.Errorf("ListBankCredentials(%q) = %d credentials, want none", v, len(list))
			}
		}
	})

	t.Run("ListBankCredentials returns the bank's credentials in id order, revoked ones included", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		ids := ascendingIDs(4)
		var mine []domain.BankCredential
		// Inserted out of order, interleaved with another bank's.
		for _, i := range []int{2, 0, 3, 1} {
			c := newBankCredential("01BANK", fmt.Sprintf("bank_mine_%d", i))
			c.ID = ids[i]
			mustNoErr(t, "CreateBankCredential", s.CreateBankCredential(t.Context(), c))
			other := newBankCredential("01OTHER", fmt.Sprintf("bank_other_%d", i))
			mustNoErr(t, "CreateBankCredential (other bank)", s.CreateBankCredential(t.Context(), other))
		}
		mustNoErr(t, "RevokeBankCredential", s.RevokeBankCredential(t.Context(), ids[1], at(time.Hour)))
		for i := range ids {
			c := newBankCredential("01BANK", fmt.Sprintf("bank_mine_%d", i))
			c.ID = ids[i]
			if i == 1 {
				revoked := at(time.Hour)
				c.RevokedAt = &revoked
			}
			mine = append(mine, c)
		}
		got, err := s.ListBankCredentials(t.Context(), "01BANK")
		mustNoErr(t, "ListBankCredentials", err)
		if len(got) != len(mine) {
			t.Fatalf("ListBankCredentials: %d credentials, want %d", len(got), len(mine))
		}
		for i := range mine {
			diffBankCredential(mine[i], got[i]).report(t, fmt.Sprintf("ListBankCredentials[%d]", i))
		}
	})

	t.Run("RevokeBankCredential keeps the first revocation time", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := newBankCredential("01BANK", "bank_alpha")
		other := newBankCredential("01BANK", "bank_beta")
		mustNoErr(t, "CreateBankCredential", s.CreateBankCredential(t.Context(), c))
		mustNoErr(t, "CreateBankCredential", s.CreateBankCredential(t.Context(), other))
		first := at(time.Minute)
		mustNoErr(t, "RevokeBankCredential", s.RevokeBankCredential(t.Context(), c.ID, first))
		mustNoErr(t, "RevokeBankCredential again", s.RevokeBankCredential(t.Context(), c.ID, at(time.Hour)))
		c.RevokedAt = &first
		byID, err := s.GetBankCredential(t.Context(), c.ID)
		mustNoErr(t, "GetBankCredential", err)
		diffBankCredential(c, byID).report(t, "GetBankCredential after revoking")
		byClient, err := s.GetBankCredentialByClientID(t.Context(), c.ClientID)
		mustNoErr(t, "GetBankCredentialByClientID", err)
		diffBankCredential(c, byClient).report(t, "GetBankCredentialByClientID after revoking")
		untouched, err := s.GetBankCredential(t.Context(), other.ID)
		mustNoErr(t, "GetBankCredential (other)", err)
		diffBankCredential(other, untouched).report(t, "another credential")
	})

	t.Run("concurrent revocations all succeed and one time is kept", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := newBankCredential("01BANK", "bank_alpha")
		mustNoErr(t, "CreateBankCredential", s.CreateBankCredential(t.Context(), c))
		const n = 8
		errs := race(n, func(i int) error {
			return s.RevokeBankCredential(t.Context(), c.ID, at(time.Duration(i+1)*time.Minute))
		})
		for i, err := range errs {
			mustNoErr(t, fmt.Sprintf("RevokeBankCredential #%d", i), err)
		}
		got, err := s.GetBankCredential(t.Context(), c.ID)
		mustNoErr(t, "GetBankCredential", err)
		if got.RevokedAt == nil {
			t.Fatal("credential not revoked")
		}
		ok := false
		for i := range n {
			ok = ok || sameTime(*got.RevokedAt, at(time.Duration(i+1)*time.Minute))
		}
		if !ok {
			t.Errorf("RevokedAt %s is none of the racing times", fmtTimePtr(got.RevokedAt))
		}
	})
}

func newBankCredential(bankID, clientID string) domain.BankCredential {
	return domain.BankCredential{
		ID:         domain.NewID(time.Now()),
		BankID:     bankID,
		ClientID:   clientID,
		SecretHash: "$2a$10$abcdefghijklmnopqrstuuJ0yG8nqQ5n8Zr1m8j3Qx4mS2Hf9y1Ce",
		Scopes:     slices.Clone(domain.BankScopes),
		CreatedAt:  at(0),
		CreatedBy:  "01OPERATOR",
	}
}

func diffBankCredential(want, got domain.BankCredential) fieldDiffs {
	var d fieldDiffs
	d.eq("ID", want.ID, got.ID)
	d.eq("BankID", want.BankID, got.BankID)
	d.eq("ClientID", want.ClientID, got.ClientID)
	d.eq("SecretHash", want.SecretHash, got.SecretHash)
	d.eq("Scopes", fmt.Sprint(want.Scopes), fmt.Sprint(got.Scopes))
	d.time("CreatedAt", want.CreatedAt, got.CreatedAt)
	d.eq("CreatedBy", want.CreatedBy, got.CreatedBy)
	d.timePtr("RevokedAt", want.RevokedAt, got.RevokedAt)
	return d
}
