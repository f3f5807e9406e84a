package domain

import (
	"context"
	"errors"
	mathrand "math/rand/v2"
	"time"
)

// CitizenService serves a citizen's own account.
type CitizenService struct {
	Citizens CitizenStore
	Sessions SessionStore
	Now      func() time.Time
}

var errAccountErased = Errorf(KindUnauthorized, "account_erased", "this account was deleted")

// maxProfileRetries bounds optimistic-concurrency retries; losing this many races
// in a row means something is hammering one profile.
const maxProfileRetries = 8

// Get returns the citizen, or an account_erased error if they deleted their account.
func (s *CitizenService) Get(ctx context.Context, id string) (Citizen, error) {
	c, err := s.Citizens.GetCitizen(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return Citizen{}, errAccountErased
	}
	if err != nil {
		return Citizen{}, err
	}
	if c.Erased() {
		return Citizen{}, errAccountErased
	}
	return c, nil
}

// UpdateProfile validates and applies u; concurrent updates never overwrite each
// other's fields silently.
func (s *CitizenService) UpdateProfile(ctx context.Context, id string, u ProfileUpdate) (Citizen, error) {
	return s.modify(ctx, id, func(c *Citizen) error {
		if err := u.Apply(c); err != nil {
			return err
		}
		c.UpdatedAt = s.Now()
		return nil
	})
}

// Erase deletes the citizen's personal data and ends all their sessions. The record
// itself stays, anonymised, so that ledger history keeps adding up.
func (s *CitizenService) Erase(ctx context.Context, id string) error {
	now := s.Now()
	if _, err := s.modify(ctx, id, func(c *Citizen) error { c.Erase(now); return nil }); err != nil {
		return err
	}
	return s.Sessions.RevokeSubjectSessions(ctx, id, now)
}

func (s *CitizenService) modify(ctx context.Context, id string, change func(*Citizen) error) (Citizen, error) {
	for attempt := range maxProfileRetries {
		if attempt > 0 {
			// Racing writers that retry in lockstep keep colliding; a random pause
			// that grows with each attempt lets one of them through.
			pause := time.Duration(attempt) * time.Duration(1+mathrand.IntN(4)) * time.Millisecond
			select {
			case <-time.After(pause):
			case <-ctx.Done():
				return Citizen{}, ctx.Err()
			}
		}
		c, err := s.Get(ctx, id)
		if err != nil {
			return Citizen{}, err
		}
		if err := change(&c); err != nil {
			return Citizen{}, err
		}
		saved, err := s.Citizens.SaveCitizenProfile(ctx, c)
		if errors.Is(err, ErrConflict) {
			continue
		}
		return saved, err
	}
	return Citizen{}, Errorf(KindConflict, "concurrent_update", "the profile is being changed concurrently; try again")
}
