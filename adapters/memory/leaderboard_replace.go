package memory

import (
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/adapters/memory/ranking"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// buildBoards makes boards from a snapshot. It touches nothing shared, so Replace runs
// it without the lock. The boards are bulk-built from sorted keys, O(n log n),
// rather than inserted one by one, and come out packed.
func buildBoards(snap *domain.BoardSnapshot, now time.Time) *boards {
	b := newBoards(len(snap.Members))
	for _, m := range snap.Members {
		b.setMember(m) // no instances yet: only records the member
	}

	listed := make(map[string]bool, len(snap.Instances))
	for _, bi := range snap.Instances {
		listed[bi.ID] = true
		if !instanceExpired(bi.Expires, now) {
			b.instance(bi)
		}
	}
	for id, scores := range snap.Scores {
		in := b.instances[id]
		if in == nil {
			if listed[id] {
				continue // expired
			}
			// Scores for an instance the snapshot does not list: keep them rather
			// than lose them, with no expiry since none was given.
			in = b.instance(domain.BoardInstance{ID: id})
		}
		b.fill(in, scores)
	}

	for _, c := range snap.Applied {
		b.applied.first(c.EntryID, c.At, now)
	}
	b.watermark = snap.Watermark
	return b
}

// fill records an instance's scores and builds its boards.
func (b *boards) fill(in *instance, scores []domain.BoardScore) {
	in.scores = make(map[uint32]score, len(scores))
	for _, sc := range scores {
		h := b.citizens.intern(sc.CitizenID)
		s := score{grams: sc.CO2eGrams, at: unixNano(sc.ReachedAt)}
		if old, ok := in.scores[h]; ok { // listed twice: sum, as credits would
			s.grams += old.grams
			s.at = max(s.at, old.at)
		}
		in.scores[h] = s
	}
	city := make([]ranking.Key, 0, len(in.scores))
	byDistrict := map[uint32][]ranking.Key{}
	for h, s := range in.scores {
		r := b.citizens.recs[h]
		if !r.known || r.hidden || s.grams <= 0 {
			continue
		}
		city = append(city, boardKey(h, s))
		if r.district != 0 {
			byDistrict[r.district] = append(byDistrict[r.district], boardKey(h, s))
		}
	}
	in.city = ranking.Build(city, b.citizens.compareIDs)
	for d, keys := range byDistrict {
		in.districts[d] = ranking.Build(keys, b.citizens.compareIDs)
	}
}
