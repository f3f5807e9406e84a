package leaderboardtest

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/oklog/ulid/v2"

	"github.com/huzhou-lvdaitong/carbon-account/domain"
)

// The service tests run domain.LeaderboardService on the adapter's boards with
// the small fakes below for everything else: a store of citizens and ledger
// entries, a lock, a clock and a logger.

// fakeStore is a domain.CitizenStore and domain.CarbonLedger in a map.
type fakeStore struct {
	mu       sync.Mutex
	citizens map[string]domain.Citizen
	entries  map[string]domain.LedgerEntry
	// beforeScanCitizens, when set, is called (without the lock held) at the
	// start of every ScanCitizens: tests use it to hold a rebuild in the middle.
	beforeScanCitizens func()
}

var (
	_ domain.CitizenStore = (*fakeStore)(nil)
	_ domain.CarbonLedger = (*fakeStore)(nil)
)

func newFakeStore() *fakeStore {
	return &fakeStore{citizens: map[string]domain.Citizen{}, entries: map[string]domain.LedgerEntry{}}
}

func (s *fakeStore) FindOrCreateCitizen(_ context.Context, draft domain.Citizen) (domain.Citizen, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.citizens {
		if c.Identity == draft.Identity {
			return c, false, nil
		}
	}
	s.citizens[draft.ID] = draft
	return draft, true, nil
}

func (s *fakeStore) GetCitizen(_ context.Context, id string) (domain.Citizen, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.citizens[id]
	if !ok {
		return domain.Citizen{}, domain.ErrNotFound
	}
	return c, nil
}

func (s *fakeStore) SaveCitizenProfile(_ context.Context, c domain.Citizen) (domain.Citizen, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old, ok := s.citizens[c.ID]
	switch {
	case !ok:
		return domain.Citizen{}, domain.ErrNotFound
	case old.Version != c.Version:
		return domain.Citizen{}, domain.ErrConflict
	}
	c.Balance, c.CO2eGramsTotal, c.PointsEarnedTotal = old.Balance, old.CO2eGramsTotal, old.PointsEarnedTotal
	c.Version++
	s.citizens[c.ID] = c
	return c, nil
}

func (s *fakeStore) ScanCarbonEntries(_ context.Context, afterID string, limit int) ([]domain.LedgerEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.LedgerEntry
	for _, id := range slices.Sorted(maps.Keys(s.entries)) {
		if e := s.entries[id]; id > afterID && e.CO2eGrams != 0 && len(out) < limit {
			out = append(out, e)
		}
	}
	return out, nil
}

func (s *fakeStore) ScanCitizens(_ context.Context, afterID string, limit int) ([]domain.Citizen, error) {
	if s.beforeScanCitizens != nil {
		s.beforeScanCitizens()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []domain.Citizen
	for _, id := range slices.Sorted(maps.Keys(s.citizens)) {
		if id > afterID && len(out) < limit {
			out = append(out, s.citizens[id])
		}
	}
	return out, nil
}

func (s *fakeStore) put(c domain.Citizen) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.citizens[c.ID] = c
}

func (s *fakeStore) add(e domain.LedgerEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.entries[e.ID] = e
}

// snapshotOf returns every citizen and carbon entry, in ID order.
func (s *fakeStore) snapshotOf() ([]domain.Citizen, []domain.LedgerEntry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var cs []domain.Citizen
	for _, id := range slices.Sorted(maps.Keys(s.citizens)) {
		cs = append(cs, s.citizens[id])
	}
	var es []domain.LedgerEntry
	for _, id := range slices.Sorted(maps.Keys(s.entries)) {
		if e := s.entries[id]; e.CO2eGrams != 0 {
			es = append(es, e)
		}
	}
	return cs, es
}

// fakeLocker is a domain.Locker whose leases never expire (no test outlives one).
type fakeLocker struct {
	mu   sync.Mutex
	held map[string]*fakeLock
}

type fakeLock struct {
	l   *fakeLocker
	key string
}

func (l *fakeLocker) TryLock(_ context.Context, key string, ttl time.Duration) (domain.Lock, bool, error) {
	if ttl <= 0 {
		return nil, false, errors.New("fakeLocker: ttl must be positive")
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.held == nil {
		l.held = map[string]*fakeLock{}
	}
	if l.held[key] != nil {
		return nil, false, nil
	}
	lock := &fakeLock{l, key}
	l.held[key] = lock
	return lock, true, nil
}

func (k *fakeLock) Release(context.Context) error {
	k.l.mu.Lock()
	defer k.l.mu.Unlock()
	if k.l.held[k.key] == k {
		delete(k.l.held, k.key)
	}
	return nil
}

// clock is a settable clock at millisecond precision.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t.UTC().Truncate(time.Millisecond)
}

