package storetest

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// The property test drives ActionService.Record with random sequences and checks
// every answer and every total against a model written here from the rules in
// DESIGN.md §2 and domain/credit.go's comment, without calling the domain's code.

// SeedEnv, when set to an integer, fixes the property test's random seed so that a
// failure can be replayed.
const SeedEnv = "STORETEST_SEED"

// utc8 is Shanghai's offset (no daylight saving since 1991), kept apart from
// domain.Shanghai on purpose.
var utc8 = time.FixedZone("UTC+8", 8*60*60)

// propNow is "now" for the property test: 10:00 on 2025-03-20 in Shanghai.
var propNow = time.Date(2025, 3, 20, 10, 0, 0, 0, utc8)

// propSwitch is when travel.metro's second version takes effect.
var propSwitch = propNow.Add(-2 * day)

const propDailyPoints = 200

type modelVersion struct {
	version                   int
	from                      time.Time
	mgPerUnit, perKg, perUnit int64
	decimals                  int
	maxQ, dailyQ              int64 // milli-units; dailyQ 0 = no cap
	dailyPoints               int64 // 0 = no cap
	required, review          bool
	sources                   []string // empty = any
}

type modelType struct {
	code, unit string
	versions   []modelVersion // ascending
}

var propTypes = []modelType{
	{"travel.metro", "trip", []modelVersion{
		{version: 1, from: longAgo, mgPerUnit: 250_000, perKg: 100, maxQ: 5000, dailyQ: 6000, required: true, sources: []string{"transit_card", "metro_qr"}},
		{version: 2, from: propSwitch, mgPerUnit: 300_000, perKg: 90, maxQ: 5000, dailyQ: 5000, required: true, sources: []string{"transit_card", "metro_qr"}},
	}},
	{"travel.bike", "km", []modelVersion{
		{version: 1, from: longAgo, mgPerUnit: 46_800, perKg: 37, decimals: 2, maxQ: 30_000, dailyPoints: 40},
	}},
	{"waste.kitchen", "kg", []modelVersion{
		{version: 1, from: longAgo, perUnit: 7, decimals: 1, maxQ: 10_000, dailyPoints: 30, required: true, sources: []string{"smart_bin"}},
	}},
	{"waste.recyclables", "kg", []modelVersion{
		{version: 1, from: longAgo, mgPerUnit: 1_230_000, perKg: 13, perUnit: 3, decimals: 3, maxQ: 20_000, dailyQ: 15_000, required: true, sources: []string{"smart_bin"}},
	}},
	{"consumption.second_hand", "item", []modelVersion{
		{version: 1, from: longAgo, mgPerUnit: 1_000_000, perKg: 10, maxQ: 3000, review: true},
	}},
}

func (v modelVersion) coefficients() domain.Coefficients {
	return domain.Coefficients{
		Enabled: true, CO2eMgPerUnit: v.mgPerUnit, PointsPerKg: v.perKg, PointsPerUnit: v.perUnit,
		QuantityDecimals: v.decimals, MaxQuantity: domain.Quantity(v.maxQ), DailyMaxQuantity: domain.Quantity(v.dailyQ),
		DailyMaxPoints: v.dailyPoints, Evidence: domain.EvidenceRule{Required: v.required, Sources: v.sources, Review: v.review},
		Methodology: "storetest property", Confidence: "C",
	}
}

func (mt modelType) at(t time.Time) modelVersion {
	for i := len(mt.versions) - 1; i >= 0; i-- {
		if !mt.versions[i].from.After(t) {
			return mt.versions[i]
		}
	}
	panic("no version in force")
}

// outcome is what the model expects Record to answer.
type outcome struct {
	err                                    string // the error code, "" on success
	id                                     string // set once recorded
	status                                 domain.ActionStatus
	credited                               int64
	co2e, points                           int64
	capLimit                               domain.CapLimit
	capRequested, capCredited, capWithheld int64
	version                                int
	day                                    string
	balanceAfter                           int64
	replayed                               bool
}

type modelAccount struct {
	balance, co2e, earned int64
	entries, actions      int
}

type model struct {
	accounts map[string]*modelAccount
	typeUse  map[[3]string][2]int64 // (citizen, day, type) -> credited milli-units, points
	dayUse   map[[2]string]int64    // (citizen, day) -> points
	evidence map[string]bool        // lower(source) NUL reference
	keys     map[[2]string]struct { // (citizen, key) -> what was recorded under it
		hash string
		out  outcome
	}
}

