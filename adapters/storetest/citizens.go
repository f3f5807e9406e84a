package storetest

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// newDraft returns a citizen draft with every field set to a non-zero value (except
// ErasedAt and Version, which a sign-in never sets), signed in as dev:subject.
func newDraft(subject string) domain.Citizen {
	return domain.Citizen{
		ID:                domain.NewID(time.Now()),
		Identity:          domain.Identity{Provider: domain.ProviderDev, Subject: subject},
		Phone:             "+8613800138000",
		Nickname:          "绿友ABC234",
		District:          "wuxing",
		LeaderboardOptOut: true,
		Balance:           120,
		CO2eGramsTotal:    4500,
		PointsEarnedTotal: 300,
		CreatedAt:         at(0),
		UpdatedAt:         at(time.Second),
	}
}

func diffCitizen(want, got domain.Citizen) fieldDiffs {
	var d fieldDiffs
	d.eq("ID", want.ID, got.ID)
	d.eq("Identity", want.Identity, got.Identity)
	d.eq("Phone", want.Phone, got.Phone)
	d.eq("Nickname", want.Nickname, got.Nickname)
	d.eq("District", want.District, got.District)
	d.eq("LeaderboardOptOut", want.LeaderboardOptOut, got.LeaderboardOptOut)
	d.eq("Balance", want.Balance, got.Balance)
	d.eq("CO2eGramsTotal", want.CO2eGramsTotal, got.CO2eGramsTotal)
	d.eq("PointsEarnedTotal", want.PointsEarnedTotal, got.PointsEarnedTotal)
	d.time("CreatedAt", want.CreatedAt, got.CreatedAt)
	d.time("UpdatedAt", want.UpdatedAt, got.UpdatedAt)
	d.timePtr("ErasedAt", want.ErasedAt, got.ErasedAt)
	d.eq("Version", want.Version, got.Version)
	return d
}

// seedCitizen creates draft and fails the test unless it was created.
func seedCitizen(t *testing.T, s domain.Store, draft domain.Citizen) domain.Citizen {
	t.Helper()
	c, created, err := s.FindOrCreateCitizen(t.Context(), draft)
	mustNoErr(t, "FindOrCreateCitizen", err)
	if !created {
		t.Fatalf("FindOrCreateCitizen(%v): created=false for a new identity", draft.Identity)
	}
	return c
}

// erase is the domain's erasure applied to a copy.
func erase(c domain.Citizen, when time.Time) domain.Citizen {
	c.Erase(when)
	return c
}

