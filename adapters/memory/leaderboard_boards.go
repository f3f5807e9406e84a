package memory

import (
	"math"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/memory/ranking"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// boards is the whole state of a Leaderboard; Replace swaps in a new one.
type boards struct {
	citizens  citizens
	instances map[string]*instance
	applied   appliedEntries
	watermark time.Time
	// nextExpiry is the earliest Expires of any instance (zero when none expires),
	// so that sweeping costs one comparison until an instance is due.
	nextExpiry time.Time
}

// instance is one period instance: everyone's score in it, ranked or not, and the
// boards ranking the visible citizens with a positive score. Maps keyed and
// valued by integers, and trees of integers, hold no pointers for the garbage
// collector to trace.
type instance struct {
	expires   time.Time // zero for never
	scores    map[uint32]score
	city      *ranking.Tree
	districts map[uint32]*ranking.Tree // by district number; made on first use, dropped when emptied
}

type score struct {
	grams int64
	at    int64 // reached time, Unix nanoseconds (see unixNano)
}

func newBoards(members int) *boards {
	return &boards{
		citizens:  newCitizens(members),
		instances: map[string]*instance{},
		applied:   newAppliedEntries(),
	}
}

// newTree returns an empty board ordered the leaderboard way.
func (b *boards) newTree() *ranking.Tree { return ranking.New(b.citizens.compareIDs) }

// credit adds c, whose citizen is h, to each of its instances that is still live.
func (b *boards) credit(h uint32, c domain.BoardCredit, now time.Time) {
	r := b.citizens.recs[h]
	shown := r.known && !r.hidden
	at := unixNano(c.At)
	for _, bi := range c.Instances {
		if instanceExpired(bi.Expires, now) {
			continue // it would be swept before anyone could read it
		}
		in := b.instance(bi)
		old, had := in.scores[h]
		s := score{grams: old.grams + c.CO2eGrams, at: at}
		if had && old.at > at {
			s.at = old.at // reached time is the latest entry's, whatever the order they come in
		}
		in.scores[h] = s
		if shown {
			if had && old.grams > 0 {
				in.unrank(boardKey(h, old), r.district)
			}
			if s.grams > 0 {
				b.rank(in, boardKey(h, s), r.district)
			}
		}
	}
}

// setMember records m unless an older version than recorded, and moves the
// citizen's scores between the boards they now belong on.
func (b *boards) setMember(m domain.BoardMember) {
	h := b.citizens.intern(m.CitizenID)
	district := b.citizens.district(m.District)
	r := &b.citizens.recs[h]
	if r.known && m.Version < r.version {
		return
	}
	old := *r
	r.known, r.version, r.district, r.hidden = true, m.Version, district, m.Hidden
	b.citizens.setNickname(h, m.Nickname)

	wasShown, isShown := old.known && !old.hidden, !m.Hidden
	moveCity := wasShown != isShown
	leaveDistrict := wasShown && old.district != 0 && (!isShown || old.district != district)
	joinDistrict := isShown && district != 0 && (!wasShown || old.district != district)
	if !moveCity && !leaveDistrict && !joinDistrict {
		return // a new nickname, say: nothing moves
	}
	// Instances are few (a month of days, a few weeks and months, all time), so
	// looking the citizen up in each is cheap.
	for _, in := range b.instances {
		s, ok := in.scores[h]
		if !ok || s.grams <= 0 {
			continue
		}
		k := boardKey(h, s)
		switch {
		case moveCity && wasShown:
			in.city.Delete(k)
		case moveCity && isShown:
			in.city.Insert(k)
		}
		if leaveDistrict {
			in.leaveDistrict(k, old.district)
		}
		if joinDistrict {
			b.districtBoard(in, district).Insert(k)
		}
	}
}

// instance returns the instance bi names, made if new. Its expiry follows the
// latest credit's word on it.
func (b *boards) instance(bi domain.BoardInstance) *instance {
	in := b.instances[bi.ID]
	if in == nil {
		in = &instance{scores: map[uint32]score{}, city: b.newTree(), districts: map[uint32]*ranking.Tree{}}
		b.instances[bi.ID] = in
	}
	if !in.expires.Equal(bi.Expires) {
		in.expires = bi.Expires
		if !bi.Expires.IsZero() && (b.nextExpiry.IsZero() || bi.Expires.Before(b.nextExpiry)) {
			b.nextExpiry = bi.Expires
		}
	}
	return in
}

// live returns the instance named id, or nil when there is none or it expired
// (Query finds it before a writer sweeps it).
func (b *boards) live(id string, now time.Time) *instance {
	in := b.instances[id]
	if in == nil || instanceExpired(in.expires, now) {
		return nil
	}
	return in
}

// sweep drops the expired instances and dedup markers. Cheap when nothing is due.
func (b *boards) sweep(now time.Time) {
	b.applied.sweep(now)
	if b.nextExpiry.IsZero() || now.Before(b.nextExpiry) {
		return
	}
	b.nextExpiry = time.Time{}
	for id, in := range b.instances {
		switch {
		case in.expires.IsZero():
		case instanceExpired(in.expires, now):
			delete(b.instances, id)
		case b.nextExpiry.IsZero() || in.expires.Before(b.nextExpiry):
			b.nextExpiry = in.expires
		}
	}
}

func instanceExpired(expires, now time.Time) bool {
	return !expires.IsZero() && !now.Before(expires)
}

// rank puts a visible citizen's positive score on the city board and their
// district's.
func (b *boards) rank(in *instance, k ranking.Key, district uint32) {
	in.city.Insert(k)
	if district != 0 {
		b.districtBoard(in, district).Insert(k)
	}
}

func (in *instance) unrank(k ranking.Key, district uint32) {
	in.city.Delete(k)
	if district != 0 {
		in.leaveDistrict(k, district)
	}
}

// districtBoard returns the board of the district in the instance, made if none.
func (b *boards) districtBoard(in *instance, district uint32) *ranking.Tree {
	t := in.districts[district]
	if t == nil {
		t = b.newTree()
		in.districts[district] = t
	}
	return t
}

// leaveDistrict takes k off the district's board, and drops the board once empty
// so that boards of districts nobody is in any more take no memory.
func (in *instance) leaveDistrict(k ranking.Key, district uint32) {
	t := in.districts[district]
	if t == nil {
		return
	}
	t.Delete(k)
	if t.Len() == 0 {
		delete(in.districts, district)
	}
}

// board returns the board of the district called name ("" for city-wide), or nil
// when nobody is ranked on it.
func (b *boards) board(in *instance, name string) *ranking.Tree {
	if name == "" {
		return in.city
	}
	d, ok := b.citizens.districtNums[name]
	if !ok {
		return nil
	}
	return in.districts[d]
}

// boardKey is where citizen h with score s stands on a board.
func boardKey(h uint32, s score) ranking.Key {
	return ranking.Key{Score: s.grams, At: s.at, ID: h}
}

// Times outside what UnixNano can hold (the years 1678 to 2262), the zero time
// among them, are clamped to its ends, which keeps their order.
var (
	minNano = time.Unix(0, math.MinInt64)
	maxNano = time.Unix(0, math.MaxInt64)
)

// unixNano is t as a plain int64: 8 bytes a score instead of a time.Time's 24 (and
// its pointer), and the ranking compares integers.
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(minNano):
		return math.MinInt64
	case t.After(maxNano):
		return math.MaxInt64
	}
	return t.UnixNano()
}