type propRequest struct {
	citizen, key, typ string
	q                 int64
	quantity          string
	occurred          time.Time
	source, reference string // both "" for none
}

// hash is what makes two requests "the same body": the literal quantity, the
// instant to the millisecond and the evidence as sent.
func (r propRequest) hash() string {
	return fmt.Sprintf("%s|%s|%d|%s|%s", r.typ, r.quantity, r.occurred.UTC().Truncate(time.Millisecond).UnixMilli(), r.source, r.reference)
}

// step applies one request to the model and returns the expected answer.
func (m *model) step(r propRequest, mt modelType) outcome {
	if prior, ok := m.keys[[2]string{r.citizen, r.key}]; ok {
		if prior.hash != r.hash() {
			return outcome{err: "idempotency_key_reused"}
		}
		out := prior.out
		out.replayed = true
		return out
	}
	evidenceKey := ""
	if r.source != "" {
		evidenceKey = strings.ToLower(r.source) + "\x00" + r.reference
		if m.evidence[evidenceKey] {
			return outcome{err: "evidence_already_used"}
		}
	}
	occurred := r.occurred.UTC().Truncate(time.Millisecond)
	v := mt.at(occurred)
	day := occurred.In(utc8).Format("2006-01-02")
	out := outcome{version: v.version, day: day}
	tk, dk := [3]string{r.citizen, day, r.typ}, [2]string{r.citizen, day}
	used := m.typeUse[tk]

	if v.review {
		out.status = domain.ActionPendingReview
	} else {
		out.status = domain.ActionCredited
		q := r.q
		if v.dailyQ > 0 {
			room := v.dailyQ - used[0]
			if room <= 0 {
				return outcome{err: "daily_cap_reached"}
			}
			if q > room {
				q, out.capLimit = room, domain.CapTypeDailyQuantity
			}
		}
		out.credited = q
		out.co2e = q * v.mgPerUnit / 1_000_000
		points := out.co2e*v.perKg/1000 + q*v.perUnit/1000
		room, roomLimit := int64(math.MaxInt64), domain.CapLimit("")
		if v.dailyPoints > 0 {
			room, roomLimit = max(0, v.dailyPoints-used[1]), domain.CapTypeDailyPoints
		}
		if left := max(0, propDailyPoints-m.dayUse[dk]); left < room {
			room, roomLimit = left, domain.CapDailyPoints
		}
		if points > room {
			if room == 0 && out.co2e == 0 {
				return outcome{err: "daily_cap_reached"}
			}
			out.capWithheld = points - room
			points = room
			if out.capLimit == "" {
				out.capLimit = roomLimit
			}
		}
		out.points = points
		if out.capLimit != "" {
			out.capRequested, out.capCredited = r.q, q
		}
	}

	acc := m.accounts[r.citizen]
	acc.balance += out.points
	acc.co2e += out.co2e
	acc.earned += out.points
	acc.actions++
	if out.points != 0 || out.co2e != 0 {
		acc.entries++
	}
	out.balanceAfter = acc.balance
	m.typeUse[tk] = [2]int64{used[0] + out.credited, used[1] + out.points}
	m.dayUse[dk] += out.points
	if evidenceKey != "" {
		m.evidence[evidenceKey] = true
	}
	return out
}

// outcomeOf reads Record's answer in the model's terms.
func outcomeOf(r domain.RecordedAction, err error) outcome {
	if err != nil {
		code := domain.ErrorCodeOf(err)
		if code == "" {
			code = "non-domain error: " + err.Error()
		}
		return outcome{err: code}
	}
	out := outcome{
		id: r.ID, status: r.Status, credited: int64(r.CreditedQuantity), co2e: r.CO2eGrams, points: r.Points,
		version: r.RuleVersion, day: r.Day, balanceAfter: r.BalanceAfter, replayed: r.Replayed,
	}
	if r.Cap != nil {
		out.capLimit, out.capRequested, out.capCredited, out.capWithheld = r.Cap.Limit, int64(r.Cap.RequestedQuantity), int64(r.Cap.CreditedQuantity), r.Cap.PointsWithheld
	}
	return out
}

