package memory

import (
	"bytes"
	"context"
	"time"
)

type value struct {
	data    []byte
	expires time.Time
}

// Get returns a copy, so callers cannot change the stored value through it.
func (s *SharedState) Get(_ context.Context, key string) ([]byte, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	v, ok := s.values[key]
	if !ok {
		return nil, false, nil
	}
	if expired(v.expires, s.now()) {
		delete(s.values, key)
		return nil, false, nil
	}
	return bytes.Clone(v.data), true, nil
}

func (s *SharedState) Set(_ context.Context, key string, data []byte, ttl time.Duration) error {
	if err := checkTTL("set", ttl); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.values[key] = value{data: clone(data), expires: s.now().Add(ttl)}
	return nil
}

func (s *SharedState) SetIfAbsent(_ context.Context, key string, data []byte, ttl time.Duration) (bool, error) {
	if err := checkTTL("set if absent", ttl); err != nil {
		return false, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if v, ok := s.values[key]; ok && !expired(v.expires, now) {
		return false, nil
	}
	s.values[key] = value{data: clone(data), expires: now.Add(ttl)}
	return true, nil
}

func (s *SharedState) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.values, key)
	return nil
}

// clone copies data and turns nil into an empty slice, because a stored empty value
// must read back as present (Redis stores it as ""), not as Get's "absent" nil.
func clone(data []byte) []byte {
	return append([]byte{}, data...)
}
