package boards

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/huzhou-lvdaitong/carbon-account/api/token"
	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// Scores of the loaded board are multiples of scoreUnit grams below
// scoreSteps × scoreUnit, and reached times whole hours of the last 40 days:
// about 200 members share each score, and about one in ten shares both score
// and reached time with another, so every tie-break (score, reached time,
// citizen ID) decides many ranks.
const (
	scoreSteps = 5000
	scoreUnit  = 10
	boardDays  = 40
)

// realCitizen is a citizen in the store who is also a member of the board.
type realCitizen struct {
	c      domain.Citizen
	bearer string // "Bearer <access token>"
}

// population is the board's members: first the real citizens, then synthetic
// ones whose IDs are ULIDs computed from their index, so the benchmark holds no
// million strings of its own and the process's memory after loading is the
// adapter's.
type population struct {
	n      int
	real   []realCitizen
	seed   uint64
	idTime uint64 // ULID time of the synthetic IDs
	nonce  [2]byte
	// sample are members with minted access tokens (http-read).
	sample  []int
	bearers []string
}

func newPopulation(n int, real []realCitizen, seed uint64) *population {
	p := &population{n: n, real: real, seed: seed, idTime: ulid.Timestamp(time.Now().AddDate(-1, 0, 0))}
	binary.BigEndian.PutUint16(p.nonce[:], uint16(seed))
	return p
}

// id is the citizen ID of member i.
func (p *population) id(i int) string {
	if i < len(p.real) {
		return p.real[i].c.ID
	}
	var u ulid.ULID
	_ = u.SetTime(p.idTime)
	u[6], u[7] = p.nonce[0], p.nonce[1]
	binary.BigEndian.PutUint64(u[8:], uint64(i))
	return u.String()
}

// snapshot is the whole board: one instance, "all", every member visible with a
// positive score. The same seed gives the same board.
func (p *population) snapshot(now time.Time) *domain.BoardSnapshot {
	rng := rand.New(rand.NewPCG(p.seed, 1))
	members := make([]domain.BoardMember, p.n)
	scores := make([]domain.BoardScore, p.n)
	hour := now.Truncate(time.Hour)
	for i := range p.n {
		id := p.id(i)
		if i < len(p.real) {
			members[i] = memberOf(p.real[i].c)
		} else {
			members[i] = domain.BoardMember{CitizenID: id, Nickname: domain.DisplayName(domain.Citizen{ID: id}),
				District: randomDistrict(rng), Version: 1}
		}
		scores[i] = domain.BoardScore{CitizenID: id, CO2eGrams: int64(1+rng.IntN(scoreSteps)) * scoreUnit,
			ReachedAt: hour.Add(-time.Duration(rng.IntN(boardDays*24)) * time.Hour)}
	}
	return &domain.BoardSnapshot{
		Members: members, Instances: []domain.BoardInstance{{ID: string(domain.PeriodAll)}},
		Scores: map[string][]domain.BoardScore{string(domain.PeriodAll): scores}, Watermark: now,
	}
}

// randomDistrict is one of the districts, or none (one in six).
func randomDistrict(rng *rand.Rand) string {
	i := rng.IntN(len(domain.Districts) + 1)
	if i == len(domain.Districts) {
		return ""
	}
	return domain.Districts[i].Code
}

// memberOf is what the service puts on the boards for c (domain.memberOf).
func memberOf(c domain.Citizen) domain.BoardMember {
	return domain.BoardMember{CitizenID: c.ID, Nickname: domain.DisplayName(c), District: c.District,
		Hidden: c.LeaderboardOptOut || c.Erased(), Version: c.Version}
}

// createCitizens finds or creates the real citizens through the store, with
// dev identities +86137xxxxxxxx and random districts, in parallel.
func (r *run) createCitizens(ctx context.Context) error {
	n := r.opt.Citizens
	r.real = make([]realCitizen, n)
	var next atomic.Int64
	errs := make(chan error, 8)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(r.opt.Seed, uint64(100+w)))
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				now := domain.Now()
				phone := fmt.Sprintf("+86137%08d", i)
				c, _, err := r.sys.Store.FindOrCreateCitizen(ctx, domain.Citizen{
					ID: domain.NewID(now), Identity: domain.Identity{Provider: domain.ProviderDev, Subject: phone},
					Phone: phone, Nickname: "绿友BOARD", District: randomDistrict(rng), CreatedAt: now, UpdatedAt: now,
				})
				if err != nil {
					errs <- fmt.Errorf("boards: create citizen %d: %w", i, err)
					return
				}
				if c.Erased() || c.LeaderboardOptOut {
					errs <- fmt.Errorf("boards: citizen %s (%s) is erased or opted out; use a fresh data dir", c.ID, phone)
					return
				}
				r.real[i].c = c
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

func (r *run) mint(id string) (string, error) {
	tok, err := r.sys.Tokens.Mint(token.Principal{SubjectID: id, Role: domain.RoleCitizen})
	if err != nil {
		return "", fmt.Errorf("boards: mint token: %w", err)
	}
	return "Bearer " + tok, nil
}

// mintReal gives every real citizen a fresh access token.
func (r *run) mintReal() error {
	for i := range r.real {
		b, err := r.mint(r.real[i].c.ID)
		if err != nil {
			return err
		}
		r.real[i].bearer = b
	}
	return nil
}

// mintSample picks TokenSample random members (the same each time) and gives
// each a fresh access token.
func (r *run) mintSample() error {
	p := r.pop
	if p.sample == nil {
		rng := rand.New(rand.NewPCG(r.opt.Seed, 2))
		p.sample = rng.Perm(p.n)[:r.opt.TokenSample]
	}
	p.bearers = make([]string, len(p.sample))
	for k, i := range p.sample {
		b, err := r.mint(p.id(i))
		if err != nil {
			return err
		}
		p.bearers[k] = b
	}
	return nil
}
