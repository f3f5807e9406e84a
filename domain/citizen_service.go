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
	Actions  ActionStore
	Now      func() time.Time
	// Members, when set, hears of every profile change and erasure; the
	// leaderboards listen here to move, rename or hide the citizen.
	Members MemberObserver
}

// MemberObserver is told that a citizen's profile changed. An error fails the
// request after the profile was saved; a retry saves the same values again and
// tells the observer again, so opting out of leaderboards cannot be lost silently.
type MemberObserver interface {
	MemberChanged(ctx context.Context, c Citizen) error
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
	c, err := s.modify(ctx, id, func(c *Citizen) error {
		if err := u.Apply(c); err != nil {
			return err
		}
		c.UpdatedAt = s.Now()
		return nil
	})
	if err != nil {
		return Citizen{}, err
	}
	return c, s.memberChanged(ctx, c)
}

func (s *CitizenService) memberChanged(ctx context.Context, c Citizen) error {
	if s.Members == nil {
		return nil
	}
	return s.Members.MemberChanged(ctx, c)
}

// Erase deletes the citizen's personal data, takes them off the leaderboards and
// ends all their sessions. The record itself stays, anonymised, so that ledger
// history keeps adding up. Erasing an erased citizen redoes the follow-up steps,
// so a retry after a failure half-way finishes the job.
func (s *CitizenService) Erase(ctx context.Context, id string) error {
	now := s.Now()
	c, err := s.Citizens.GetCitizen(ctx, id)
	if errors.Is(err, ErrNotFound) {
		return errAccountErased
	}
	if err != nil {
		return err
	}
	if !c.Erased() {
		if c, err = s.modify(ctx, id, func(c *Citizen) error { c.Erase(now); return nil }); err != nil {
			return err
		}
	}
	if err := s.memberChanged(ctx, c); err != nil {
		return err
	}
	if err := s.Actions.AnonymiseActions(ctx, id); err != nil {
		return err
	}
	return s.Sessions.RevokeSubjectSessions(ctx, id, now)
}

// Export is everything the service holds about a citizen.
type Export struct {
	Citizen Citizen
	Actions []Action
	Ledger  []LedgerEntry
}

const exportPage = 500

// Export gathers the citizen's profile, every action and every ledger entry.
func (s *CitizenService) Export(ctx context.Context, id string) (Export, error) {
	c, err := s.Get(ctx, id)
	if err != nil {
		return Export{}, err
	}
	out := Export{Citizen: c}
	if out.Actions, err = collectPages(func(before string) ([]Action, error) {
		return s.Actions.ListActions(ctx, id, before, exportPage)
	}, func(a Action) string { return a.ID }); err != nil {
		return Export{}, err
	}
	if out.Ledger, err = collectPages(func(before string) ([]LedgerEntry, error) {
		return s.Actions.ListLedgerEntries(ctx, id, before, exportPage)
	}, func(e LedgerEntry) string { return e.ID }); err != nil {
		return Export{}, err
	}
	return out, nil
}

// collectPages reads a newest-first listing to its end.
func collectPages[T any](page func(before string) ([]T, error), idOf func(T) string) ([]T, error) {
	var all []T
	before := ""
	for {
		items, err := page(before)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if len(items) < exportPage {
			return all, nil
		}
		before = idOf(items[len(items)-1])
	}
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
