package storetest

import (
	"context"
	"slices"
	"sort"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// The reference store's bank credentials: a plain slice under the store's lock.

func (s *refStore) CreateBankCredential(_ context.Context, c domain.BankCredential) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.credentials {
		if x.ID == c.ID || x.ClientID == c.ClientID {
			return domain.ErrConflict
		}
	}
	c.Scopes = slices.Clone(c.Scopes)
	s.credentials = append(s.credentials, c)
	return nil
}

func (s *refStore) findCredential(match func(domain.BankCredential) bool) (domain.BankCredential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.credentials {
		if match(c) {
			c.Scopes = slices.Clone(c.Scopes)
			return c, nil
		}
	}
	return domain.BankCredential{}, domain.ErrNotFound
}

func (s *refStore) GetBankCredentialByClientID(_ context.Context, clientID string) (domain.BankCredential, error) {
	return s.findCredential(func(c domain.BankCredential) bool { return c.ClientID == clientID })
}

func (s *refStore) GetBankCredential(_ context.Context, id string) (domain.BankCredential, error) {
	return s.findCredential(func(c domain.BankCredential) bool { return c.ID == id })
}

func (s *refStore) ListBankCredentials(_ context.Context, bankID string) ([]domain.BankCredential, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.BankCredential
	for _, c := range s.credentials {
		if c.BankID == bankID {
			c.Scopes = slices.Clone(c.Scopes)
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (s *refStore) RevokeBankCredential(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, c := range s.credentials {
		if c.ID == id {
			if c.RevokedAt == nil {
				at = at.UTC().Truncate(time.Millisecond)
				s.credentials[i].RevokedAt = &at
			}
			return nil
		}
	}
	return domain.ErrNotFound
}
