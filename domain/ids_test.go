package domain

import "testing"

func TestIDsMintedInOneMillisecondIncrease(t *testing.T) {
	now := Now()
	prev := NewID(now)
	for range 1000 {
		id := NewID(now)
		if id <= prev {
			t.Fatalf("%s minted after %s in the same millisecond", id, prev)
		}
		prev = id
	}
}
