package storetest

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// TestSuiteAgainstReference runs the suite against a minimal in-memory store, so
// the suite itself is checked to pass on a correct implementation.
func TestSuiteAgainstReference(t *testing.T) {
	Run(t, func(t *testing.T) domain.Store { return newRefStore() })
}

// refStore is a mutex-guarded reference implementation of domain.Store.
type refStore struct {
	mu        sync.Mutex
	citizens  map[string]domain.Citizen
	operators map[string]domain.Operator
	sessions  map[string]domain.Session
	tokens    map[string]domain.RefreshToken
	lastExp   map[string]time.Time // session id -> latest token expiry
}

func newRefStore() *refStore {
	return &refStore{
		citizens:  map[string]domain.Citizen{},
		operators: map[string]domain.Operator{},
		sessions:  map[string]domain.Session{},
		tokens:    map[string]domain.RefreshToken{},
		lastExp:   map[string]time.Time{},
	}
}

func (s *refStore) Ping(context.Context) error { return nil }
func (s *refStore) Close() error               { return nil }

func (s *refStore) FindOrCreateCitizen(_ context.Context, draft domain.Citizen) (domain.Citizen, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.citizens {
		if c.Identity == draft.Identity {
			return c, false, nil
		}
	}
	s.citizens[draft.ID] = draft
	return draft, true, nil
}

func (s *refStore) GetCitizen(_ context.Context, id string) (domain.Citizen, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.citizens[id]
	if !ok {
		return domain.Citizen{}, domain.ErrNotFound
	}
	return c, nil
}

func (s *refStore) SaveCitizenProfile(_ context.Context, c domain.Citizen) (domain.Citizen, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.citizens[c.ID]
	if !ok {
		return domain.Citizen{}, domain.ErrNotFound
	}
	if old.Version != c.Version {
		return domain.Citizen{}, domain.ErrConflict
	}
	for id, o := range s.citizens {
		if id != c.ID && o.Identity == c.Identity {
			return domain.Citizen{}, domain.ErrConflict
		}
	}
	c.Balance, c.CO2eGramsTotal, c.PointsEarnedTotal = old.Balance, old.CO2eGramsTotal, old.PointsEarnedTotal
	c.CreatedAt = old.CreatedAt
	c.Version++
	s.citizens[c.ID] = c
	return c, nil
}

func (s *refStore) CreateOperator(_ context.Context, o domain.Operator) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, x := range s.operators {
		if x.Username == o.Username || x.ID == o.ID {
			return domain.ErrConflict
		}
	}
	s.operators[o.ID] = o
	return nil
}

func (s *refStore) GetOperatorByUsername(_ context.Context, username string) (domain.Operator, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.operators {
		if o.Username == username {
			return o, nil
		}
	}
	return domain.Operator{}, domain.ErrNotFound
}

func (s *refStore) GetOperator(_ context.Context, id string) (domain.Operator, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, ok := s.operators[id]
	if !ok {
		return domain.Operator{}, domain.ErrNotFound
	}
	return o, nil
}

func (s *refStore) ListOperators(_ context.Context, afterID string, limit int) ([]domain.Operator, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.Operator
	for _, o := range s.operators {
		if o.ID > afterID {
			out = append(out, o)
		}
	}
	slices.SortFunc(out, func(a, b domain.Operator) int { return cmp.Compare(a.ID, b.ID) })
	return out[:min(limit, len(out))], nil
}

func (s *refStore) CreateSession(_ context.Context, sess domain.Session, first domain.RefreshToken) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sessions[sess.ID] = sess
	s.tokens[first.Hash] = first
	s.lastExp[sess.ID] = first.ExpiresAt
	return nil
}

func (s *refStore) GetSession(_ context.Context, id string) (domain.Session, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	if !ok {
		return domain.Session{}, domain.ErrNotFound
	}
	return sess, nil
}

func (s *refStore) RevokeSession(_ context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	sess, ok := s.sessions[id]
	if !ok {
		return domain.ErrNotFound
	}
	if sess.RevokedAt == nil {
		sess.RevokedAt = &at
		s.sessions[id] = sess
	}
	return nil
}

func (s *refStore) RevokeSubjectSessions(_ context.Context, subjectID string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sess := range s.sessions {
		if sess.SubjectID == subjectID && sess.RevokedAt == nil {
			sess.RevokedAt = &at
			s.sessions[id] = sess
		}
	}
	return nil
}

func (s *refStore) GetRefreshToken(_ context.Context, hash string) (domain.RefreshToken, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[hash]
	if !ok {
		return domain.RefreshToken{}, domain.ErrNotFound
	}
	return t, nil
}

func (s *refStore) SpendRefreshToken(_ context.Context, hash string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.tokens[hash]
	if !ok {
		return domain.ErrNotFound
	}
	if t.UsedAt != nil {
		return domain.ErrConflict
	}
	t.UsedAt = &at
	s.tokens[hash] = t
	return nil
}

func (s *refStore) AddRefreshToken(_ context.Context, t domain.RefreshToken) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.sessions[t.SessionID]; !ok {
		return domain.ErrNotFound
	}
	s.tokens[t.Hash] = t
	if t.ExpiresAt.After(s.lastExp[t.SessionID]) {
		s.lastExp[t.SessionID] = t.ExpiresAt
	}
	return nil
}

func (s *refStore) PruneSessions(_ context.Context, before time.Time) (tokens, sessions int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, sess := range s.sessions {
		if (sess.RevokedAt != nil && sess.RevokedAt.Before(before)) || s.lastExp[id].Before(before) {
			delete(s.sessions, id)
			delete(s.lastExp, id)
			sessions++
		}
	}
	for hash, t := range s.tokens {
		if _, ok := s.sessions[t.SessionID]; !ok || t.ExpiresAt.Before(before) {
			delete(s.tokens, hash)
			tokens++
		}
	}
	return tokens, sessions, nil
}