func runCitizens(t *testing.T, open func(t *testing.T) domain.Store) {
	t.Run("FindOrCreateCitizen creates a new identity once and stores every field", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		draft := newDraft("+8613800138000")
		c, created, err := s.FindOrCreateCitizen(t.Context(), draft)
		mustNoErr(t, "FindOrCreateCitizen", err)
		if !created {
			t.Errorf("created=false, want true")
		}
		diffCitizen(draft, c).report(t, "returned citizen")
		got, err := s.GetCitizen(t.Context(), draft.ID)
		mustNoErr(t, "GetCitizen", err)
		diffCitizen(draft, got).report(t, "GetCitizen")
	})

	t.Run("FindOrCreateCitizen returns the existing citizen for a known identity even if the draft has another ID", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		first := seedCitizen(t, s, newDraft("+8613800138001"))
		second := newDraft("+8613800138001")
		second.Nickname = "另一个"
		second.Balance = 999
		second.CreatedAt = at(time.Hour)
		c, created, err := s.FindOrCreateCitizen(t.Context(), second)
		mustNoErr(t, "FindOrCreateCitizen", err)
		if created {
			t.Errorf("created=true for a known identity, want false")
		}
		diffCitizen(first, c).report(t, "second call must return the stored citizen")
		if _, err := s.GetCitizen(t.Context(), second.ID); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("GetCitizen(second draft id): want ErrNotFound (nothing stored), got %v", err)
		}
	})

	t.Run("FindOrCreateCitizen racing on one identity creates exactly one citizen", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		// Several rounds, each on a fresh identity: whether racers really overlap
		// depends on scheduling, and one round can happen to run nearly serially.
		const rounds, n = 5, 20
		for round := range rounds {
			drafts := make([]domain.Citizen, n)
			for i := range drafts {
				drafts[i] = newDraft(fmt.Sprintf("firebase-uid-race-%d", round))
			}
			results := make([]domain.Citizen, n)
			createdBy := make([]bool, n)
			errs := race(n, func(i int) error {
				var err error
				results[i], createdBy[i], err = s.FindOrCreateCitizen(t.Context(), drafts[i])
				return err
			})
			creators := 0
			for i, err := range errs {
				if err != nil {
					t.Fatalf("round %d, goroutine %d: FindOrCreateCitizen: %v", round, i, err)
				}
				if createdBy[i] {
					creators++
					if results[i].ID != drafts[i].ID {
						t.Errorf("round %d: goroutine %d reported created but got id %s, not its draft's %s", round, i, results[i].ID, drafts[i].ID)
					}
				}
				if results[i].ID != results[0].ID {
					t.Errorf("round %d: goroutine %d got citizen %s, goroutine 0 got %s", round, i, results[i].ID, results[0].ID)
				}
			}
			if creators != 1 {
				t.Fatalf("round %d: %d of %d racing calls reported created=true, want exactly 1", round, creators, n)
			}
		}
	})

	t.Run("FindOrCreateCitizen keeps different identities apart", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		a := seedCitizen(t, s, newDraft("+8613800138002"))
		b := seedCitizen(t, s, newDraft("+8613800138003"))
		// Same subject under another provider is another identity.
		other := newDraft("+8613800138002")
		other.Identity.Provider = domain.ProviderFirebase
		c := seedCitizen(t, s, other)
		if a.ID == b.ID || a.ID == c.ID || b.ID == c.ID {
			t.Errorf("ids not distinct: %s %s %s", a.ID, b.ID, c.ID)
		}
		for _, want := range []domain.Citizen{a, b, c} {
			got, err := s.GetCitizen(t.Context(), want.ID)
			mustNoErr(t, "GetCitizen", err)
			diffCitizen(want, got).report(t, "GetCitizen "+want.ID)
		}
	})

	t.Run("GetCitizen returns ErrNotFound for an unknown id", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		seedCitizen(t, s, newDraft("+8613800138004"))
		_, err := s.GetCitizen(t.Context(), domain.NewID(time.Now()))
		wantErr(t, "GetCitizen(unknown)", err, domain.ErrNotFound)
	})

	t.Run("SaveCitizenProfile writes the profile fields and bumps the version", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := seedCitizen(t, s, newDraft("+8613800138005"))
		erasedAt := at(3 * time.Hour)
		edit := c
		edit.Identity = domain.Identity{Provider: domain.ProviderFirebase, Subject: "uid-moved"}
		edit.Phone = "+8613900139000"
		edit.Nickname = "新名字"
		edit.District = "nanxun"
		edit.LeaderboardOptOut = false
		edit.UpdatedAt = at(2 * time.Hour)
		edit.ErasedAt = &erasedAt
		saved, err := s.SaveCitizenProfile(t.Context(), edit)
		mustNoErr(t, "SaveCitizenProfile", err)
		want := edit
		want.Version = c.Version + 1
		diffCitizen(want, saved).report(t, "returned citizen")
		got, err := s.GetCitizen(t.Context(), c.ID)
		mustNoErr(t, "GetCitizen", err)
		diffCitizen(want, got).report(t, "GetCitizen after save")

		// Clearing optional fields is a write too.
		clear := got
		clear.District = ""
		clear.Phone = ""
		clear.ErasedAt = nil
		clear.LeaderboardOptOut = true
		saved, err = s.SaveCitizenProfile(t.Context(), clear)
		mustNoErr(t, "SaveCitizenProfile(clear)", err)
		want = clear
		want.Version = got.Version + 1
		diffCitizen(want, saved).report(t, "returned citizen after clearing")
		got, err = s.GetCitizen(t.Context(), c.ID)
		mustNoErr(t, "GetCitizen", err)
		diffCitizen(want, got).report(t, "GetCitizen after clearing")
	})

	t.Run("SaveCitizenProfile refuses a stale version with ErrConflict and changes nothing", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := seedCitizen(t, s, newDraft("+8613800138006"))
		first := c
		first.Nickname = "第一次"
		saved, err := s.SaveCitizenProfile(t.Context(), first)
		mustNoErr(t, "SaveCitizenProfile", err)
		stale := c // still carries the old version
		stale.Nickname = "过时的"
		_, err = s.SaveCitizenProfile(t.Context(), stale)
		wantErr(t, "SaveCitizenProfile(stale version)", err, domain.ErrConflict)
		ahead := saved
		ahead.Version += 5
		_, err = s.SaveCitizenProfile(t.Context(), ahead)
		wantErr(t, "SaveCitizenProfile(future version)", err, domain.ErrConflict)
		got, err := s.GetCitizen(t.Context(), c.ID)
		mustNoErr(t, "GetCitizen", err)
		diffCitizen(saved, got).report(t, "stored citizen after refused saves")
	})

	t.Run("SaveCitizenProfile returns ErrNotFound for an unknown id", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		seedCitizen(t, s, newDraft("+8613800138007"))
		ghost := newDraft("+8613800138008")
		_, err := s.SaveCitizenProfile(t.Context(), ghost)
		wantErr(t, "SaveCitizenProfile(unknown)", err, domain.ErrNotFound)
		if _, err := s.GetCitizen(t.Context(), ghost.ID); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("GetCitizen after saving an unknown citizen: want ErrNotFound, got %v", err)
		}
	})

	t.Run("SaveCitizenProfile never writes account totals", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := seedCitizen(t, s, newDraft("+8613800138009"))
		edit := c
		edit.Nickname = "改名"
		edit.Balance = 0
		edit.CO2eGramsTotal = 999_999
		edit.PointsEarnedTotal = -1
		saved, err := s.SaveCitizenProfile(t.Context(), edit)
		mustNoErr(t, "SaveCitizenProfile", err)
		got, err := s.GetCitizen(t.Context(), c.ID)
		mustNoErr(t, "GetCitizen", err)
		for _, v := range []struct {
			what string
			c    domain.Citizen
		}{{"GetCitizen", got}, {"returned citizen", saved}} {
			if v.c.Balance != c.Balance || v.c.CO2eGramsTotal != c.CO2eGramsTotal || v.c.PointsEarnedTotal != c.PointsEarnedTotal {
				t.Errorf("%s: totals = (%d, %d, %d), want unchanged (%d, %d, %d)", v.what,
					v.c.Balance, v.c.CO2eGramsTotal, v.c.PointsEarnedTotal,
					c.Balance, c.CO2eGramsTotal, c.PointsEarnedTotal)
			}
		}
		if got.Nickname != "改名" {
			t.Errorf("Nickname = %q, want the profile change to be saved", got.Nickname)
		}
	})

	t.Run("SaveCitizenProfile releases the old identity on erasure", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		oldDraft := newDraft("+8613800138010")
		c := seedCitizen(t, s, oldDraft)
		erased, err := s.SaveCitizenProfile(t.Context(), erase(c, at(time.Hour)))
		mustNoErr(t, "SaveCitizenProfile(erase)", err)
		if !erased.Erased() {
			t.Errorf("returned citizen is not erased")
		}
		again := newDraft(oldDraft.Identity.Subject)
		fresh, created, err := s.FindOrCreateCitizen(t.Context(), again)
		mustNoErr(t, "FindOrCreateCitizen(old identity)", err)
		if !created || fresh.ID == c.ID {
			t.Errorf("signing in with the erased identity: created=%v id=%s, want a new citizen (not %s)", created, fresh.ID, c.ID)
		}
		got, err := s.GetCitizen(t.Context(), c.ID)
		mustNoErr(t, "GetCitizen(erased)", err)
		want := erase(c, at(time.Hour))
		want.Version = c.Version + 1
		diffCitizen(want, got).report(t, "erased citizen")
	})

	t.Run("SaveCitizenProfile lets two erased citizens coexist", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		a := seedCitizen(t, s, newDraft("+8613800138011"))
		b := seedCitizen(t, s, newDraft("+8613800138012"))
		_, err := s.SaveCitizenProfile(t.Context(), erase(a, at(time.Hour)))
		mustNoErr(t, "erase a", err)
		_, err = s.SaveCitizenProfile(t.Context(), erase(b, at(time.Hour)))
		mustNoErr(t, "erase b", err)
		for _, id := range []string{a.ID, b.ID} {
			got, err := s.GetCitizen(t.Context(), id)
			mustNoErr(t, "GetCitizen", err)
			if !got.Erased() || got.Identity != (domain.Identity{Provider: "erased", Subject: id}) {
				t.Errorf("citizen %s: erased=%v identity=%v", id, got.Erased(), got.Identity)
			}
		}
	})

	t.Run("SaveCitizenProfile racing from one read version lets exactly one win", func(t *testing.T) {
		t.Parallel()
		s := open(t)
		c := seedCitizen(t, s, newDraft("+8613800138013"))
		const n = 10
		errs := race(n, func(i int) error {
			edit := c
			edit.Nickname = fmt.Sprintf("写者%d", i)
			_, err := s.SaveCitizenProfile(t.Context(), edit)
			return err
		})
		checkExactlyOneWinner(t, "SaveCitizenProfile", errs, domain.ErrConflict)
		got, err := s.GetCitizen(t.Context(), c.ID)
		mustNoErr(t, "GetCitizen", err)
		if got.Version != c.Version+1 {
			t.Errorf("Version = %d, want %d", got.Version, c.Version+1)
		}
		for i, err := range errs {
			if err == nil && got.Nickname != fmt.Sprintf("写者%d", i) {
				t.Errorf("Nickname = %q, want the winner's %q", got.Nickname, fmt.Sprintf("写者%d", i))
			}
		}
	})
}