func formatMilli(q int64, decimals int) string {
	if decimals == 0 {
		return strconv.FormatInt(q/1000, 10)
	}
	step := int64(math.Pow10(3 - decimals))
	return fmt.Sprintf("%d.%0*d", q/1000, decimals, q%1000/step)
}

func propSeed(t *testing.T) uint64 {
	if s := os.Getenv(SeedEnv); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("%s=%q: %v", SeedEnv, s, err)
		}
		return seed
	}
	return uint64(time.Now().UnixNano())
}

func runActionProperty(t *testing.T, open func(t *testing.T) domain.Store) {
	t.Run("random sequences credit what an independent model says, and reconcile", func(t *testing.T) {
		t.Parallel()
		seed := propSeed(t)
		t.Logf("seed %d (replay with %s=%d)", seed, SeedEnv, seed)
		rng := rand.New(rand.NewPCG(seed, 0x5eed))
		steps := 200
		if testing.Short() {
			steps = 60
		}

		var seeds []seedType
		for _, mt := range propTypes {
			seeds = append(seeds, seedType{
				domain.ActivityType{Code: mt.code, Category: domain.CategoryGreenTravel, Unit: mt.unit, Name: mt.code, CreatedAt: longAgo, CreatedBy: "seed"},
				mt.versions[0].coefficients(),
			})
		}
		e := newSvcEnv(t, open, seeds, 0)
		e.clock = newStepClock(propNow)
		e.cat.Now = e.clock.Now
		for _, mt := range propTypes {
			for _, v := range mt.versions[1:] {
				e.addVersion(t, mt.code, v.version, v.from, v.coefficients())
			}
		}
		e.svc = e.service(propDailyPoints)

		m := &model{
			accounts: map[string]*modelAccount{},
			typeUse:  map[[3]string][2]int64{},
			dayUse:   map[[2]string]int64{},
			evidence: map[string]bool{},
			keys: map[[2]string]struct {
				hash string
				out  outcome
			}{},
		}
		citizens := make([]string, 3)
		for i := range citizens {
			citizens[i] = e.citizen(t).ID
			m.accounts[citizens[i]] = &modelAccount{}
		}
		typeByCode := map[string]modelType{}
		for _, mt := range propTypes {
			typeByCode[mt.code] = mt
		}

		var sent []propRequest // every request so far
		type evidence struct{ source, reference string }
		var evidenceSent []evidence
		occurredAt := func() time.Time {
			offset := []int{0, 0, 0, 1, 1, 2, 3, 5}[rng.IntN(8)]
			midnight := time.Date(propNow.Year(), propNow.Month(), propNow.Day()-offset, 0, 0, 0, 0, utc8)
			var when time.Time
			switch rng.IntN(8) {
			case 0:
				when = midnight
			case 1:
				when = midnight.Add(time.Millisecond)
			case 2:
				when = midnight.Add(day - time.Millisecond)
			case 3:
				when = midnight.Add(day - 500*time.Microsecond) // truncates to 23:59:59.999
			case 4:
				when = propSwitch.Add(time.Duration(rng.IntN(3)-1) * time.Millisecond)
			default:
				when = midnight.Add(time.Duration(rng.Int64N(int64(day))))
			}
			if when.After(propNow) {
				when = propNow.Add(-time.Duration(rng.Int64N(int64(10 * time.Hour))))
			}
			return when
		}
		fresh := func() propRequest {
			mt := propTypes[rng.IntN(len(propTypes))]
			occurred := occurredAt()
			v := mt.at(occurred.UTC().Truncate(time.Millisecond))
			unit := int64(math.Pow10(3 - v.decimals))
			maxSteps := v.maxQ / unit
			if rng.IntN(3) > 0 {
				maxSteps = max(1, maxSteps/4) // small amounts more often, so more actions share a day
			}
			q := unit * (1 + rng.Int64N(maxSteps))
			r := propRequest{typ: mt.code, q: q, quantity: formatMilli(q, v.decimals), occurred: occurred}
			if v.required || rng.IntN(2) == 0 {
				var candidates []evidence
				for _, ev := range evidenceSent {
					if len(v.sources) == 0 || contains(v.sources, ev.source) {
						candidates = append(candidates, ev)
					}
				}
				if len(candidates) > 0 && rng.IntN(8) == 0 {
					ev := candidates[rng.IntN(len(candidates))]
					r.source, r.reference = ev.source, ev.reference
					if len(v.sources) == 0 && rng.IntN(2) == 0 {
						r.source = strings.ToUpper(r.source) // the same evidence: sources compare without case
					}
				} else {
					sources := v.sources
					if len(sources) == 0 {
						sources = []string{"transit_card", "Transit_Card", "bike_app"}
					}
					r.source, r.reference = sources[rng.IntN(len(sources))], fmt.Sprintf("ref-%d", len(sent))
				}
			}
			return r
		}

		stats := map[string]int{}
		defer func() { t.Logf("outcomes: %v", stats) }()
		for i := range steps {
			citizen := citizens[rng.IntN(len(citizens))]
			var r propRequest
			var mine []propRequest
			for _, p := range sent {
				if p.citizen == citizen {
					mine = append(mine, p)
				}
			}
			switch roll := rng.IntN(20); {
			case roll < 2 && len(mine) > 0: // the same request again
				r = mine[rng.IntN(len(mine))]
			case roll < 3 && len(mine) > 0: // an old key with a new request
				r = fresh()
				r.key = mine[rng.IntN(len(mine))].key
			case roll < 4 && len(sent) > 0: // someone else's key
				r = fresh()
				r.key = sent[rng.IntN(len(sent))].key
			default:
				r = fresh()
				r.key = fmt.Sprintf("k-%d", i)
			}
			r.citizen = citizen
			sent = append(sent, r)
			if r.source != "" {
				evidenceSent = append(evidenceSent, evidence{r.source, r.reference})
			}

			in := domain.RecordActionInput{CitizenID: r.citizen, IdempotencyKey: r.key, TypeCode: r.typ, Quantity: r.quantity, OccurredAt: r.occurred}
			if r.source != "" {
				in.Evidence = &domain.Evidence{Source: r.source, Reference: r.reference}
			}
			res, err := e.svc.Record(t.Context(), in)
			got := outcomeOf(res, err)
			want := m.step(r, typeByCode[r.typ])
			if want.err == "" && got.err == "" {
				if want.replayed {
					if got.id != want.id {
						t.Fatalf("step %d (seed %d): replay of %+v answered action %s, want %s", i, seed, r, got.id, want.id)
					}
				} else {
					// Remember the id for replays of this request.
					want.id = got.id
					k := [2]string{r.citizen, r.key}
					m.keys[k] = struct {
						hash string
						out  outcome
					}{r.hash(), want}
				}
			}
			switch {
			case want.err != "":
				stats[want.err]++
			case want.replayed:
				stats["replayed"]++
			case want.capLimit != "":
				stats["capped by "+string(want.capLimit)]++
			default:
				stats[string(want.status)]++
			}
			if got != want {
				t.Fatalf("step %d (seed %d): request %+v (%s)\n got  %+v\n want %+v", i, seed, r, r.occurred.Format(time.RFC3339Nano), got, want)
			}
		}

		for _, id := range citizens {
			acc := m.accounts[id]
			wantTotals(t, e.store, id, acc.balance, acc.co2e, acc.earned)
			var points, co2e int64
			entries := 0
			before := ""
			for {
				page, err := e.store.ListLedgerEntries(t.Context(), id, before, 50)
				mustNoErr(t, "ListLedgerEntries", err)
				for _, en := range page {
					points += en.Points
					co2e += en.CO2eGrams
					entries++
				}
				if len(page) < 50 {
					break
				}
				before = page[len(page)-1].ID
			}
			if points != acc.balance || co2e != acc.co2e || entries != acc.entries {
				t.Errorf("citizen %s ledger: %d entries, %d points, %d g; model %d, %d, %d", id, entries, points, co2e, acc.entries, acc.balance, acc.co2e)
			}
			if n := countAll(t, e.store, id); n != acc.actions {
				t.Errorf("citizen %s: %d actions listed, model recorded %d", id, n, acc.actions)
			}
		}
		rep, err := (&domain.Reconciler{Actions: e.store, Now: e.clock.Now, Grace: time.Minute}).Run(t.Context())
		mustNoErr(t, "Reconciler.Run", err)
		if rep.CitizensChecked != len(citizens) || len(rep.Mismatches) != 0 || rep.CompletedRecordings != 0 || rep.RemovedRecordings != 0 {
			t.Errorf("Reconciler.Run = %+v; want %d citizens checked and nothing else", rep, len(citizens))
		}
	})
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
