package sharedstatetest

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

func runKeyValue(t *testing.T, open func(t *testing.T) domain.SharedState) {
	rule(t, "Get returns what Set stored", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "k")
		want := []byte("hello \x00 world")
		noErr(t, s.Set(ctx(t), k, want, longTTL), "Set")
		mustGet(t, s, k, want)
	})

	rule(t, "Get of an absent key returns nil, false, nil", open, func(t *testing.T, s domain.SharedState) {
		v, found, err := s.Get(ctx(t), key(t, "absent"))
		noErr(t, err, "Get")
		if found || v != nil {
			t.Fatalf("Get(absent) = %q, %v; want nil, false", v, found)
		}
	})

	rule(t, "an empty value is present, not absent", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "empty")
		noErr(t, s.Set(ctx(t), k, []byte{}, longTTL), "Set")
		// Non-nil too, so callers may test v != nil as well as found.
		if v := mustGet(t, s, k, []byte{}); v == nil {
			t.Fatal("Get of an empty value returned nil, which reads as absent")
		}
	})

	rule(t, "Set overwrites an existing value", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "k")
		noErr(t, s.Set(ctx(t), k, []byte("one"), longTTL), "Set")
		noErr(t, s.Set(ctx(t), k, []byte("two"), longTTL), "Set")
		mustGet(t, s, k, []byte("two"))
	})

	rule(t, "stored values do not alias the caller's slices", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "k")
		in := []byte("abc")
		noErr(t, s.Set(ctx(t), k, in, longTTL), "Set")
		in[0] = 'X'
		out := mustGet(t, s, k, []byte("abc"))
		out[0] = 'Y'
		mustGet(t, s, k, []byte("abc"))
	})

	rule(t, "Delete removes a key", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "k")
		noErr(t, s.Set(ctx(t), k, []byte("v"), longTTL), "Set")
		noErr(t, s.Delete(ctx(t), k), "Delete")
		mustBeAbsent(t, s, k)
	})

	rule(t, "Delete of an absent key is not an error", open, func(t *testing.T, s domain.SharedState) {
		noErr(t, s.Delete(ctx(t), key(t, "absent")), "Delete(absent)")
	})

	rule(t, "SetIfAbsent stores only the first time", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "k")
		mustSetIfAbsent(t, s, k, "first", true)
		mustSetIfAbsent(t, s, k, "second", false)
		mustGet(t, s, k, []byte("first"))
		noErr(t, s.Delete(ctx(t), k), "Delete")
		mustSetIfAbsent(t, s, k, "third", true)
		mustGet(t, s, k, []byte("third"))
	})

	rule(t, "SetIfAbsent does not store over a value written by Set", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "k")
		noErr(t, s.Set(ctx(t), k, []byte("set"), longTTL), "Set")
		mustSetIfAbsent(t, s, k, "other", false)
		mustGet(t, s, k, []byte("set"))
	})

	rule(t, "exactly one of 20 racing SetIfAbsent stores, and its value wins", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "race")
		const n = 20
		stored := make([]bool, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range n {
			wg.Go(func() {
				<-start
				stored[i], errs[i] = s.SetIfAbsent(ctx(t), k, []byte(fmt.Sprint(i)), longTTL)
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i := range n {
			noErr(t, errs[i], "SetIfAbsent")
			if stored[i] {
				if winner >= 0 {
					t.Fatalf("both goroutine %d and %d stored", winner, i)
				}
				winner = i
			}
		}
		if winner < 0 {
			t.Fatal("no goroutine stored")
		}
		mustGet(t, s, k, []byte(fmt.Sprint(winner)))
	})

	rule(t, "non-positive ttl is rejected", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "k")
		for _, ttl := range []time.Duration{0, -time.Second} {
			if err := s.Set(ctx(t), k, []byte("v"), ttl); err == nil {
				t.Errorf("Set with ttl %v: no error; a value must never live forever", ttl)
			}
			if _, err := s.SetIfAbsent(ctx(t), k, []byte("v"), ttl); err == nil {
				t.Errorf("SetIfAbsent with ttl %v: no error", ttl)
			}
		}
		mustBeAbsent(t, s, k)
	})

	rule(t, "a value expires after its ttl, not before", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "k")
		const ttl = 150 * time.Millisecond
		start := time.Now()
		noErr(t, s.Set(ctx(t), k, []byte("v"), ttl), "Set")
		_, found, err := s.Get(ctx(t), k)
		noErr(t, err, "Get")
		if !found && time.Since(start) < ttl-earlyTolerance {
			t.Fatal("value gone right after Set, long before its ttl")
		}
		gone := eventually(t, start, expiryTimeout, "expiry", func() bool { return absent(t, s, k) })
		if gone < ttl-earlyTolerance {
			t.Fatalf("value expired after %v, before its ttl %v", gone, ttl)
		}
	})

	rule(t, "SetIfAbsent stores again once the old value expired", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "k")
		start := time.Now()
		noErr(t, s.Set(ctx(t), k, []byte("old"), 50*time.Millisecond), "Set")
		eventually(t, start, expiryTimeout, "SetIfAbsent succeeding after expiry", func() bool {
			ok, err := s.SetIfAbsent(ctx(t), k, []byte("new"), longTTL)
			noErr(t, err, "SetIfAbsent")
			return ok
		})
		mustGet(t, s, k, []byte("new"))
	})

	rule(t, "Set replaces the ttl of an existing value", open, func(t *testing.T, s domain.SharedState) {
		k := key(t, "k")
		noErr(t, s.Set(ctx(t), k, []byte("short"), 50*time.Millisecond), "Set")
		noErr(t, s.Set(ctx(t), k, []byte("long"), longTTL), "Set")
		time.Sleep(300 * time.Millisecond) // well past the first ttl
		mustGet(t, s, k, []byte("long"))
	})
}

func mustGet(t *testing.T, s domain.SharedState, k string, want []byte) []byte {
	t.Helper()
	v, found, err := s.Get(ctx(t), k)
	noErr(t, err, "Get")
	if !found {
		t.Fatalf("Get(%q): absent, want %q", k, want)
	}
	if !bytes.Equal(v, want) {
		t.Fatalf("Get(%q) = %q, want %q", k, v, want)
	}
	return v
}

func mustBeAbsent(t *testing.T, s domain.SharedState, k string) {
	t.Helper()
	if !absent(t, s, k) {
		t.Fatalf("Get(%q): present, want absent", k)
	}
}

func absent(t *testing.T, s domain.SharedState, k string) bool {
	t.Helper()
	v, found, err := s.Get(ctx(t), k)
	noErr(t, err, "Get")
	if !found && v != nil {
		t.Fatalf("Get(%q) returned %q with found=false; want nil", k, v)
	}
	return !found
}

func mustSetIfAbsent(t *testing.T, s domain.SharedState, k, v string, want bool) {
	t.Helper()
	ok, err := s.SetIfAbsent(ctx(t), k, []byte(v), longTTL)
	noErr(t, err, "SetIfAbsent")
	if ok != want {
		t.Fatalf("SetIfAbsent(%q, %q) = %v, want %v", k, v, ok, want)
	}
}
