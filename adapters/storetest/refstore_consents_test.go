package storetest

import (
	"context"
	"sort"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// refConsents is the reference store's consents, under the store's lock; maps are
// made on first use.
type refConsents struct {
	byID      map[string]domain.Consent
	exchanges map[string]domain.ConsentExchange // by consent id
	refs      map[[2]string]string              // (bank id, citizen id) -> reference
}

func (r *refConsents) init() {
	if r.byID == nil {
		r.byID = map[string]domain.Consent{}
		r.exchanges = map[string]domain.ConsentExchange{}
		r.refs = map[[2]string]string{}
	}
}

func (s *refStore) CreateConsent(_ context.Context, c domain.Consent) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.consents.init()
	for _, x := range s.consents.byID {
		if x.ID == c.ID || x.CodeHash == c.CodeHash {
			return domain.ErrConflict
		}
	}
	s.consents.byID[c.ID] = c
	return nil
}

func (s *refStore) ListConsents(_ context.Context, citizenID, beforeID string, limit int) ([]domain.Consent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.Consent
	for _, c := range s.consents.byID {
		if c.CitizenID == citizenID && (beforeID == "" || c.ID < beforeID) {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID > out[j].ID })
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

func (s *refStore) RevokeConsent(_ context.Context, citizenID, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.consents.byID[id]
	if !ok || c.CitizenID != citizenID {
		return domain.ErrNotFound
	}
	if c.RevokedAt == nil {
		c.RevokedAt = &at
		s.consents.byID[id] = c
	}
	return nil
}

func (s *refStore) ExchangeConsentCode(_ context.Context, codeHash string, x domain.ConsentExchange) (domain.Consent, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, c := range s.consents.byID {
		if c.CodeHash != codeHash || c.BankID != x.BankID {
			continue
		}
		switch {
		case c.RevokedAt != nil:
			return domain.Consent{}, domain.ErrConsentRevoked
		case c.ExchangedAt != nil:
			return domain.Consent{}, domain.ErrConsentCodeUsed
		case !x.At.Before(c.CodeExpiresAt):
			return domain.Consent{}, domain.ErrConsentCodeExpired
		}
		when := x.At
		c.ExchangedAt = &when
		s.consents.byID[id] = c
		x.ConsentID = id
		s.consents.exchanges[id] = x
		return c, nil
	}
	return domain.Consent{}, domain.ErrNotFound
}

func (s *refStore) GetConsentExchange(_ context.Context, consentID string) (domain.ConsentExchange, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	x, ok := s.consents.exchanges[consentID]
	if !ok {
		return domain.ConsentExchange{}, domain.ErrNotFound
	}
	return x, nil
}

func (s *refStore) BankCitizenRef(_ context.Context, bankID, citizenID, candidate string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.consents.init()
	key := [2]string{bankID, citizenID}
	if ref, ok := s.consents.refs[key]; ok {
		return ref, nil
	}
	s.consents.refs[key] = candidate
	return candidate, nil
}
