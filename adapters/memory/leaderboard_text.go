package memory

// textArena keeps the boards' strings (citizen IDs and nicknames) packed in large
// byte chunks. A million Go strings would be a million small objects, and every
// record pointing at one a pointer the garbage collector traces on every cycle;
// chunks are a few hundred objects with no pointers inside.
type textArena struct {
	chunks  [][]byte
	size    int // bytes written
	garbage int // bytes of texts no record uses any more (replaced nicknames)
}

// textRef is a string in a textArena.
type textRef struct{ chunk, off, n uint32 }

// arenaChunk is the size of a chunk: small enough that a half-filled last one
// wastes little, large enough that chunks are few.
const arenaChunk = 256 << 10

// addText copies s into the arena. A string longer than a chunk gets a chunk of
// its own.
func addText[S string | []byte](a *textArena, s S) textRef {
	if len(s) == 0 {
		return textRef{}
	}
	last := len(a.chunks) - 1
	if last < 0 || len(a.chunks[last])+len(s) > cap(a.chunks[last]) {
		a.chunks = append(a.chunks, make([]byte, 0, max(arenaChunk, len(s))))
		last++
	}
	c := a.chunks[last]
	t := textRef{chunk: uint32(last), off: uint32(len(c)), n: uint32(len(s))}
	a.chunks[last] = append(c, s...)
	a.size += len(s)
	return t
}

// bytes returns t's bytes, which stay valid until the arena is compacted; callers
// copy what they hand out.
func (a *textArena) bytes(t textRef) []byte {
	if t.n == 0 {
		return nil
	}
	return a.chunks[t.chunk][t.off : t.off+t.n]
}

func (a *textArena) equal(t textRef, s string) bool {
	return string(a.bytes(t)) == s // compiled to a comparison, without a copy
}