func (c *clock) Advance(d time.Duration) { c.Set(c.Now().Add(d)) }

// failOnError is a slog.Handler that fails the test on every error the service
// logs: ActionCredited swallows the boards' errors (catch-up retries), and the
// suite must not.
type failOnError struct{ t *testing.T }

func (h failOnError) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelError }
func (h failOnError) WithAttrs([]slog.Attr) slog.Handler           { return h }
func (h failOnError) WithGroup(string) slog.Handler                { return h }
func (h failOnError) Handle(_ context.Context, r slog.Record) error {
	var attrs []string
	r.Attrs(func(a slog.Attr) bool {
		attrs = append(attrs, a.String())
		return true
	})
	h.t.Errorf("the service logged an error: %s %s", r.Message, strings.Join(attrs, " "))
	return nil
}

// world is one service test: the service on one board, its store, lock and clock.
type world struct {
	t      *testing.T
	rng    *rand.Rand
	ids    *rand.ChaCha8
	clock  *clock
	store  *fakeStore
	locker *fakeLocker
	svc    *domain.LeaderboardService
	lb     domain.Leaderboard
}

// newWorld returns the service on lb with the clock at start and the default
// retention, or more when start's periods would otherwise already be expired by
// the adapter's wall clock.
func newWorld(t *testing.T, lb domain.Leaderboard, start time.Time) *world {
	var s1, s2 [32]byte
	n := seed(t)
	binary.LittleEndian.PutUint64(s1[:], n)
	binary.LittleEndian.PutUint64(s2[:], n)
	s2[31] = 1
	w := &world{
		t: t, rng: rand.New(rand.NewChaCha8(s1)), ids: rand.NewChaCha8(s2), clock: &clock{},
		store: newFakeStore(), locker: &fakeLocker{},
	}
	w.clock.Set(start)
	w.lb = lb
	w.svc = w.serviceOn(lb, retentionFor(start))
	return w
}

// retentionFor is a retention long enough that periods from a week before start
// are not yet expired on the wall clock.
func retentionFor(start time.Time) time.Duration {
	return max(domain.DefaultBoardRetention, time.Since(start)+7*24*time.Hour+2*time.Hour)
}

// serviceOn is the world's service on other boards (same store, lock and clock).
func (w *world) serviceOn(lb domain.Leaderboard, retention time.Duration) *domain.LeaderboardService {
	return &domain.LeaderboardService{
		Boards: lb, Citizens: w.store, Ledger: w.store, Locker: w.locker, Now: w.clock.Now,
		Retention: retention, Overlap: domain.DefaultBoardOverlap, Log: slog.New(failOnError{w.t}),
	}
}

// id is a new ULID stamped at.
func (w *world) id(at time.Time) string {
	return ulid.MustNew(ulid.Timestamp(at), w.ids).String()
}

// citizen stores a new citizen, version 0 as a sign-in creates them.
func (w *world) citizen(nickname, district string) domain.Citizen {
	now := w.clock.Now()
	c := domain.Citizen{
		ID: w.id(now), Identity: domain.Identity{Provider: domain.ProviderDev, Subject: "+8613800000000-" + nickname},
		Phone: "+8613800138000", Nickname: nickname, District: district, CreatedAt: now, UpdatedAt: now,
	}
	w.store.put(c)
	return c
}

// update changes c in the store as a profile save does (version + 1) and, when
// tell is set, tells the service as CitizenService does.
func (w *world) update(c *domain.Citizen, change func(*domain.Citizen), tell bool) {
	w.t.Helper()
	change(c)
	c.UpdatedAt = w.clock.Now()
	c.Version++
	w.store.put(*c)
	if tell {
		if err := w.svc.MemberChanged(ctx(w.t), *c); err != nil {
			w.t.Fatalf("MemberChanged: %v", err)
		}
	}
}

// act records a credited action of c at `at` in the ledger, as the store does
// (action, ledger entry and their times share one instant), and returns it; it
// does not tell the boards.
func (w *world) act(citizenID string, grams int64, at time.Time) domain.Action {
	at = at.UTC().Truncate(time.Millisecond)
	a := domain.Action{
		ID: w.id(at), CitizenID: citizenID, TypeCode: "travel.metro", RuleVersion: 1,
		OccurredAt: at, RecordedAt: at, Day: domain.DayOf(at), Status: domain.ActionCredited,
		CO2eGrams: grams, Points: grams / 10, LedgerEntryID: w.id(at),
	}
	w.store.add(domain.LedgerEntry{
		ID: a.LedgerEntryID, CitizenID: citizenID, Kind: domain.LedgerEarn, Points: a.Points, CO2eGrams: grams,
		CauseType: "action", CauseID: a.ID, CreatedAt: at,
	})
	return a
}

