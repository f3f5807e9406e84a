package storetest

import (
	"crypto/sha256"
	"encoding/hex"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func tokenHash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func newSession(subjectID string) (domain.Session, domain.RefreshToken) {
	s := domain.Session{ID: domain.NewID(time.Now()), SubjectID: subjectID, Role: domain.RoleCitizen, CreatedAt: at(0)}
	first := domain.RefreshToken{
		Hash:      tokenHash(domain.RandomToken(32)),
		SessionID: s.ID,
		IssuedAt:  at(0),
		ExpiresAt: at(30 * 24 * time.Hour),
	}
	return s, first
}

// seedSession stores a new session of subjectID and returns it with its first token.
func seedSession(t *testing.T, st domain.Store, subjectID string) (domain.Session, domain.RefreshToken) {
	t.Helper()
	s, first := newSession(subjectID)
	mustNoErr(t, "CreateSession", st.CreateSession(t.Context(), s, first))
	return s, first
}

func diffSession(want, got domain.Session) fieldDiffs {
	var d fieldDiffs
	d.eq("ID", want.ID, got.ID)
	d.eq("SubjectID", want.SubjectID, got.SubjectID)
	d.eq("Role", want.Role, got.Role)
	d.time("CreatedAt", want.CreatedAt, got.CreatedAt)
	d.timePtr("RevokedAt", want.RevokedAt, got.RevokedAt)
	return d
}

func diffToken(want, got domain.RefreshToken) fieldDiffs {
	var d fieldDiffs
	d.eq("Hash", want.Hash, got.Hash)
	d.eq("SessionID", want.SessionID, got.SessionID)
	d.time("IssuedAt", want.IssuedAt, got.IssuedAt)
	d.time("ExpiresAt", want.ExpiresAt, got.ExpiresAt)
	d.timePtr("UsedAt", want.UsedAt, got.UsedAt)
	return d
}

func runSessions(t *testing.T, open func(t *testing.T) domain.Store) {
	t.Run("CreateSession stores the session and its first refresh token", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		s, first := newSession(domain.NewID(time.Now()))
		s.Role = domain.RoleAdmin
		mustNoErr(t, "CreateSession", st.CreateSession(t.Context(), s, first))
		got, err := st.GetSession(t.Context(), s.ID)
		mustNoErr(t, "GetSession", err)
		diffSession(s, got).report(t, "GetSession")
		tok, err := st.GetRefreshToken(t.Context(), first.Hash)
		mustNoErr(t, "GetRefreshToken", err)
		diffToken(first, tok).report(t, "GetRefreshToken")
	})

	t.Run("GetSession and GetRefreshToken return ErrNotFound for unknown keys", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		seedSession(t, st, domain.NewID(time.Now()))
		_, err := st.GetSession(t.Context(), domain.NewID(time.Now()))
		wantErr(t, "GetSession(unknown)", err, domain.ErrNotFound)
		_, err = st.GetRefreshToken(t.Context(), tokenHash("never issued"))
		wantErr(t, "GetRefreshToken(unknown)", err, domain.ErrNotFound)
	})

	t.Run("SpendRefreshToken succeeds once, then returns ErrConflict", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		_, first := seedSession(t, st, domain.NewID(time.Now()))
		usedAt := at(time.Minute)
		mustNoErr(t, "SpendRefreshToken", st.SpendRefreshToken(t.Context(), first.Hash, usedAt))
		tok, err := st.GetRefreshToken(t.Context(), first.Hash)
		mustNoErr(t, "GetRefreshToken", err)
		want := first
		want.UsedAt = &usedAt
		diffToken(want, tok).report(t, "spent token")
		wantErr(t, "SpendRefreshToken(again)", st.SpendRefreshToken(t.Context(), first.Hash, at(2*time.Minute)), domain.ErrConflict)
		tok, err = st.GetRefreshToken(t.Context(), first.Hash)
		mustNoErr(t, "GetRefreshToken", err)
		diffToken(want, tok).report(t, "token after a refused second spend")
	})

	t.Run("SpendRefreshToken returns ErrNotFound for an unknown token", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		seedSession(t, st, domain.NewID(time.Now()))
		wantErr(t, "SpendRefreshToken(unknown)", st.SpendRefreshToken(t.Context(), tokenHash("never issued"), at(0)), domain.ErrNotFound)
	})

	t.Run("SpendRefreshToken racing on one token lets exactly one win", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		_, first := seedSession(t, st, domain.NewID(time.Now()))
		errs := race(20, func(i int) error {
			return st.SpendRefreshToken(t.Context(), first.Hash, at(time.Duration(i+1)*time.Second))
		})
		checkExactlyOneWinner(t, "SpendRefreshToken", errs, domain.ErrConflict)
		tok, err := st.GetRefreshToken(t.Context(), first.Hash)
		mustNoErr(t, "GetRefreshToken", err)
		for i, err := range errs {
			if err == nil && (tok.UsedAt == nil || !sameTime(*tok.UsedAt, at(time.Duration(i+1)*time.Second))) {
				t.Errorf("UsedAt = %s, want the winner's time %s", fmtTimePtr(tok.UsedAt), ms(at(time.Duration(i+1)*time.Second)))
			}
		}
	})

	t.Run("AddRefreshToken stores the next token of a session", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		s, first := seedSession(t, st, domain.NewID(time.Now()))
		mustNoErr(t, "SpendRefreshToken", st.SpendRefreshToken(t.Context(), first.Hash, at(time.Hour)))
		next := domain.RefreshToken{Hash: tokenHash(domain.RandomToken(32)), SessionID: s.ID, IssuedAt: at(time.Hour), ExpiresAt: at(31 * 24 * time.Hour)}
		mustNoErr(t, "AddRefreshToken", st.AddRefreshToken(t.Context(), next))
		got, err := st.GetRefreshToken(t.Context(), next.Hash)
		mustNoErr(t, "GetRefreshToken", err)
		diffToken(next, got).report(t, "added token")
		mustNoErr(t, "SpendRefreshToken(next)", st.SpendRefreshToken(t.Context(), next.Hash, at(2*time.Hour)))
		old, err := st.GetRefreshToken(t.Context(), first.Hash)
		mustNoErr(t, "GetRefreshToken(first)", err)
		if old.UsedAt == nil {
			t.Errorf("first token lost its UsedAt after adding the next one")
		}
	})

	t.Run("RevokeSession marks the session revoked and is idempotent", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		s, _ := seedSession(t, st, domain.NewID(time.Now()))
		other, _ := seedSession(t, st, s.SubjectID)
		revokedAt := at(time.Hour)
		mustNoErr(t, "RevokeSession", st.RevokeSession(t.Context(), s.ID, revokedAt))
		got, err := st.GetSession(t.Context(), s.ID)
		mustNoErr(t, "GetSession", err)
		want := s
		want.RevokedAt = &revokedAt
		diffSession(want, got).report(t, "revoked session")
		mustNoErr(t, "RevokeSession(again)", st.RevokeSession(t.Context(), s.ID, at(2*time.Hour)))
		got, err = st.GetSession(t.Context(), s.ID)
		mustNoErr(t, "GetSession", err)
		if got.RevokedAt == nil {
			t.Errorf("RevokedAt = nil after revoking twice")
		}
		sib, err := st.GetSession(t.Context(), other.ID)
		mustNoErr(t, "GetSession(other)", err)
		if sib.RevokedAt != nil {
			t.Errorf("revoking one session revoked another session of the same subject")
		}
	})

	t.Run("RevokeSession returns ErrNotFound for an unknown session", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		seedSession(t, st, domain.NewID(time.Now()))
		wantErr(t, "RevokeSession(unknown)", st.RevokeSession(t.Context(), domain.NewID(time.Now()), at(0)), domain.ErrNotFound)
	})

	t.Run("RevokeSubjectSessions revokes every session of the subject and no other", func(t *testing.T) {
		t.Parallel()
		st := open(t)
		subject, bystander := domain.NewID(time.Now()), domain.NewID(time.Now())
		a1, _ := seedSession(t, st, subject)
		a2, _ := seedSession(t, st, subject)
		b1, _ := seedSession(t, st, bystander)
		revokedAt := at(time.Hour)
		mustNoErr(t, "RevokeSubjectSessions", st.RevokeSubjectSessions(t.Context(), subject, revokedAt))
		for _, id := range []string{a1.ID, a2.ID} {
			got, err := st.GetSession(t.Context(), id)
			mustNoErr(t, "GetSession", err)
			if got.RevokedAt == nil || !sameTime(*got.RevokedAt, revokedAt) {
				t.Errorf("session %s: RevokedAt = %s, want %s", id, fmtTimePtr(got.RevokedAt), ms(revokedAt))
			}
		}
		got, err := st.GetSession(t.Context(), b1.ID)
		mustNoErr(t, "GetSession(bystander)", err)
		if got.RevokedAt != nil {
			t.Errorf("bystander session revoked at %s", fmtTimePtr(got.RevokedAt))
		}
		mustNoErr(t, "RevokeSubjectSessions(again)", st.RevokeSubjectSessions(t.Context(), subject, at(2*time.Hour)))
		mustNoErr(t, "RevokeSubjectSessions(no sessions)", st.RevokeSubjectSessions(t.Context(), domain.NewID(time.Now()), revokedAt))
	})
}
