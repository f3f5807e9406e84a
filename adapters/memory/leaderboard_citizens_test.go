package memory

import (
	"fmt"
	"strings"
	"testing"
)

func TestCitizensFindEveryIDThroughGrowthAndCompaction(t *testing.T) {
	c := newCitizens(0)
	ids := make([]string, 30000)
	for i := range ids {
		ids[i] = fmt.Sprintf("citizen-%d", i*7919)
	}
	ids[123] = strings.Repeat("x", 3*arenaChunk) // longer than a chunk: a chunk of its own
	ids[124] = ""                                // odd, but a string like any other
	for i, id := range ids {
		if h := c.intern(id); h != uint32(i) {
			t.Fatalf("intern(%q) = %d, want %d", id, h, i)
		}
	}
	nick := func(round, i int) string { return fmt.Sprintf("n%d-%d", round, i) }
	// Enough nickname changes to compact the arena several times.
	for round := range 10 {
		for i := range ids {
			c.setNickname(uint32(i), nick(round, i))
		}
	}
	if c.text.garbage > compactAfter && 2*c.text.garbage > c.text.size {
		t.Fatalf("arena not compacted: %d garbage of %d bytes", c.text.garbage, c.text.size)
	}
	for i, id := range ids {
		h, ok := c.lookup(id)
		if !ok || h != uint32(i) {
			t.Fatalf("lookup(%.20q) = %d, %v; want %d", id, h, ok, i)
		}
		if got := string(c.text.bytes(c.recs[h].id)); got != id {
			t.Fatalf("ID of %d reads %.20q, want %.20q", h, got, id)
		}
		if got := string(c.text.bytes(c.recs[h].nickname)); got != nick(9, i) {
			t.Fatalf("nickname of %d reads %q, want %q", h, got, nick(9, i))
		}
		if c.recs[h].known {
			t.Fatalf("%d is known without a member record", h)
		}
	}
	if _, ok := c.lookup("citizen-1"); ok {
		t.Fatal("an ID never interned was found")
	}
	if n := len(c.slots); n*3 < len(ids)*4 || n > len(ids)*4 {
		t.Fatalf("%d slots for %d citizens", n, len(ids))
	}
	if c.compareIDs(0, 1) >= 0 || c.compareIDs(1, 0) <= 0 || c.compareIDs(2, 2) != 0 {
		t.Fatal("compareIDs does not follow the IDs' order")
	}
}

func TestDistrictsAreNumberedOnce(t *testing.T) {
	c := newCitizens(0)
	a, b := c.district("anji"), c.district("wuxing")
	if a == 0 || b == 0 || a == b || c.district("anji") != a || c.district("") != 0 {
		t.Fatalf("districts numbered %d, %d", a, b)
	}
}
