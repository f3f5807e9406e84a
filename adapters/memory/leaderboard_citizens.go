package memory

import (
	"bytes"
	"hash/maphash"
)

// citizens gives every citizen the boards have heard of a handle, a dense uint32
// that boards and scores use in place of the ID, and keeps their ID and member
// record by it. Nothing in it holds a Go pointer per citizen: records sit in one
// slice, their strings in a textArena, and the index from ID to handle is an
// open-addressing table of integers, so a million citizens are a handful of
// objects to the garbage collector.
//
// Handles are never freed: a citizen stays known for the life of the boards
// (Replace starts a new table), as their scores do.
type citizens struct {
	recs []citizen // by handle
	// slots index recs by ID: linear probing over a power-of-two table, each slot
	// 32 bits of the ID's hash (its probe start, too) and the handle + 1 (0 is an
	// empty slot). Growing never rehashes a string.
	slots []uint64
	seed  maphash.Seed
	text  textArena
	// districtNames numbers the districts, 0 being none; members record the number.
	districtNames []string
	districtNums  map[string]uint32
}

type citizen struct {
	id       textRef
	nickname textRef
	version  int64
	district uint32 // in districtNames
	known    bool   // has a member record; without one the citizen is ranked nowhere
	hidden   bool
}

// Compact the arena when replaced nicknames take over half of it, and at least
// this much: a pass over every record, paid for by as many nickname changes.
const compactAfter = 1 << 20

func newCitizens(n int) citizens {
	c := citizens{
		recs:          make([]citizen, 0, n),
		seed:          maphash.MakeSeed(),
		districtNames: []string{""},
		districtNums:  map[string]uint32{"": 0},
	}
	c.grow(n)
	return c
}

// lookup returns the handle of id, if the boards have heard of them.
func (c *citizens) lookup(id string) (uint32, bool) {
	tag := c.tag(id)
	mask := uint32(len(c.slots) - 1)
	for i := tag & mask; ; i = (i + 1) & mask {
		s := c.slots[i]
		if s == 0 {
			return 0, false
		}
		if h := uint32(s) - 1; uint32(s>>32) == tag && c.text.equal(c.recs[h].id, id) {
			return h, true
		}
	}
}

// intern returns the handle of id, giving it one (as an unknown citizen) if new.
// It may move recs: callers take pointers into recs after it.
func (c *citizens) intern(id string) uint32 {
	if h, ok := c.lookup(id); ok {
		return h
	}
	if (len(c.recs)+1)*4 > len(c.slots)*3 { // keep the table at most 3/4 full
		c.grow(len(c.recs) + 1) // doubles it
	}
	h := uint32(len(c.recs))
	c.recs = append(c.recs, citizen{id: addText(&c.text, id)})
	c.place(c.tag(id), h)
	return h
}

func (c *citizens) tag(id string) uint32 {
	h := maphash.String(c.seed, id)
	return uint32(h>>32) ^ uint32(h)
}

func (c *citizens) place(tag, h uint32) {
	mask := uint32(len(c.slots) - 1)
	i := tag & mask
	for c.slots[i] != 0 {
		i = (i + 1) & mask
	}
	c.slots[i] = uint64(tag)<<32 | uint64(h+1)
}

// grow makes the index room for n citizens at most 3/4 full, moving every slot
// by its stored tag.
func (c *citizens) grow(n int) {
	size := 16
	for size*3 < n*4 {
		size *= 2
	}
	old := c.slots
	c.slots = make([]uint64, size)
	for _, s := range old {
		if s != 0 {
			c.place(uint32(s>>32), uint32(s)-1)
		}
	}
}

// compareIDs orders two citizens by ID: the last tie-break of every board.
func (c *citizens) compareIDs(a, b uint32) int {
	return bytes.Compare(c.text.bytes(c.recs[a].id), c.text.bytes(c.recs[b].id))
}

// setNickname records h's nickname, compacting the arena once replaced nicknames
// fill most of it.
func (c *citizens) setNickname(h uint32, nickname string) {
	r := &c.recs[h]
	if c.text.equal(r.nickname, nickname) {
		return
	}
	c.text.garbage += int(r.nickname.n)
	r.nickname = addText(&c.text, nickname)
	if c.text.garbage > compactAfter && 2*c.text.garbage > c.text.size {
		c.compact()
	}
}

func (c *citizens) compact() {
	old := c.text
	c.text = textArena{}
	for i := range c.recs {
		r := &c.recs[i]
		r.id = addText(&c.text, old.bytes(r.id))
		r.nickname = addText(&c.text, old.bytes(r.nickname))
	}
}

// district returns the number of the district called name, numbering it if new.
func (c *citizens) district(name string) uint32 {
	if n, ok := c.districtNums[name]; ok {
		return n
	}
	n := uint32(len(c.districtNames))
	c.districtNames = append(c.districtNames, name)
	c.districtNums[name] = n
	return n
}