// reverse records the reversal of a at `at` in the ledger.
func (w *world) reverse(a domain.Action, at time.Time) domain.LedgerEntry {
	at = at.UTC().Truncate(time.Millisecond)
	e := domain.LedgerEntry{
		ID: w.id(at), CitizenID: a.CitizenID, Kind: domain.LedgerReverse, Points: -a.Points, CO2eGrams: -a.CO2eGrams,
		CauseType: "action", CauseID: a.ID, CreatedAt: at,
	}
	w.store.add(e)
	return e
}

func (w *world) catchUp(what string) domain.CatchUpReport {
	w.t.Helper()
	rep, err := w.svc.CatchUp(ctx(w.t))
	if err != nil {
		w.t.Fatalf("%s: CatchUp: %v", what, err)
	}
	return rep
}

func (w *world) rebuild(what string, svc *domain.LeaderboardService) domain.RebuildReport {
	w.t.Helper()
	rep, err := svc.Rebuild(ctx(w.t))
	if err != nil {
		w.t.Fatalf("%s: Rebuild: %v", what, err)
	}
	return rep
}

// expected is the boards as the ledger and citizens say they should be, by the
// rules of the README and the port, computed without the service: each entry
// counts in the Shanghai day, ISO week and month of its time (a reversal of an
// action: the action's time, read from its ULID) and all time; every citizen is
// a member, hidden when opted out or erased, named by nickname or DisplayName.
func (w *world) expected() *model {
	cs, es := w.store.snapshotOf()
	m := newModel()
	for _, c := range cs {
		m.setMembers([]domain.BoardMember{{
			CitizenID: c.ID, Nickname: domain.DisplayName(c), District: c.District,
			Hidden: c.LeaderboardOptOut || c.ErasedAt != nil, Version: c.Version,
		}})
	}
	for _, e := range es {
		m.apply([]domain.BoardCredit{{EntryID: e.ID, CitizenID: e.CitizenID, CO2eGrams: e.CO2eGrams, At: e.CreatedAt, Instances: periodsOf(countsAt(e))}})
	}
	return m
}

// countsAt is when an entry's CO2e counts for the periods.
func countsAt(e domain.LedgerEntry) time.Time {
	if e.Kind == domain.LedgerReverse && e.CauseType == "action" {
		if id, err := ulid.ParseStrict(e.CauseID); err == nil {
			return ulid.Time(id.Time())
		}
	}
	return e.CreatedAt
}

// periodsOf is the instances a time counts in (for the model: no expiry).
func periodsOf(t time.Time) []domain.BoardInstance {
	out := make([]domain.BoardInstance, len(domain.Periods))
	for i, p := range domain.Periods {
		out[i] = domain.BoardInstance{ID: domain.SpanOf(p, t).ID}
	}
	return out
}

// districtCodes is every district code.
func districtCodes() []string {
	out := make([]string, len(domain.Districts))
	for i, d := range domain.Districts {
		out[i] = d.Code
	}
	return out
}

// checkBoards compares every board of lb the model knows (all districts) and
// every given citizen's standing on each instance's city and district boards
// with the model.
func (w *world) checkBoards(what string, lb domain.Leaderboard, m *model, citizens []string) {
	w.t.Helper()
	failures := 0
	check := func(q domain.BoardQuery) {
		w.t.Helper()
		got, err := lb.Query(ctx(w.t), q)
		if err != nil {
			w.t.Fatalf("%s: Query(%+v): %v", what, q, err)
		}
		if d := diffPages(m.query(q), got); d != "" {
			w.t.Errorf("%s: board %s, standing of %q:\n%s", what, fmtBoard(q.Board), q.CitizenID, d)
			if failures++; failures >= 5 {
				w.t.FailNow()
			}
		}
	}
	boards := m.boards(districtCodes())
	if len(boards) == 0 {
		w.t.Fatalf("%s: the expected boards are empty; the test credits nothing", what)
	}
	for _, b := range boards {
		check(domain.BoardQuery{Board: b, Limit: topLimit})
	}
	for _, b := range boards {
		for _, id := range citizens {
			if b.District == "" || b.District == m.members[id].District {
				check(domain.BoardQuery{Board: b, Limit: 3, CitizenID: id, Neighbours: 2})
			}
		}
	}
}

// ids lists the citizens' IDs.
func idsOf(cs []domain.Citizen, extra ...string) []string {
	out := slices.Clone(extra)
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return slices.SortedFunc(slices.Values(out), cmp.Compare)
}
